//! The command line: `serve` (the default), `tenant create|list`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "fhir-server", version, about = "A FHIR R4 server")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve,
    /// Rebuild the search index from the database (the server must not be running on the same
    /// index directory).
    Reindex,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        action: TenantAction,
    },
}

#[derive(Debug, Subcommand)]
enum TenantAction {
    /// Create a tenant, served at /t/{name}/fhir.
    Create {
        /// Lower-case letters, digits and '-', at most 64 characters.
        name: String,
    },
    /// List the tenants.
    List,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(cli.config)
                .await
                .map_err(|e| e.to_string())?;
            app.run_until_stopped().await.map_err(|e| e.to_string())
        }
        Command::Reindex => {
            let store = crate::startup::open_store(&cli.config)
                .await
                .map_err(|e| e.to_string())?;
            let location = cli.config.index_location();
            if let fhir_core::index::IndexLocation::Directory(dir) = &location
                && dir.exists()
            {
                std::fs::remove_dir_all(dir)
                    .map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
            }
            let started = std::time::Instant::now();
            let index = fhir_core::index::SearchIndex::open(location, store.clone())
                .await
                .map_err(|e| e.to_string());
            store.close().await;
            let index = index?;
            println!(
                "search index rebuilt up to change {} in {:.1} s ({} bytes on disk)",
                index.visible_seq(),
                started.elapsed().as_secs_f64(),
                index.size_on_disk()
            );
            Ok(())
        }
        Command::Tenant { action } => {
            let store = crate::startup::open_store(&cli.config)
                .await
                .map_err(|e| e.to_string())?;
            let result = match action {
                TenantAction::Create { name } => {
                    if !crate::tenant::is_valid_name(&name) {
                        return Err(format!(
                            "invalid tenant name '{name}': use a-z, 0-9 and '-', at most 64 characters"
                        ));
                    }
                    store
                        .create_tenant(&name)
                        .await
                        .map(|()| println!("created tenant {name}"))
                }
                TenantAction::List => store.list_tenants().await.map(|tenants| {
                    for tenant in tenants {
                        println!("{tenant}");
                    }
                }),
            };
            store.close().await;
            result.map_err(|e| e.to_string())
        }
    }
}
