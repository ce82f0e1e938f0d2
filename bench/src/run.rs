//! One benchmark run: every workload against every target, one target after the other, each on
//! a new store.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::results::{Machine, Results, Settings, TargetResults};
use crate::synthea;
use crate::target::{Launch, Running, Target};
use crate::workloads::{crud, import, read, search, seed};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub targets: Vec<Target>,
    pub launch: Launch,
    pub synthea_dir: PathBuf,
    /// At most this many patient bundles (all when `None`).
    pub synthea_patients: Option<usize>,
    pub import_clients: Vec<usize>,
    pub read_concurrency: Vec<usize>,
    pub crud_concurrency: Vec<usize>,
    pub mix_concurrency: usize,
    pub seconds_per_load: f64,
    pub seeded_patients: usize,
    pub query_runs: usize,
    pub series_runs: usize,
    pub everything_patients: usize,
    pub smoke: bool,
    /// Progress lines go to stderr unless quiet.
    pub quiet: bool,
}

impl RunConfig {
    /// The small, fast subset CI runs: it checks that every workload works, not the speed.
    pub fn smoke(targets: Vec<Target>, launch: Launch, synthea_dir: PathBuf) -> RunConfig {
        RunConfig {
            targets,
            launch,
            synthea_dir,
            synthea_patients: Some(2),
            import_clients: vec![2],
            read_concurrency: vec![1, 4],
            crud_concurrency: vec![2],
            mix_concurrency: 2,
            seconds_per_load: 0.5,
            seeded_patients: 600,
            query_runs: 2,
            series_runs: 1,
            everything_patients: 2,
            smoke: true,
            quiet: true,
        }
    }
}

/// Runs everything and answers the results (a target that cannot start is recorded with its
/// failure, and the run goes on with the next one).
pub async fn run(config: &RunConfig) -> Result<Results, String> {
    let bundles = Arc::new(synthea::load(&config.synthea_dir, config.synthea_patients)?);
    let settings = Settings {
        smoke: config.smoke,
        import_clients: config.import_clients.clone(),
        read_concurrency: config.read_concurrency.clone(),
        crud_concurrency: config.crud_concurrency.clone(),
        seconds_per_load: config.seconds_per_load,
        seeded_patients: config.seeded_patients,
        query_runs: config.query_runs,
        series_runs: config.series_runs,
        everything_patients: config.everything_patients,
        ours_sqlite_synchronous: config.launch.ours_sqlite_synchronous.clone(),
        synthea_resources: bundles.iter().map(|b| b.resources).sum(),
        synthea_bundles: bundles.len(),
    };
    let machine = machine(config).await;
    let mut targets = Vec::new();
    for &target in &config.targets {
        targets.push(run_target(config, target, bundles.clone()).await);
    }
    Ok(Results {
        machine,
        settings,
        targets,
    })
}

