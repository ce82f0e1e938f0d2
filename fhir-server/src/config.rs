//! Server configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use fhir_core::store::sqlite::Synchronous;

/// Settings of `fhir-server serve` (and of the commands that open the store).
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(
        long,
        global = true,
        env = "FHIR_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,
    /// Directory for the embedded database (and later the search index).
    #[arg(long, global = true, env = "FHIR_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `sqlite:PATH` or `postgres://…`; default: a SQLite file in the data directory.
    #[arg(long, global = true, env = "FHIR_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Public base URL used in absolute URLs (`https://fhir.example.org`); default: taken from
    /// the request's Host header.
    #[arg(long, global = true, env = "FHIR_BASE_URL")]
    pub base_url: Option<String>,
    /// Directory of the search index (derived from the database, rebuilt when missing);
    /// `memory` keeps it in memory and rebuilds it at every start. Default: `<data-dir>/index`.
    #[arg(long, global = true, env = "FHIR_INDEX_DIR")]
    pub index_dir: Option<PathBuf>,
    /// Page size of searches without `_count`.
    #[arg(
        long,
        global = true,
        env = "FHIR_SEARCH_DEFAULT_COUNT",
        default_value_t = 50
    )]
    pub search_default_count: usize,
    /// Largest page size of searches; a larger `_count` is reduced to it.
    #[arg(
        long,
        global = true,
        env = "FHIR_SEARCH_MAX_COUNT",
        default_value_t = 1000
    )]
    pub search_max_count: usize,
    /// Largest accepted request body, in bytes (checked before parsing).
    #[arg(long, global = true, env = "FHIR_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most entries of a batch or transaction Bundle (more is refused with 413 before any entry
    /// runs).
    #[arg(
        long,
        global = true,
        env = "FHIR_BUNDLE_MAX_ENTRIES",
        default_value_t = 10_000
    )]
    pub bundle_max_entries: usize,
    /// `on` (the default): every FHIR request needs a bearer token from the built-in SMART
    /// authorization server. `off`: open to anyone, for local experiments only.
    #[arg(long, global = true, env = "FHIR_AUTH", default_value = "on", value_parser = ["on", "off"])]
    pub auth: String,
    /// SQLite's `synchronous` setting: `full` (the default) syncs every commit before it is
    /// acknowledged; `normal` syncs the WAL at checkpoints only (an acknowledged write may be
    /// lost on power loss, not on a crash of the process). Ignored on PostgreSQL.
    #[arg(
        long,
        global = true,
        env = "FHIR_SQLITE_SYNCHRONOUS",
        default_value = "full",
        value_parser = parse_synchronous
    )]
    pub sqlite_synchronous: Synchronous,
}

fn parse_synchronous(text: &str) -> Result<Synchronous, String> {
    text.parse()
}

impl Config {
    /// The database URL to open: the explicit one, or `sqlite:<data-dir>/fhir.db`.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", self.data_dir.join("fhir.db").display()),
        }
    }

    /// A configuration for tests and embedding: port 0 on loopback, the given database,
    /// authorization off (tests of authorization turn it on).
    pub fn for_database(database_url: impl Into<String>) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: PathBuf::from("./data"),
            database_url: Some(database_url.into()),
            base_url: None,
            index_dir: Some(PathBuf::from("memory")),
            search_default_count: 50,
            search_max_count: 1000,
            max_body_bytes: 16 * 1024 * 1024,
            bundle_max_entries: 10_000,
            auth: "off".into(),
            sqlite_synchronous: Synchronous::Full,
        }
    }

    /// `true` unless `--auth=off`.
    pub fn auth_enabled(&self) -> bool {
        self.auth != "off"
    }

    /// Where the search index is kept.
    pub fn index_location(&self) -> fhir_core::index::IndexLocation {
        use fhir_core::index::IndexLocation;
        match &self.index_dir {
            Some(dir) if dir.as_os_str() == "memory" => IndexLocation::Memory,
            Some(dir) => IndexLocation::Directory(dir.clone()),
            None => IndexLocation::Directory(self.data_dir.join("index")),
        }
    }

    /// The limits of searches.
    pub fn search_options(&self) -> fhir_core::index::SearchOptions {
        fhir_core::index::SearchOptions {
            default_count: self.search_default_count.min(self.search_max_count),
            max_count: self.search_max_count,
            ..fhir_core::index::SearchOptions::default()
        }
    }
}
