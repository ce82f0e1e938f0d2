//! Searches: the patient-list budgets, single queries (searchConfig.js, Firely's mix, includes),
//! `$everything` and history (sequential repetitions, p50/p99, and the result count of every
//! page with `_count=1000`), the search series of Blaze (`_summary=count`, then every page), and
//! the search mix (every single query's first page, closed loop).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http::{Fhir, encode_query, entries, matches, next_link};
use crate::load::{Stats, closed_loop, mean_sd, sequential};
use crate::results::{ConcurrencyRun, QueryRun, SeriesRun};
use crate::target::Running;
use crate::workloads::seed;

/// What the queries need to know about this target's data.
pub struct QueryData {
    /// Patients seeded (the patient-list queries use values of patient `seeded / 2`).
    pub seeded: usize,
    /// A Synthea patient's id on this server and its Synthea identifier (`system|value`).
    pub patient: Option<(String, String)>,
    /// A time before the seeded Patients were written (`_since` of the history queries).
    pub since: String,
}

/// One query as sent: the same `name` on every target.
#[derive(Clone)]
pub struct Query {
    pub group: &'static str,
    pub name: String,
    pub request: String,
    pub budget_ms: Option<f64>,
}

fn q(group: &'static str, name: &str, request: String, budget_ms: Option<f64>) -> Query {
    Query {
        group,
        name: name.to_owned(),
        request: encode_query(&request),
        budget_ms,
    }
}

/// The single queries, in report order.
pub fn single_queries(data: &QueryData) -> Vec<Query> {
    let mut list = Vec::new();
    if data.seeded > 0 {
        let p = seed::patient(data.seeded / 2);
        let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
        let family = s(&p["name"][0]["family"]);
        let given = s(&p["name"][0]["given"][0]);
        let birthdate = s(&p["birthDate"]);
        let gender = s(&p["gender"]);
        let city = s(&p["address"][0]["city"]);
        let identifier = format!(
            "{}|{}",
            s(&p["identifier"][0]["system"]),
            s(&p["identifier"][0]["value"])
        );
        let year: i32 = birthdate[..4].parse().unwrap_or(1970);
        let ui = "patient-list";
        list.extend([
            q(
                ui,
                "identifier",
                format!("Patient?identifier={identifier}"),
                Some(3.0),
            ),
            q(
                ui,
                "family&given",
                format!("Patient?family={family}&given={given}"),
                Some(20.0),
            ),
            q(
                ui,
                "family&birthdate",
                format!("Patient?family={family}&birthdate={birthdate}"),
                Some(20.0),
            ),
            q(ui, "name", format!("Patient?name={family}"), Some(5.0)),
            q(
                ui,
                "family&gender",
                format!("Patient?family={family}&gender={gender}"),
                Some(60.0),
            ),
            q(
                ui,
                "address-city&family",
                format!("Patient?address-city={city}&family={family}"),
                Some(30.0),
            ),
            q(
                ui,
                "birthdate range&gender",
                format!(
                    "Patient?birthdate=ge{}-01-01&birthdate=le{}-12-31&gender={gender}",
                    year - 2,
                    year + 2
                ),
                Some(40.0),
            ),
            q(
                ui,
                "recently updated",
                "Patient?_sort=-_lastUpdated&_count=20".to_owned(),
                Some(5.0),
            ),
        ]);
        let prefix = family[..3].to_lowercase();
        let infix = family[1..5].to_lowercase();
        let city_part = city[1..5].to_lowercase();
        let sr = "search";
        list.extend([
            q(sr, "name (prefix)", format!("Patient?name={prefix}"), None),
            q(
                sr,
                "name:exact",
                format!("Patient?name:exact={family}"),
                None,
            ),
            q(
                sr,
                "name:contains",
                format!("Patient?name:contains={infix}"),
                None,
            ),
            q(
                sr,
                "name (no such name)",
                "Patient?name=Nonexistentname".to_owned(),
                None,
            ),
            q(
                sr,
                "name:contains (no match)",
                "Patient?name:contains=zzqxj".to_owned(),
                None,
            ),
            q(sr, "address", format!("Patient?address={city}"), None),
            q(
                sr,
                "address:contains",
                format!("Patient?address:contains={city_part}"),
                None,
            ),
            q(
                sr,
                "address (no such place)",
                "Patient?address=Nowhereville".to_owned(),
                None,
            ),
        ]);
    }
    let sr = "search";
    for prefix in ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb"] {
        list.push(q(
            sr,
            &format!("birthdate={prefix}1998-04-10"),
            format!("Patient?birthdate={prefix}1998-04-10"),
            None,
        ));
    }
    list.extend([
        q(
            sr,
            "Observation date=2019",
            "Observation?date=2019".to_owned(),
            None,
        ),
        q(
            sr,
            "Encounter date=ge2019-01-01",
            "Encounter?date=ge2019-01-01".to_owned(),
            None,
        ),
        q(
            sr,
            "Observation category=laboratory",
            "Observation?category=laboratory".to_owned(),
            None,
        ),
        q(
            sr,
            "Observation code=system|code",
            "Observation?code=http://loinc.org|8310-5".to_owned(),
            None,
        ),
        q(
            sr,
            "CarePlan _count=10",
            "CarePlan?_count=10".to_owned(),
            None,
        ),
    ]);
    if let Some((id, identifier)) = &data.patient {
        let inc = "include";
        list.extend([
            q(inc, "MedicationRequest patient + _include medication", format!("MedicationRequest?patient={id}&_include=MedicationRequest:medication"), None),
            q(inc, "MedicationAdministration patient + _include medication", format!("MedicationAdministration?patient={id}&_include=MedicationAdministration:medication"), None),
            q(inc, "Patient identifier + _revinclude Observation, DiagnosticReport", format!("Patient?identifier={identifier}&_revinclude=Observation:subject&_revinclude=DiagnosticReport:patient"), None),
            q(inc, "Encounter patient + _include practitioner", format!("Encounter?patient={id}&_include=Encounter:practitioner"), None),
            q(inc, "Observation patient + vital-signs + _include encounter", format!("Observation?patient={id}&category=vital-signs&_include=Observation:encounter"), None),
        ]);
    }
    list
}

