//! Conformance suites run against the project.
//!
//! This crate owns the external test corpora pinned in the project and the harnesses that run
//! them: the R4 examples package (format round trips), the FHIRPath suite, and later the patch
//! suites and Inferno-style checks. Its tests read the corpora from the project itself, never from
//! outside the checkout.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The project root (the workspace directory holding this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The pinned R4 examples package (npm `hl7.fhir.r4.examples@4.0.1`).
pub fn r4_examples_path() -> PathBuf {
    workspace_root().join("fhir-core/definitions/hl7.fhir.r4.examples-4.0.1.tgz")
}

/// Every file of the R4 examples package under `package/` (name without the folder, bytes),
/// decompressed once, in archive order. `package.json` is included; callers skip it.
pub fn r4_example_files() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let file = std::fs::File::open(r4_examples_path())?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut files = Vec::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.to_string_lossy().into_owned();
        let Some(name) = path.strip_prefix("package/") else {
            continue;
        };
        if name.contains('/') {
            continue;
        }
        let mut bytes = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0));
        entry.read_to_end(&mut bytes)?;
        files.push((name.to_string(), bytes));
    }
    Ok(files)
}

/// The first place where two JSON values differ, as a path and both sides (abbreviated), or
/// `None` when they are equal. Object key order is ignored, as in `Value` equality.
pub fn first_difference(left: &Value, right: &Value) -> Option<String> {
    difference_at(left, right, "$")
}

fn abbreviate(value: Option<&Value>) -> String {
    let text = value.map_or_else(|| "(absent)".to_string(), Value::to_string);
    if text.chars().count() > 160 {
        let short: String = text.chars().take(160).collect();
        format!("{short}…")
    } else {
        text
    }
}

fn difference_at(left: &Value, right: &Value, path: &str) -> Option<String> {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let inner = format!("{path}.{key}");
                match b.get(key) {
                    Some(other) => {
                        if let Some(found) = difference_at(value, other, &inner) {
                            return Some(found);
                        }
                    }
                    None => {
                        return Some(format!("{inner}: {} vs (absent)", abbreviate(Some(value))));
                    }
                }
            }
            b.iter()
                .find(|(key, _)| !a.contains_key(*key))
                .map(|(key, value)| {
                    format!("{path}.{key}: (absent) vs {}", abbreviate(Some(value)))
                })
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, pair) in a.iter().zip(b.iter()).enumerate() {
                if let Some(found) = difference_at(pair.0, pair.1, &format!("{path}[{i}]")) {
                    return Some(found);
                }
            }
            (a.len() != b.len())
                .then(|| format!("{path}: array of {} vs array of {}", a.len(), b.len()))
        }
        _ => (left != right).then(|| {
            format!(
                "{path}: {} vs {}",
                abbreviate(Some(left)),
                abbreviate(Some(right))
            )
        }),
    }
}
