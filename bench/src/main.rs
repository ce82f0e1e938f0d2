//! `fhir-bench run` measures; `fhir-bench report` writes BENCHMARKS.md from the results.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use fhir_bench::run::{RunConfig, run};
use fhir_bench::target::{Launch, Target};

#[derive(Parser)]
#[command(about = "Side-by-side FHIR server benchmark (ours and Helios HFS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs every workload against every target and writes the results JSON.
    Run(RunArgs),
    /// Writes BENCHMARKS.md and the plots from a results JSON.
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Comma-separated targets: ours-sqlite, ours-postgres, hfs-sqlite, hfs-postgres.
    #[arg(
        long,
        default_value = "ours-sqlite,ours-postgres,hfs-sqlite,hfs-postgres"
    )]
    targets: String,
    /// Our release server binary.
    #[arg(long, default_value = "target/release/fhir-server")]
    ours_bin: PathBuf,
    /// The `hfs` binary (cargo install helios-hfs --locked --features postgres).
    #[arg(long, default_value = "target/hfs/bin/hfs")]
    hfs_bin: PathBuf,
    /// A directory holding `search-parameters-r4.json` (HFS's `--data-dir`).
    #[arg(long, default_value = "target/hfs/data")]
    hfs_data_dir: PathBuf,
    /// A PostgreSQL server URL whose user may create databases (needed by postgres targets).
    #[arg(long, env = "FHIR_BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// Blaze's Synthea bundles (*.json.bz2).
    #[arg(long, default_value = "../shared/data/synthea-blaze")]
    synthea_dir: PathBuf,
    /// SQLite `synchronous` for our server; `normal` is what HFS runs.
    #[arg(long, default_value = "normal")]
    sqlite_synchronous: String,
    /// Seconds per closed-loop load (read, vread, CRUD, search mix, at each concurrency).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Generated Patients for the patient-list queries.
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// Measured runs per single query.
    #[arg(long, default_value_t = 30)]
    query_runs: usize,
    /// Measured runs per series query (after one warm-up).
    #[arg(long, default_value_t = 3)]
    series_runs: usize,
    /// Concurrent import clients, comma-separated (each count into a new store).
    #[arg(long, default_value = "1,4,8")]
    import_clients: String,
    /// Read/vread concurrencies, comma-separated.
    #[arg(long, default_value = "1,16,64")]
    read_concurrency: String,
    /// CRUD mix concurrencies, comma-separated.
    #[arg(long, default_value = "16,64")]
    crud_concurrency: String,
    /// The tiny, fast subset CI runs (checks the harness, not the speed).
    #[arg(long)]
    smoke: bool,
    /// Where to write the results.
    #[arg(long, default_value = "bench/results/latest.json")]
    out: PathBuf,
    /// Keep the other targets of an existing results file (re-run some targets only; each
    /// target's start time and load average stay in the report).
    #[arg(long)]
    keep_others: bool,
}

#[derive(clap::Args)]
struct ReportArgs {
    #[arg(long, default_value = "bench/results/latest.json")]
    results: PathBuf,
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    #[arg(long, default_value = "bench/plots")]
    plots: PathBuf,
    /// Hand-written analysis appended to the report (result-count differences).
    #[arg(long, default_value = "bench/notes.md")]
    notes: PathBuf,
}

fn list(text: &str) -> Result<Vec<usize>, String> {
    text.split(',')
        .map(|v| v.trim().parse().map_err(|_| format!("not a number: {v:?}")))
        .collect()
}

fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Run(args) => run_command(args),
        Command::Report(args) => report_command(&args),
    };
    if let Err(e) = outcome {
        eprintln!("fhir-bench: {e}");
        std::process::exit(1);
    }
}

fn run_command(args: RunArgs) -> Result<(), String> {
    let targets = args
        .targets
        .split(',')
        .map(|t| Target::parse(t.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    // HFS runs in its store's directory: every path must be absolute.
    let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
    let launch = Launch {
        ours_bin: absolute(args.ours_bin),
        hfs_bin: absolute(args.hfs_bin),
        hfs_data_dir: absolute(args.hfs_data_dir),
        postgres_url: args.postgres_url,
        ours_sqlite_synchronous: args.sqlite_synchronous,
    };
    let config = if args.smoke {
        RunConfig {
            quiet: false,
            ..RunConfig::smoke(targets, launch, args.synthea_dir)
        }
    } else {
        RunConfig {
            targets,
            launch,
            synthea_dir: args.synthea_dir,
            synthea_patients: None,
            import_clients: list(&args.import_clients)?,
            read_concurrency: list(&args.read_concurrency)?,
            crud_concurrency: list(&args.crud_concurrency)?,
            mix_concurrency: 16,
            seconds_per_load: args.seconds,
            seeded_patients: args.patients,
            query_runs: args.query_runs,
            series_runs: args.series_runs,
            everything_patients: 100,
            smoke: false,
            quiet: false,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = runtime.block_on(run(&config))?;
    if args.keep_others
        && let Ok(text) = std::fs::read_to_string(&args.out)
    {
        let old: fhir_bench::results::Results =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.out.display()))?;
        if results.machine.hfs_version.is_empty() {
            results.machine.hfs_version = old.machine.hfs_version;
        }
        if results.machine.postgres_version.is_empty() {
            results.machine.postgres_version = old.machine.postgres_version;
        }
        let mut merged: Vec<_> = old
            .targets
            .into_iter()
            .filter(|t| !results.targets.iter().any(|n| n.name == t.name))
            .collect();
        merged.append(&mut results.targets);
        // Report order: ours before HFS, SQLite before PostgreSQL.
        merged.sort_by_key(|t| {
            (
                t.target.server != fhir_bench::target::Server::Ours,
                t.target.backend != fhir_bench::target::Backend::Sqlite,
            )
        });
        results.targets = merged;
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, text).map_err(|e| format!("{}: {e}", args.out.display()))?;
    eprintln!("fhir-bench: results in {}", args.out.display());
    Ok(())
}

fn report_command(args: &ReportArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.results)
        .map_err(|e| format!("{}: {e}", args.results.display()))?;
    let results =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", args.results.display()))?;
    let notes = std::fs::read_to_string(&args.notes).ok();
    fhir_bench::report::write(&results, &args.out, &args.plots, notes.as_deref())?;
    eprintln!(
        "fhir-bench: wrote {} and {}",
        args.out.display(),
        args.plots.display()
    );
    Ok(())
}