/// Runs every single query: timing by sequential repetition, then the count over every page.
pub async fn run_single(running: &Running, queries: &[Query], runs: usize) -> Vec<QueryRun> {
    let fhir = Fhir::new(&running.base, 1);
    let mut out = Vec::new();
    for query in queries {
        let stats = sequential(2.min(runs), runs, |_| {
            let (fhir, request) = (fhir.clone(), query.request.clone());
            async move {
                fhir.get(&request).await?.success()?;
                Ok(())
            }
        })
        .await;
        let (count, included) = if stats.ok > 0 {
            match count_all(&fhir, &with_count(&query.request, 1000)).await {
                Ok((m, i)) => (Some(m), Some(i)),
                Err(_) => (None, None),
            }
        } else {
            (None, None)
        };
        out.push(QueryRun {
            group: query.group.to_owned(),
            name: query.name.clone(),
            request: query.request.clone(),
            budget_ms: query.budget_ms,
            count,
            included,
            stats,
        });
    }
    out
}

/// Matches and the other entries (included ones) over every page (at most 1,000 pages).
async fn count_all(fhir: &Fhir, request: &str) -> Result<(u64, u64), String> {
    let mut url = request.to_owned();
    let (mut matched, mut included) = (0u64, 0u64);
    for _ in 0..1000 {
        let bundle = fhir.get(&url).await?.success()?.json()?;
        let m = matches(&bundle) as u64;
        matched += m;
        included += entries(&bundle) as u64 - m;
        match next_link(&bundle) {
            Some(next) => url = next,
            None => return Ok((matched, included)),
        }
    }
    Err("more than 1,000 pages".to_owned())
}

