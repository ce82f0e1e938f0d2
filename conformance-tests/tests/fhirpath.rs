//! The official FHIRPath R4 suite (`fhir-r4.yaml` as shipped with fhirpath.js, converted to
//! `data/fhirpath-r4/fhir-r4-cases.json` by `convert.py`; see the README there) run against
//! `fhir_core::fhirpath`.
//!
//! Every case runs, including those the suite marks `disable`. The test fails when a case fails
//! that is not in [`KNOWN_FAILURES`] (with the reason), and reports listed cases that now pass.

use std::collections::BTreeMap;

use conformance_tests::workspace_root;
use fhir_core::fhirpath::decimal::Decimal;
use fhir_core::fhirpath::{Environment, Expression};
use serde_json::Value;

/// Cases that fail, by description, with the reason. All but the first are marked
/// `disable: true` in the suite itself.
const KNOWN_FAILURES: &[(&str, &str)] = &[
    (
        "** testFHIRPathAsFunction21",
        "expects an error for `as()` on several items; the R4 core invariant dom-3 applies \
         `descendants().as(canonical)` to collections, so `as()` filters like `ofType()`",
    ),
    (
        "** patient has a birthDate",
        "expects `birthDate` to give `true`; FHIRPath returns the date itself (the suite disables it)",
    ),
    (
        "** HighBoundaryDateTimeMillisecond1",
        "expects 08:00:59.999 as the high boundary of hour 08; every instant up to 08:59:59.999 is \
         in that hour, which is what we return (disabled in the suite)",
    ),
    (
        "** HighBoundaryDateTimeMillisecond3",
        "same expression and expectation as HighBoundaryDateTimeMillisecond1 (disabled in the suite)",
    ),
];

/// The minimum number of passing cases.
const MIN_PASSED: usize = 930;

fn data_dir() -> std::path::PathBuf {
    workspace_root().join("conformance-tests/data/fhirpath-r4")
}

fn matches(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Number(a), Value::Number(e)) => {
            match (
                Decimal::parse(&a.to_string()),
                Decimal::parse(&e.to_string()),
            ) {
                (Some(a), Some(e)) => a == e,
                _ => false,
            }
        }
        _ => actual == expected,
    }
}

/// Runs one case: `Ok(())` when it passes, the problem otherwise.
fn run(case: &Value, inputs: &mut BTreeMap<String, Value>) -> Result<(), String> {
    let expression = case["expression"].as_str().unwrap_or_default();
    let expect_error = case.get("error").and_then(Value::as_bool) == Some(true);
    let input = match case.get("inputfile").and_then(Value::as_str) {
        Some(name) => inputs
            .entry(name.to_string())
            .or_insert_with(|| {
                let bytes = std::fs::read(data_dir().join(name)).expect("input is checked in");
                serde_json::from_slice(&bytes).expect("input is JSON")
            })
            .clone(),
        None => Value::Object(Default::default()),
    };
    let parsed = Expression::parse(expression);
    let result = parsed.and_then(|e| {
        let env = Environment::new();
        e.evaluate(&input, &env)
            .map(|items| items.iter().map(|i| i.to_json()).collect::<Vec<_>>())
    });
    match (result, expect_error) {
        (Err(_), true) => Ok(()),
        (Ok(items), true) => Err(format!("expected an error, got {items:?}")),
        (Err(e), false) => Err(format!("unexpected error: {e}")),
        (Ok(items), false) => {
            let expected = case["result"].as_array().cloned().unwrap_or_default();
            if items.len() == expected.len()
                && items.iter().zip(&expected).all(|(a, e)| matches(a, e))
            {
                Ok(())
            } else {
                Err(format!("expected {expected:?}, got {items:?}"))
            }
        }
    }
}

