//! Validates every resource of the pinned official R4 examples
//! (`definitions/hl7.fhir.r4.examples-4.0.1.tgz`): all are valid, except the few listed in
//! [`KNOWN_INVALID`], which must fail with exactly the listed issues.

use std::io::Read;
use std::time::{Duration, Instant};

use fhir_core::validate::validate_resource;
use serde_json::Value;

const EXAMPLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/definitions/hl7.fhir.r4.examples-4.0.1.tgz"
);

/// The (code, expression) of an issue.
type Expected = (&'static str, &'static str);

/// Official examples that are genuinely invalid: file, why, and every issue expected.
const KNOWN_INVALID: &[(&str, &str, &[Expected])] = &[
    (
        "ig-r4.json",
        "ImplementationGuide.name and .status are 1..1 but absent (the package manifest IG)",
        &[
            ("required", "ImplementationGuide.name"),
            ("required", "ImplementationGuide.status"),
        ],
    ),
    (
        "ImplementationGuide-fhir.json",
        "ImplementationGuide.name and .status are 1..1 but absent (the same manifest IG)",
        &[
            ("required", "ImplementationGuide.name"),
            ("required", "ImplementationGuide.status"),
        ],
    ),
    (
        "Questionnaire-qs1.json",
        "Questionnaire.item.linkId is 1..1 but 32 nested display items have none",
        &[
            ("required", "Questionnaire.item[0].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[1].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[2].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[3].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[4].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[5].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[6].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[7].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[8].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[9].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[10].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[11].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[12].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[13].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[14].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[15].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[15].item[1].linkId"),
            (
                "required",
                "Questionnaire.item[0].item[15].item[2].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[15].item[3].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[15].item[4].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[15].item[5].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[15].item[6].item[0].linkId",
            ),
            ("required", "Questionnaire.item[0].item[16].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[17].item[0].linkId"),
            ("required", "Questionnaire.item[0].item[18].item[0].linkId"),
            (
                "required",
                "Questionnaire.item[0].item[18].item[1].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[18].item[2].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[18].item[3].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[18].item[4].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[18].item[5].item[0].linkId",
            ),
            (
                "required",
                "Questionnaire.item[0].item[18].item[6].item[0].linkId",
            ),
            ("required", "Questionnaire.item[0].item[19].item[0].linkId"),
        ],
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-author.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-effective.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-end.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-keyword.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-codesystem-extensions-CodeSystem-workflow.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
        "the id has 67 characters; ids are at most 64",
        &[("value", "SearchParameter.id")],
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-author.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-effective.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-end.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-keyword.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
    (
        "SearchParameter-valueset-extensions-ValueSet-workflow.json",
        "SearchParameter.base is 1..* but absent (search parameters on extensions)",
        &[("required", "SearchParameter.base")],
    ),
];

/// Every `package/*.json` resource of the examples package (not `package.json`).
fn examples() -> Vec<(String, Value)> {
    let file = std::fs::File::open(EXAMPLES).expect("the pinned examples package is present");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut resources = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let Some(name) = path.strip_prefix("package/") else {
            continue;
        };
        if !name.ends_with(".json") || name == "package.json" || name.contains('/') {
            continue;
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        resources.push((name.to_owned(), value));
    }
    resources
}

#[test]
fn every_official_example_validates() {
    let examples = examples();
    assert_eq!(examples.len(), 5306);
    let mut elapsed = Duration::ZERO;
    let mut unexpected = Vec::new();
    let mut checked_known = 0;
    for (name, resource) in &examples {
        let start = Instant::now();
        let issues = validate_resource(resource);
        elapsed += start.elapsed();
        let found: Vec<(&str, &str)> = issues
            .iter()
            .map(|i| (i.code, i.expression.as_deref().unwrap_or("")))
            .collect();
        match KNOWN_INVALID.iter().find(|(known, _, _)| known == name) {
            Some((_, _, expected)) => {
                checked_known += 1;
                if found != *expected {
                    unexpected.push(format!("{name}: expected {expected:?}, found {issues:?}"));
                }
            }
            None if issues.is_empty() => {}
            None => {
                for issue in issues {
                    unexpected.push(format!(
                        "{name}: {} at {}: {}",
                        issue.code,
                        issue.expression.unwrap_or_default(),
                        issue.diagnostics
                    ));
                }
            }
        }
    }
    eprintln!(
        "validated {} official examples in {elapsed:?}",
        examples.len()
    );
    assert_eq!(
        checked_known,
        KNOWN_INVALID.len(),
        "a known invalid example is missing"
    );
    assert!(
        unexpected.is_empty(),
        "{} unexpected results:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
}
