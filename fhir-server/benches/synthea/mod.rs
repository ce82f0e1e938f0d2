//! The Synthea data of Blaze, as the benches read it: `SYNTHEA_DIR` (default
//! `../shared/data/synthea-blaze` from the workspace root), `*.json.bz2` Bundles unpacked with
//! the `bzip2` command.

use std::path::{Path, PathBuf};

/// The data directory.
pub fn data_dir() -> PathBuf {
    std::env::var_os("SYNTHEA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/synthea-blaze")
        })
}

/// The Bundles in load order: hospital and practitioner Bundles first (the patients refer to
/// them), then the patients. `None` when the directory holds none.
pub fn bundle_files(dir: &Path) -> Option<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".json.bz2"))
        .collect();
    if files.is_empty() {
        return None;
    }
    let rank = |p: &PathBuf| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
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
    Some(files)
}

/// The JSON text of one Bundle.
pub fn unpack(path: &Path) -> Vec<u8> {
    let output = std::process::Command::new("bzip2")
        .arg("-dc")
        .arg(path)
        .output()
        .expect("run bzip2 -dc");
    assert!(
        output.status.success(),
        "bzip2 -dc {} failed",
        path.display()
    );
    output.stdout
}