#[test]
fn fhirpath_r4_suite() {
    let text = std::fs::read_to_string(data_dir().join("fhir-r4-cases.json")).unwrap();
    let suite: Value = serde_json::from_str(&text).unwrap();
    let cases = suite["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 935);
    let mut inputs = BTreeMap::new();
    let mut by_group: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut passed = 0;
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for case in cases {
        let desc = case["desc"].as_str().unwrap_or_default();
        let group = case["group"].as_str().unwrap_or_default().to_string();
        let outcome = run(case, &mut inputs);
        let known = KNOWN_FAILURES.iter().find(|(d, _)| *d == desc);
        let entry = by_group.entry(group.clone()).or_default();
        entry.1 += 1;
        match (outcome, known) {
            (Ok(()), None) => {
                passed += 1;
                entry.0 += 1;
            }
            (Ok(()), Some(_)) => {
                passed += 1;
                entry.0 += 1;
                fixed.push(desc.to_string());
            }
            (Err(problem), None) => unexpected.push(format!(
                "{group} / {desc}: `{}`: {problem}",
                case["expression"].as_str().unwrap_or_default()
            )),
            (Err(_), Some(_)) => {}
        }
    }
    println!("FHIRPath R4 suite: {passed} of {} passed", cases.len());
    for (group, (ok, total)) in &by_group {
        if ok != total {
            println!("  {group}: {ok}/{total}");
        }
    }
    for desc in &fixed {
        println!("listed as failing but passes now: {desc}");
    }
    for problem in &unexpected {
        println!("FAIL {problem}");
    }
    assert!(
        unexpected.is_empty(),
        "{} unexpected failures",
        unexpected.len()
    );
    assert!(
        fixed.is_empty(),
        "remove the fixed cases from KNOWN_FAILURES: {fixed:?}"
    );
    assert!(passed >= MIN_PASSED, "only {passed} cases pass");
}

/// Error-level invariants that R4 examples really break (checked by hand), as (key, example id).
const INVALID_EXAMPLES: &[(&str, &str)] = &[
    // bdl-7: the `dataelements` Bundle repeats fullUrls (`…/de-Quantity.value` …) without versions.
    ("bdl-7", "dataelements"),
    // sdf-4: these logical models are neither abstract nor have a baseDefinition.
    ("sdf-4", "Definition"),
    ("sdf-4", "Event"),
    ("sdf-4", "FiveWs"),
    ("sdf-4", "Request"),
];

/// Every R4 search parameter expression (from `Bundle-searchParams.json` of the examples package)
/// parses, and evaluates without error over every example of its base resource types; every
/// invariant of the R4 StructureDefinitions parses, and the resource-level ones hold on the
/// examples of their resource (error-level ones: except [`INVALID_EXAMPLES`]).
#[test]
fn r4_search_parameters_and_invariants_compile_and_run_over_the_examples() {
    let files = conformance_tests::r4_example_files().unwrap();
    let mut examples: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut search_params = None;
    let mut invariants = Vec::new();
    let mut root_invariants = Vec::new();
    for (name, bytes) in &files {
        if !name.ends_with(".json") || name == "package.json" {
            continue;
        }
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            continue;
        };
        if name == "Bundle-searchParams.json" {
            search_params = Some(value.clone());
        }
        if value["resourceType"] == "StructureDefinition" {
            for element in value["snapshot"]["element"]
                .as_array()
                .into_iter()
                .flatten()
            {
                for constraint in element["constraint"].as_array().into_iter().flatten() {
                    if let Some(expression) = constraint["expression"].as_str() {
                        invariants.push((
                            format!("{} {}", name, constraint["key"].as_str().unwrap_or("")),
                            expression.to_string(),
                        ));
                        // Invariants of resources, checked over their examples below.
                        if value["kind"] == "resource" && value["derivation"] == "specialization" {
                            root_invariants.push((
                                value["type"].as_str().unwrap_or_default().to_string(),
                                element["path"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .trim_end_matches("[x]")
                                    .to_string(),
                                constraint["key"].as_str().unwrap_or_default().to_string(),
                                constraint["severity"] == "error",
                                expression.to_string(),
                            ));
                        }
                    }
                }
            }
        }
        if let Some(resource_type) = value["resourceType"].as_str() {
            examples
                .entry(resource_type.to_string())
                .or_default()
                .push(value.clone());
        }
    }
    let mut failures = Vec::new();
    let mut evaluations = 0;
    let search_params = search_params.expect("the package has Bundle-searchParams.json");
    for entry in search_params["entry"].as_array().unwrap() {
        let param = &entry["resource"];
        let Some(expression) = param["expression"].as_str() else {
            continue;
        };
        let id = param["id"].as_str().unwrap_or_default();
        let parsed = match Expression::parse(expression) {
            Ok(parsed) => parsed,
            Err(e) => {
                failures.push(format!("search {id}: {e}"));
                continue;
            }
        };
        for base in param["base"].as_array().into_iter().flatten() {
            let base = base.as_str().unwrap_or_default();
            let candidates: Vec<&Value> = if base == "Resource" || base == "DomainResource" {
                examples.values().flatten().take(50).collect()
            } else {
                examples.get(base).into_iter().flatten().collect()
            };
            for example in candidates {
                evaluations += 1;
                let env = Environment::new();
                if let Err(e) = parsed.evaluate(example, &env) {
                    failures.push(format!(
                        "search {id} on {}: {e}",
                        example["id"].as_str().unwrap_or_default()
                    ));
                }
            }
        }
    }
    let mut parsed_invariants = 0;
    for (key, expression) in &invariants {
        match Expression::parse(expression) {
            Ok(_) => parsed_invariants += 1,
            Err(e) => failures.push(format!("invariant {key}: {e}")),
        }
    }
    let mut root_checks = 0;
    let mut false_warnings: BTreeMap<&str, usize> = BTreeMap::new();
    let mut element_checks = 0;
    for (resource_type, path, key, is_error, expression) in &root_invariants {
        let Ok(parsed) = Expression::parse(expression) else {
            continue;
        };
        let Ok(path_expression) = Expression::parse(path) else {
            failures.push(format!("element path {path} does not parse"));
            continue;
        };
        for example in examples.get(resource_type).into_iter().flatten() {
            if path != resource_type {
                // An element-level invariant: evaluated on each element of the path.
                let env = Environment::new().with_resource(example);
                let Ok(elements) = path_expression.evaluate(example, &env) else {
                    failures.push(format!("element path {path} fails"));
                    continue;
                };
                for element in elements {
                    element_checks += 1;
                    let env = Environment::new().with_resource(example);
                    match parsed.evaluate_item(element, &env).map(|items| {
                        items
                            .first()
                            .and_then(|i| i.to_json().as_bool())
                            .unwrap_or(true)
                    }) {
                        Ok(true) => {}
                        Ok(false) if !is_error => *false_warnings.entry(key).or_default() += 1,
                        Ok(false) => failures.push(format!(
                            "invariant {key} is false on {path} of {resource_type}/{}",
                            example["id"].as_str().unwrap_or_default()
                        )),
                        Err(e) => failures.push(format!(
                            "invariant {key} on {path} of {resource_type}/{}: {e}",
                            example["id"].as_str().unwrap_or_default()
                        )),
                    }
                }
                continue;
            }
            root_checks += 1;
            let env = Environment::new();
            match parsed.evaluate_boolean(example, &env) {
                Ok(Some(true) | None) => {}
                // Some examples break best-practice warnings (vsd-0: `name` is not a computable
                // name, dom-6: no narrative); errors would mean a wrong answer.
                Ok(Some(false)) if !is_error => *false_warnings.entry(key).or_default() += 1,
                Ok(Some(false))
                    if INVALID_EXAMPLES
                        .contains(&(key.as_str(), example["id"].as_str().unwrap_or(""))) => {}
                Ok(Some(false)) => failures.push(format!(
                    "invariant {key} is false on {resource_type}/{}",
                    example["id"].as_str().unwrap_or_default()
                )),
                Err(e) => failures.push(format!(
                    "invariant {key} on {resource_type}/{}: {e}",
                    example["id"].as_str().unwrap_or_default()
                )),
            }
        }
    }
    println!(
        "{evaluations} search evaluations, {parsed_invariants} of {} invariants parse, \
         {root_checks} resource-level and {element_checks} element-level invariant checks",
        invariants.len()
    );
    println!("warnings false on some examples: {false_warnings:?}");
    for failure in &failures {
        println!("{failure}");
    }
    assert!(failures.is_empty(), "{} failures", failures.len());
}