/// `request` with `_count` set to `n` (replacing one already there).
fn with_count(request: &str, n: usize) -> String {
    let (path, params) = request.split_once('?').unwrap_or((request, ""));
    let mut kept: Vec<String> = params
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("_count="))
        .map(str::to_owned)
        .collect();
    kept.push(format!("_count={n}"));
    format!("{path}?{}", kept.join("&"))
}

/// `$everything` (every page, `_count=1000`) and instance history of `patients`, one after the
/// other; type and system history pages.
pub async fn run_everything_and_history(
    running: &Running,
    patients: &[String],
    since: &str,
    runs: usize,
) -> Vec<QueryRun> {
    let fhir = Fhir::new(&running.base, 1);
    let mut out = Vec::new();
    for (group, name, suffix) in [
        (
            "everything",
            "Patient/{id}/$everything, every page",
            "$everything?_count=1000",
        ),
        ("history", "Patient/{id}/_history", "_history"),
    ] {
        let mut times = Vec::new();
        let mut total = 0u64;
        let mut errors = 0;
        let mut first_error = None;
        let started = Instant::now();
        for id in patients {
            let sent = Instant::now();
            match count_all(&fhir, &format!("Patient/{id}/{suffix}")).await {
                Ok((matched, included)) => {
                    times.push(sent.elapsed());
                    total += matched + included;
                }
                Err(e) => {
                    errors += 1;
                    first_error.get_or_insert(e);
                }
            }
        }
        out.push(QueryRun {
            group: group.to_owned(),
            name: format!("{name} ({} patients)", patients.len()),
            request: format!("Patient/{{id}}/{suffix}"),
            budget_ms: None,
            count: (errors == 0).then_some(total),
            included: None,
            stats: Stats::from_latencies(times, errors, started.elapsed(), first_error),
        });
    }
    let since = encode_query(&format!("x?_since={since}"));
    let since = since.trim_start_matches("x?");
    for (name, request) in [
        (
            "Patient/_history?_since, first page",
            format!("Patient/_history?{since}&_count=100"),
        ),
        (
            "_history (system), first page",
            "_history?_count=100".to_owned(),
        ),
    ] {
        let stats = sequential(1, runs, |_| {
            let (fhir, request) = (fhir.clone(), request.clone());
            async move {
                fhir.get(&request).await?.success()?;
                Ok(())
            }
        })
        .await;
        let count = match fhir.get(&request).await.and_then(|a| a.success()) {
            Ok(a) => a.json().ok().map(|b| entries(&b) as u64),
            Err(_) => None,
        };
        out.push(QueryRun {
            group: "history".to_owned(),
            name: name.to_owned(),
            request,
            budget_ms: None,
            count,
            included: None,
            stats,
        });
    }
    out
}

