//! JSON Patch (RFC 6902) suites run against `fhir_core::patch::json_patch`:
//!
//! - `data/json-patch/`: `tests.json` and `spec_tests.json` of npm `json-patch-test-suite@1.1.0`
//!   (the json-patch/json-patch-tests suite);
//! - `data/patch-r4/json-patch-tests.json`: the JSON Patch cases of FHIR/fhir-test-cases `r4/patch/`.
//!
//! A case has `doc` and `patch`, and `expected` (the result), `error` (the patch must fail; the
//! text describes the error, implementations word it their own way) or neither (the patch must
//! apply). Records without `doc` or `patch` are comments. Every case runs, including those marked
//! `disabled: true`; the test requires every case that is not disabled to pass, and reports how
//! the disabled ones fare. Run with `-- --nocapture` for the counts and the error messages given
//! for the cases that expect an error.

use conformance_tests::workspace_root;
use fhir_core::patch::json_patch;
use serde_json::Value;

/// The suites: name, file under `conformance-tests/data/`, number of cases (records with `doc`
/// and `patch`), number of them marked disabled.
const SUITES: &[(&str, &str, usize, usize)] = &[
    (
        "json-patch-test-suite@1.1.0 tests.json",
        "json-patch/tests.json",
        78,
        3,
    ),
    (
        "json-patch-test-suite@1.1.0 spec_tests.json",
        "json-patch/spec_tests.json",
        17,
        1,
    ),
    (
        "fhir-test-cases r4/patch json-patch-tests.json",
        "patch-r4/json-patch-tests.json",
        16,
        0,
    ),
];

/// Runs one case; `Ok` with the error message when an expected error was given.
fn run_case(case: &Value) -> Result<Option<String>, String> {
    let doc = &case["doc"];
    let patch = &case["patch"];
    let result = json_patch::apply(doc, patch);
    match (case.get("expected"), case.get("error"), result) {
        (_, Some(_), Ok(got)) => Err(format!("expected an error, got {got}")),
        (_, Some(_), Err(error)) => Ok(Some(error.to_string())),
        (Some(expected), None, Ok(got)) if &got == expected => Ok(None),
        (Some(expected), None, Ok(got)) => Err(format!("expected {expected}, got {got}")),
        (None, None, Ok(_)) => Ok(None),
        (_, None, Err(error)) => Err(format!("unexpected error: {error}")),
    }
}

fn label(case: &Value, index: usize) -> String {
    match case.get("comment").and_then(Value::as_str) {
        Some(comment) => format!("#{index} {comment}"),
        None => format!("#{index} (no comment) patch {}", case["patch"]),
    }
}

#[test]
fn json_patch_suites() {
    let mut failures = Vec::new();
    for &(name, file, expected_cases, expected_disabled) in SUITES {
        let path = workspace_root().join("conformance-tests/data").join(file);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let records: Vec<Value> = serde_json::from_str(&text).unwrap();
        let (mut cases, mut passed, mut disabled, mut disabled_passed) = (0, 0, 0, 0);
        println!("== {name}");
        for (index, case) in records.iter().enumerate() {
            if case.get("doc").is_none() || case.get("patch").is_none() {
                continue;
            }
            cases += 1;
            let is_disabled = case.get("disabled").and_then(Value::as_bool) == Some(true);
            disabled += usize::from(is_disabled);
            let outcome = run_case(case);
            let label = label(case, index);
            match (&outcome, is_disabled) {
                (Ok(message), false) => {
                    passed += 1;
                    if let Some(message) = message {
                        println!("   ok  {label}\n       error given: {message}");
                    }
                }
                (Ok(message), true) => {
                    disabled_passed += 1;
                    println!(
                        "   ok  (disabled) {label}{}",
                        message
                            .as_ref()
                            .map(|m| format!("\n       error given: {m}"))
                            .unwrap_or_default()
                    );
                }
                (Err(why), true) => println!("   FAIL (disabled, not required) {label}: {why}"),
                (Err(why), false) => {
                    println!("   FAIL {label}: {why}");
                    failures.push(format!("{name} {label}: {why}"));
                }
            }
        }
        println!(
            "{name}: {passed}/{} enabled cases pass; disabled: {disabled_passed}/{disabled} pass",
            cases - disabled
        );
        assert_eq!(
            (cases, disabled),
            (expected_cases, expected_disabled),
            "{name}: unexpected number of cases"
        );
    }
    assert!(
        failures.is_empty(),
        "{} cases fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
