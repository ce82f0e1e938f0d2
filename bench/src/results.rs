//! What a run measured, as written to (and read back from) the results JSON file. The report is
//! made from this file alone, so a run can be re-reported without re-running it.

use serde::{Deserialize, Serialize};

use crate::load::Stats;
use crate::target::Target;

/// One whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub machine: Machine,
    /// What was run and with which settings.
    pub settings: Settings,
    pub targets: Vec<TargetResults>,
}

/// The machine the figures were taken on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub date: String,
    pub cpu: String,
    pub cores: usize,
    pub memory_gb: f64,
    pub kernel: String,
    /// The load average when the run started (another busy process skews every figure).
    pub load_average: String,
    pub our_commit: String,
    pub hfs_version: String,
    pub postgres_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub smoke: bool,
    pub import_clients: Vec<usize>,
    pub read_concurrency: Vec<usize>,
    pub crud_concurrency: Vec<usize>,
    pub seconds_per_load: f64,
    pub seeded_patients: usize,
    pub query_runs: usize,
    pub series_runs: usize,
    pub everything_patients: usize,
    pub ours_sqlite_synchronous: String,
    pub synthea_resources: usize,
    pub synthea_bundles: usize,
}

/// Everything measured on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetResults {
    pub target: Target,
    pub name: String,
    /// When this target's workloads started (UTC) and the load average then.
    #[serde(default)]
    pub started: String,
    #[serde(default)]
    pub load_average: String,
    /// Resident memory right after start on an empty store, MB.
    pub idle_rss_empty_mb: f64,
    /// Resident memory after every workload, 10 s after the last request, MB.
    pub idle_rss_loaded_mb: f64,
    pub import: Vec<ImportRun>,
    pub seed: Option<SeedRun>,
    pub read: Vec<ConcurrencyRun>,
    pub vread: Vec<ConcurrencyRun>,
    pub crud: Vec<CrudRun>,
    /// Single queries: patient-list, include/revinclude, `$everything`, history, others.
    pub queries: Vec<QueryRun>,
    pub series: Vec<SeriesRun>,
    pub search_mix: Option<ConcurrencyRun>,
    /// What went wrong in a workload (the workload's figures are then missing or partial).
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRun {
    pub clients: usize,
    pub resources: usize,
    pub seconds: f64,
    pub resources_per_second: f64,
    pub bundle_p50_ms: f64,
    pub bundle_p99_ms: f64,
    /// Entries answered with a non-2xx status, or bundles that failed whole (counted by entry).
    pub failed_entries: usize,
    pub server_cpu_seconds: f64,
    pub peak_rss_mb: f64,
    pub store_mb: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRun {
    pub patients: usize,
    pub seconds: f64,
    pub resources_per_second: f64,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConcurrencyRun {
    pub concurrency: usize,
    pub stats: Stats,
    pub server_cpu_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrudRun {
    pub concurrency: usize,
    /// Every request of the mix together.
    pub all: Stats,
    pub create: Stats,
    pub read: Stats,
    pub vread: Stats,
    pub update: Stats,
    pub delete: Stats,
}

/// One query measured by sequential repetition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRun {
    /// The group: `patient-list`, `search`, `include`, `everything`, `history`.
    pub group: String,
    /// The query's name, the same for every target (values differ only in server ids).
    pub name: String,
    /// The request sent to this target.
    pub request: String,
    /// The Blaze median budget, for the patient-list queries.
    pub budget_ms: Option<f64>,
    /// The result count: `Bundle.total` when given, else the matches (or entries, for
    /// `$everything` and history) of every page.
    pub count: Option<u64>,
    /// Included entries (`_include`/`_revinclude`) over every page.
    pub included: Option<u64>,
    pub stats: Stats,
}

/// One query of the search series: `_summary=count` first, then every page with `_count=1000`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesRun {
    pub name: String,
    pub request: String,
    pub total: Option<u64>,
    pub fetched: u64,
    pub count_ms_mean: f64,
    pub count_ms_sd: f64,
    pub download_s_mean: f64,
    pub download_s_sd: f64,
    pub resources_per_second: f64,
    pub error: Option<String>,
}
