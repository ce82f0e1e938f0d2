//! The import data: Blaze's Synthea bundles (`*.json.bz2`: a hospital and a practitioner batch
//! Bundle, then one transaction Bundle per patient), unpacked with the `bzip2` command.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// One Bundle, unpacked.
pub struct Bundle {
    pub name: String,
    pub body: Vec<u8>,
    pub resources: usize,
    pub transaction: bool,
    /// The Synthea identifier (`system|value`) of the bundle's Patient, if it has one.
    pub patient_identifier: Option<String>,
}

/// The Bundles of `dir` in load order (hospital and practitioners first, since the patients
/// refer to them), or the first `limit` patient bundles of them.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<Bundle>, String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".json.bz2"))
        .collect();
    if files.is_empty() {
        return Err(format!("no *.json.bz2 bundles in {}", dir.display()));
    }
    let rank = |p: &PathBuf| {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let rank = if name.contains("hospitalInformation") {
            0
        } else if name.contains("practitionerInformation") {
            1
        } else {
            2
        };
        (rank, name)
    };
    files.sort_by_key(rank);
    let mut bundles = Vec::new();
    let mut patients = 0;
    for path in files {
        let body = unpack(&path)?;
        let parsed: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let entries = parsed["entry"].as_array().map_or(&[][..], Vec::as_slice);
        let transaction = parsed["type"] == "transaction";
        if transaction {
            if limit.is_some_and(|l| patients >= l) {
                continue;
            }
            patients += 1;
        }
        let patient_identifier = entries
            .iter()
            .map(|e| &e["resource"])
            .find(|r| r["resourceType"] == "Patient")
            .and_then(|p| {
                p["identifier"].as_array()?.iter().find_map(|i| {
                    let system = i["system"].as_str()?;
                    let value = i["value"].as_str()?;
                    (system == "https://github.com/synthetichealth/synthea")
                        .then(|| format!("{system}|{value}"))
                })
            });
        bundles.push(Bundle {
            name: path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            resources: entries.len(),
            transaction,
            patient_identifier,
            body,
        });
    }
    Ok(bundles)
}

fn unpack(path: &Path) -> Result<Vec<u8>, String> {
    let output = std::process::Command::new("bzip2")
        .arg("-dc")
        .arg(path)
        .output()
        .map_err(|e| format!("run bzip2: {e}"))?;
    if !output.status.success() {
        return Err(format!("bzip2 -dc {} failed", path.display()));
    }
    Ok(output.stdout)
}
