//! Differential test of search: a real server (port 0, SQLite in a temporary directory, index in
//! memory) is loaded with `data/synthea-subset/resources.ndjson.gz` through `PUT Type/id`, then
//! `differential/differential.py` compares the ids the server returns for a few thousand
//! generated queries with an independent evaluation (the official expressions run by
//! fhirpathpy, the R4 matching rules written in Python).
//!
//! Python: `python3` (or `FHIR_DIFFERENTIAL_PYTHON`, a Python that already has
//! `fhirpathpy==2.2.4`). Without the variable, a virtual environment is made once under the
//! target directory (`target/tmp/differential-venv`) and `fhirpathpy==2.2.4` is installed into
//! it with pip; when that fails the test fails and says why.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use fhir_server::{Application, Config};
use tokio::sync::oneshot;

const FHIRPATHPY: &str = "fhirpathpy==2.2.4";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The prepared resources, as (type, id, JSON line).
fn resources() -> Vec<(String, String, String)> {
    let path = crate_dir().join("data/synthea-subset/resources.ndjson.gz");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map(|line| line.expect("read resources.ndjson.gz"))
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON resource");
            let rtype = value["resourceType"]
                .as_str()
                .expect("resourceType")
                .to_owned();
            let id = value["id"].as_str().expect("id").to_owned();
            (rtype, id, line)
        })
        .collect()
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A Python with fhirpathpy: `FHIR_DIFFERENTIAL_PYTHON`, or the cached virtual environment
/// (made when missing).
fn python() -> Result<PathBuf, String> {
    if let Ok(python) = std::env::var("FHIR_DIFFERENTIAL_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-venv");
    let python = venv.join("bin/python");
    let marker = venv.join(FHIRPATHPY);
    if marker.exists() && python.exists() {
        return Ok(python);
    }
    // Built under a temporary name and renamed, so that a concurrent run never sees half of it.
    let building = venv.with_file_name(format!("differential-venv.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    run(Command::new("python3").args(["-m", "venv"]).arg(&building))
        .map_err(|e| format!("cannot create a virtual environment with python3: {e}"))?;
    run(Command::new(building.join("bin/python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        FHIRPATHPY,
    ]))
    .map_err(|e| format!("cannot pip install {FHIRPATHPY}: {e}"))?;
    std::fs::write(building.join(FHIRPATHPY), b"").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&building, &venv).map_err(|e| format!("cannot rename the venv: {e}"))?;
    Ok(python)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_agrees_with_fhirpathpy() {
    // Python first: without it there is nothing to compare with.
    let python = tokio::task::spawn_blocking(python)
        .await
        .expect("python set-up")
        .unwrap_or_else(|e| {
            panic!(
                "the differential search test needs Python 3 with {FHIRPATHPY} \
                 (or FHIR_DIFFERENTIAL_PYTHON pointing at one): {e}"
            )
        });

    let data_dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", data_dir.path().join("fhir.db").display());
    let app = Application::build(Config::for_database(url))
        .await
        .expect("server starts");
    let address = app.local_addr().expect("address");
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run_until(async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    let base = format!("http://{address}/fhir");

    // Load: four concurrent PUT streams.
    let started = Instant::now();
    let resources = Arc::new(resources());
    let count = resources.len();
    let client = reqwest::Client::new();
    let mut workers = Vec::new();
    for worker in 0..4 {
        let (resources, client, base) = (resources.clone(), client.clone(), base.clone());
        workers.push(tokio::spawn(async move {
            for (rtype, id, body) in resources.iter().skip(worker).step_by(4) {
                let response = client
                    .put(format!("{base}/{rtype}/{id}"))
                    .header("Content-Type", "application/fhir+json")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("PUT");
                let status = response.status();
                assert!(
                    status.is_success(),
                    "PUT {rtype}/{id}: {status} {}",
                    response.text().await.unwrap_or_default()
                );
            }
        }));
    }
    for worker in workers {
        worker.await.expect("loader");
    }
    println!(
        "loaded {count} resources in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let script = crate_dir().join("differential/differential.py");
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&base)
            .output()
            .expect("run differential.py")
    })
    .await
    .expect("differential.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");

    let _ = shutdown.send(());
    let _ = server.await;
    assert!(
        output.status.success(),
        "differential.py found unexplained disagreements between the server and fhirpathpy \
         ({}); its report is above (run with -- --nocapture)\n{stderr}",
        output.status
    );
}
