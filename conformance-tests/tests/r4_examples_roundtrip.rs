//! Every resource of the R4 examples package survives the two wire formats unchanged:
//! JSON → XML → JSON and JSON → JSON text → JSON give the same `serde_json::Value`.

use std::sync::Mutex;
use std::time::Instant;

use conformance_tests::{first_difference, r4_example_files};
use fhir_core::{json, xml};

/// Number of resources in `hl7.fhir.r4.examples@4.0.1` (every file of `package/` but
/// `package.json`).
const EXPECTED_RESOURCES: usize = 5306;

/// Round-trips one resource; the error names the step and the first difference.
fn round_trip(index: usize, bytes: &[u8]) -> Result<(), String> {
    let original = json::parse(bytes).map_err(|e| format!("JSON parse: {e}"))?;
    // Alternate compact and indented output so both writers are exercised on the whole corpus.
    let pretty = index.is_multiple_of(2);
    let xml_text = xml::to_xml(&original, pretty);
    let from_xml = xml::from_xml(xml_text.as_bytes()).map_err(|e| format!("XML read back: {e}"))?;
    if let Some(difference) = first_difference(&original, &from_xml) {
        return Err(format!("JSON → XML → JSON differs at {difference}"));
    }
    let text = if pretty {
        json::to_string_pretty(&original)
    } else {
        json::to_string(&original)
    };
    let reparsed = json::parse(text.as_bytes()).map_err(|e| format!("JSON read back: {e}"))?;
    if let Some(difference) = first_difference(&original, &reparsed) {
        return Err(format!("JSON → text → JSON differs at {difference}"));
    }
    Ok(())
}

#[test]
fn every_r4_example_round_trips_through_xml_and_json() {
    let started = Instant::now();
    let files = r4_example_files().expect("the pinned R4 examples package is readable");
    let resources: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(name, _)| name != "package.json")
        .collect();
    let read = started.elapsed();
    assert_eq!(resources.len(), EXPECTED_RESOURCES);

    let failures = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((name, bytes)) = resources.get(index) else {
                        break;
                    };
                    if let Err(problem) = round_trip(index, bytes) {
                        failures.lock().unwrap().push(format!("{name}: {problem}"));
                    }
                }
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    let passed = resources.len() - failures.len();
    eprintln!(
        "R4 examples: {passed} of {} resources round-trip (read {:.1?}, total {:.1?}, {threads} threads)",
        resources.len(),
        read,
        started.elapsed()
    );
    for failure in &failures {
        eprintln!("  {failure}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} resources failed the round trip:\n{}",
        failures.len(),
        resources.len(),
        failures.join("\n")
    );
}
