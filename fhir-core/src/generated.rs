//! Test helpers shared by the generators of checked-in data (the model, the search parameters,
//! the compartments): reading the pinned R4 package, and the freshness check.

use std::io::Read;

use serde_json::Value;

/// Reads one file of the pinned R4 package (`definitions/hl7.fhir.r4.examples-4.0.1.tgz`).
pub(crate) fn package_file(name: &str) -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/definitions/hl7.fhir.r4.examples-4.0.1.tgz"
    );
    let file = std::fs::File::open(path).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(&format!("package/{name}")) {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return serde_json::from_str(&text).unwrap();
        }
    }
    panic!("{name} is not in the package");
}

/// Fails when the checked-in file at `relative` (from the crate root) is not `fresh`;
/// `FHIR_REGENERATE=1 cargo test -p fhir-core <test>` rewrites it instead.
pub(crate) fn check_fresh(relative: &str, fresh: &str, test: &str) {
    let path = format!("{}/{relative}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("FHIR_REGENERATE").is_some() {
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap();
    assert!(
        checked_in == fresh,
        "{relative} is stale: run FHIR_REGENERATE=1 cargo test -p fhir-core {test}"
    );
}
