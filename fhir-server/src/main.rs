//! The `fhir-server` binary: everything lives in the library; `main` only hands over to the CLI.

fn main() -> std::process::ExitCode {
    fhir_server::cli::main()
}
