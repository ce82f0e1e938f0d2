//! Structured logs with tracing. `RUST_LOG` sets the filter (default `info`); `FHIR_LOG_FORMAT=json`
//! writes one JSON object per line.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing (tests start many servers).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("FHIR_LOG_FORMAT").is_ok_and(|v| v == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
