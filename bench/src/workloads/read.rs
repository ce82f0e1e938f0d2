//! Read by id and vread of imported resources of every type (a fixed sample of the import's
//! locations), closed loop at each concurrency.

use std::sync::Arc;
use std::time::Duration;

use crate::http::Fhir;
use crate::load::closed_loop;
use crate::results::ConcurrencyRun;
use crate::target::Running;

/// `Type/id/_history/vid` locations: reads ask for `Type/id`, vreads for the whole location.
pub async fn run(
    running: &Running,
    locations: &[String],
    vread: bool,
    concurrency: &[usize],
    seconds: f64,
) -> Vec<ConcurrencyRun> {
    let paths: Vec<String> = locations
        .iter()
        .filter(|l| l.contains("/_history/"))
        .map(|l| {
            if vread {
                l.clone()
            } else {
                l.splitn(3, '/').take(2).collect::<Vec<_>>().join("/")
            }
        })
        .collect();
    let paths = Arc::new(paths);
    let mut runs = Vec::new();
    if paths.is_empty() {
        return runs;
    }
    for &c in concurrency {
        let fhir = Fhir::new(&running.base, c);
        let cpu = running.cpu_seconds();
        let paths = paths.clone();
        let stats = closed_loop(c, Duration::from_secs_f64(seconds), move |worker, i| {
            let fhir = fhir.clone();
            // Each worker walks the sample from its own offset.
            let path = paths[(worker * 7919 + i as usize) % paths.len()].clone();
            async move {
                fhir.get(&path).await?.success()?;
                Ok(())
            }
        })
        .await;
        runs.push(ConcurrencyRun {
            concurrency: c,
            stats,
            server_cpu_seconds: running.cpu_seconds() - cpu,
        });
    }
    runs
}