/// The search series of Blaze's `fhir-search/*.sh`.
pub fn series_queries() -> Vec<(String, String)> {
    let mut list = Vec::new();
    let mut add = |name: String, request: String| list.push((name, encode_query(&request)));
    for code in ["8310-5", "55758-7", "72514-3"] {
        add(
            format!("code={code}"),
            format!("Observation?code=http://loinc.org|{code}"),
        );
    }
    for code in ["8310-5", "55758-7", "72514-3"] {
        for year in ["2013", "2019", "2020"] {
            add(
                format!("code={code}&date={year}"),
                format!("Observation?code=http://loinc.org|{code}&date={year}"),
            );
        }
    }
    for value in ["26.8", "79.5", "183"] {
        add(
            format!("code=29463-7&value-quantity=lt{value}"),
            format!(
                "Observation?code=http://loinc.org|29463-7&value-quantity=lt{value}|http://unitsofmeasure.org|kg"
            ),
        );
    }
    for category in ["laboratory", "vital-signs"] {
        for date in ["2019", "2020-01"] {
            add(
                format!("category={category}&date={date}"),
                format!("Observation?category={category}&date={date}"),
            );
        }
    }
    let ten = [
        "8302-2", "29463-7", "39156-5", "8462-4", "8480-6", "72514-3", "8867-4", "9279-1",
        "2708-6", "55758-7",
    ];
    add(
        "code (10 codes)".to_owned(),
        format!(
            "Observation?code={}",
            ten.iter()
                .map(|c| format!("http://loinc.org|{c}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    for prefix in ["gt", "ge", "lt", "le"] {
        add(
            format!("Patient birthdate={prefix}1998-04-10"),
            format!("Patient?birthdate={prefix}1998-04-10"),
        );
    }
    add(
        "Observation category=laboratory&patient.birthdate=ge2000 (chain)".to_owned(),
        "Observation?category=laboratory&patient.birthdate=ge2000".to_owned(),
    );
    add(
        "code=8310-5&_elements=subject".to_owned(),
        "Observation?code=http://loinc.org|8310-5&_elements=subject".to_owned(),
    );
    add(
        "category=laboratory&date=2019&_elements=subject".to_owned(),
        "Observation?category=laboratory&date=2019&_elements=subject".to_owned(),
    );
    list
}

/// Each series query: `_summary=count` then every page with `_count=1000`, `runs` times after
/// one warm-up; mean and standard deviation of the measured runs.
pub async fn run_series(
    running: &Running,
    queries: &[(String, String)],
    runs: usize,
) -> Vec<SeriesRun> {
    let fhir = Fhir::new(&running.base, 1);
    let mut out = Vec::new();
    for (name, request) in queries {
        let count_request = format!("{request}&_summary=count");
        let download = with_count(request, 1000);
        let mut count_ms = Vec::new();
        let mut download_s = Vec::new();
        let mut total = None;
        let mut fetched = 0;
        let mut error = None;
        for run in 0..=runs {
            let sent = Instant::now();
            match fhir.get(&count_request).await.and_then(|a| a.success()) {
                Ok(a) => {
                    if run > 0 {
                        count_ms.push(sent.elapsed().as_secs_f64() * 1e3);
                    }
                    total = a.json().ok().and_then(|b| b["total"].as_u64());
                }
                Err(e) => {
                    error.get_or_insert(format!("_summary=count: {e}"));
                }
            }
            let sent = Instant::now();
            match count_all(&fhir, &download).await {
                Ok((m, _)) => {
                    if run > 0 {
                        download_s.push(sent.elapsed().as_secs_f64());
                    }
                    fetched = m;
                }
                Err(e) => {
                    error.get_or_insert(format!("download: {e}"));
                    break;
                }
            }
        }
        let (count_ms_mean, count_ms_sd) = mean_sd(&count_ms);
        let (download_s_mean, download_s_sd) = mean_sd(&download_s);
        out.push(SeriesRun {
            name: name.clone(),
            request: request.clone(),
            total,
            fetched,
            count_ms_mean,
            count_ms_sd,
            download_s_mean,
            download_s_sd,
            resources_per_second: if download_s_mean > 0.0 {
                fetched as f64 / download_s_mean
            } else {
                0.0
            },
            error,
        });
    }
    out
}

/// Every single query's first page, mixed, closed loop.
pub async fn run_mix(
    running: &Running,
    queries: &[Query],
    concurrency: usize,
    seconds: f64,
) -> ConcurrencyRun {
    let fhir = Fhir::new(&running.base, concurrency);
    let requests: Arc<Vec<String>> = Arc::new(queries.iter().map(|q| q.request.clone()).collect());
    let cpu = running.cpu_seconds();
    let stats = closed_loop(
        concurrency,
        Duration::from_secs_f64(seconds),
        move |w, i| {
            let fhir = fhir.clone();
            let request = requests[(w * 13 + i as usize) % requests.len()].clone();
            async move {
                fhir.get(&request).await?.success()?;
                Ok(())
            }
        },
    )
    .await;
    ConcurrencyRun {
        concurrency,
        stats,
        server_cpu_seconds: running.cpu_seconds() - cpu,
    }
}
