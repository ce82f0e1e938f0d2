//! The load generator: closed-loop workers over one keep-alive HTTP client, and the latency
//! statistics every workload reports.
//!
//! Closed loop (each worker sends its next request when the previous answer has been read) is
//! what `wrk`, k6's VUs and `blazectl` do; at a given concurrency it measures the throughput the
//! server sustains and the latency a client sees at that throughput.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Throughput and latency of one measured run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Requests answered as expected.
    pub ok: u64,
    /// Requests answered otherwise (status or transport error).
    pub errors: u64,
    /// Wall-clock length of the run, seconds.
    pub seconds: f64,
    /// `ok / seconds`.
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The first error seen, to say why a run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Stats {
    /// Statistics of `latencies` (successful requests) over `elapsed`.
    pub fn from_latencies(
        mut latencies: Vec<Duration>,
        errors: u64,
        elapsed: Duration,
        first_error: Option<String>,
    ) -> Stats {
        latencies.sort_unstable();
        let seconds = elapsed.as_secs_f64();
        Stats {
            ok: latencies.len() as u64,
            errors,
            seconds,
            per_second: if seconds > 0.0 {
                latencies.len() as f64 / seconds
            } else {
                0.0
            },
            p50_ms: percentile(&latencies, 0.50),
            p95_ms: percentile(&latencies, 0.95),
            p99_ms: percentile(&latencies, 0.99),
            max_ms: latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
            first_error,
        }
    }
}

/// The nearest-rank percentile of sorted durations, in milliseconds.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// Mean and sample standard deviation.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Runs `concurrency` workers for `duration`; worker `w` calls `request(w, i)` for its `i`-th
/// request, which answers `Ok(())` or why the answer was wrong. Only complete requests count,
/// and only those that started before the deadline.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, request: F) -> Stats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let (request, stop, errors) = (request.clone(), stop.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut first_error = None;
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sent = Instant::now();
                match request(worker, i).await {
                    Ok(()) => latencies.push(sent.elapsed()),
                    Err(e) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        first_error.get_or_insert(e);
                    }
                }
                i += 1;
            }
            (latencies, first_error)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut first_error = None;
    for worker in workers {
        if let Ok((l, e)) = worker.await {
            latencies.extend(l);
            if first_error.is_none() {
                first_error = e;
            }
        }
    }
    // The requests in flight at the deadline finished after it: the run lasted until the last.
    let elapsed = started.elapsed();
    Stats::from_latencies(
        latencies,
        errors.load(Ordering::Relaxed),
        elapsed,
        first_error,
    )
}

/// Runs `request` `runs` times one after the other (after `warmup` unmeasured runs).
pub async fn sequential<F, Fut>(warmup: usize, runs: usize, request: F) -> Stats
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    for i in 0..warmup {
        let _ = request(i as u64).await;
    }
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(runs);
    let mut errors = 0;
    let mut first_error = None;
    for i in 0..runs {
        let sent = Instant::now();
        match request(i as u64).await {
            Ok(()) => latencies.push(sent.elapsed()),
            Err(e) => {
                errors += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    Stats::from_latencies(latencies, errors, started.elapsed(), first_error)
}