async fn run_target(
    config: &RunConfig,
    target: Target,
    bundles: Arc<Vec<synthea::Bundle>>,
) -> TargetResults {
    let say = |what: &str| {
        if !config.quiet {
            eprintln!("[{}] {} {what}", now(), target.name());
        }
    };
    let mut r = TargetResults {
        target,
        name: target.name(),
        started: now(),
        load_average: load_average(),
        idle_rss_empty_mb: 0.0,
        idle_rss_loaded_mb: 0.0,
        import: Vec::new(),
        seed: None,
        read: Vec::new(),
        vread: Vec::new(),
        crud: Vec::new(),
        queries: Vec::new(),
        series: Vec::new(),
        search_mix: None,
        failures: Vec::new(),
    };
    // Import, each number of clients on a new store; the last store is kept for the rest.
    let mut kept: Option<(Running, import::Imported)> = None;
    for (k, &clients) in config.import_clients.iter().enumerate() {
        let running = match Running::start(target, &config.launch).await {
            Ok(running) => running,
            Err(e) => {
                r.failures.push(format!("start: {e}"));
                return r;
            }
        };
        if k == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            r.idle_rss_empty_mb = running.rss_mb();
        }
        say(&format!("import, {clients} clients"));
        let (run, imported) = import::run(&running, bundles.clone(), clients).await;
        if run.failed_entries > 0 {
            r.failures.push(format!(
                "import with {clients} clients: {} of {} entries failed",
                run.failed_entries, run.resources
            ));
        }
        say(&format!("  {:.0} resources/s", run.resources_per_second));
        r.import.push(run);
        kept = Some((running, imported));
    }
    let Some((running, imported)) = kept else {
        return r;
    };

    // The patient-list data.
    let since = now();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    if config.seeded_patients > 0 {
        say(&format!("seed {} patients", config.seeded_patients));
        let run = seed::run(&running, config.seeded_patients).await;
        if run.failed > 0 {
            r.failures.push(format!(
                "seed: {} of {} Patients failed",
                run.failed, run.patients
            ));
        }
        r.seed = Some(run);
    }

    // Read and vread: a fixed sample of at most 2,000 imported resources of every type.
    let all: Vec<String> = imported.all().cloned().collect();
    let step = (all.len() / 2000).max(1);
    let sample: Vec<String> = all.iter().step_by(step).cloned().collect();
    say("read");
    r.read = read::run(
        &running,
        &sample,
        false,
        &config.read_concurrency,
        config.seconds_per_load,
    )
    .await;
    say("vread");
    r.vread = read::run(
        &running,
        &sample,
        true,
        &config.read_concurrency,
        config.seconds_per_load,
    )
    .await;
    for run in r.read.iter().chain(&r.vread) {
        if run.stats.errors > 0 || run.stats.ok == 0 {
            r.failures.push(format!(
                "read/vread at {}: {} errors, {} ok ({})",
                run.concurrency,
                run.stats.errors,
                run.stats.ok,
                run.stats.first_error.clone().unwrap_or_default()
            ));
        }
    }

    // Searches.
    let patients: Vec<String> = imported
        .of_type("Patient")
        .filter_map(|l| l.split('/').nth(1).map(str::to_owned))
        .collect();
    let first_patient = bundles
        .iter()
        .zip(&imported.locations)
        .filter(|(b, _)| b.transaction)
        .find_map(|(b, locations)| {
            let identifier = b.patient_identifier.clone()?;
            let id = locations
                .iter()
                .find(|l| l.starts_with("Patient/"))?
                .split('/')
                .nth(1)?
                .to_owned();
            Some((id, identifier))
        });
    let data = search::QueryData {
        seeded: config.seeded_patients,
        patient: first_patient,
        since: since.clone(),
    };
    let queries = search::single_queries(&data);
    say("single queries");
    r.queries = search::run_single(&running, &queries, config.query_runs).await;
    say("$everything and history");
    let everything: Vec<String> = patients
        .iter()
        .take(config.everything_patients)
        .cloned()
        .collect();
    r.queries.extend(
        search::run_everything_and_history(&running, &everything, &since, config.query_runs).await,
    );
    for q in &r.queries {
        if q.stats.ok == 0 {
            r.failures.push(format!(
                "query {}: {}",
                q.name,
                q.stats.first_error.clone().unwrap_or_default()
            ));
        }
    }
    say("search series");
    r.series = search::run_series(&running, &search::series_queries(), config.series_runs).await;
    for s in &r.series {
        if let Some(e) = &s.error {
            r.failures.push(format!("series {}: {e}", s.name));
        }
    }
    say("search mix");
    r.search_mix = Some(
        search::run_mix(
            &running,
            &queries,
            config.mix_concurrency,
            config.seconds_per_load,
        )
        .await,
    );

    // CRUD last: it adds and removes resources the searches above would otherwise count.
    say("CRUD mix");
    r.crud = crud::run(&running, &config.crud_concurrency, config.seconds_per_load).await;
    for run in &r.crud {
        if run.all.errors > 0 || run.all.ok == 0 {
            r.failures.push(format!(
                "CRUD at {}: {} failed iterations, {} requests ok ({})",
                run.concurrency,
                run.all.errors,
                run.all.ok,
                run.all.first_error.clone().unwrap_or_default()
            ));
        }
    }

    tokio::time::sleep(Duration::from_secs(if config.smoke { 1 } else { 10 })).await;
    r.idle_rss_loaded_mb = running.rss_mb();
    say("done");
    r
}

/// The time now, UTC, as a FHIR instant (seconds).
pub fn now() -> String {
    command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
}

fn command_line(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

async fn machine(config: &RunConfig) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let memory_gb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1_048_576.0);
    let hfs_version = if config
        .targets
        .iter()
        .any(|t| t.server == crate::target::Server::Hfs)
    {
        command_line(&config.launch.hfs_bin.to_string_lossy(), &["--version"])
    } else {
        String::new()
    };
    let postgres_version = match &config.launch.postgres_url {
        Some(url) => postgres_version(url).await.unwrap_or_default(),
        None => String::new(),
    };
    Machine {
        date: now(),
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory_gb,
        kernel: command_line("uname", &["-sr"]),
        load_average: load_average(),
        our_commit: command_line("git", &["rev-parse", "--short", "HEAD"]),
        hfs_version,
        postgres_version,
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn postgres_version(url: &str) -> Result<String, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::query_scalar::<_, String>("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())
}
