//! Compartment search (`Patient/1/Observation`) and `Patient/1/$everything` with paging,
//! `_since`, `_type` and `_count`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{get_bundle, link, put, refs_with_mode, search};

crate::on_both_backends!(compartment_search, everything_with_paging_since_and_type);

/// pc1 (organization org1, GP dr1) with Observations ob1 (performer dr1), ob3, Encounter en1,
/// Condition cond1; pc2 with ob2. Organization org2 is unrelated.
async fn seed(app: &TestApp) {
    put(app, "Organization/org1", json!({"name": "Org one"})).await;
    put(app, "Organization/org2", json!({"name": "Org two"})).await;
    put(
        app,
        "Practitioner/dr1",
        json!({"name": [{"family": "Who"}]}),
    )
    .await;
    put(
        app,
        "Patient/pc1",
        json!({
            "managingOrganization": {"reference": "Organization/org1"},
            "generalPractitioner": [{"reference": "Practitioner/dr1"}]
        }),
    )
    .await;
    put(app, "Patient/pc2", json!({"gender": "male"})).await;
    let observation = |subject: &str, code: &str| {
        json!({
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": subject}
        })
    };
    let mut ob1 = observation("Patient/pc1", "8480-6");
    ob1["performer"] = json!([{"reference": "Practitioner/dr1"}]);
    put(app, "Observation/ob1", ob1).await;
    put(app, "Observation/ob2", observation("Patient/pc2", "8480-6")).await;
    put(app, "Observation/ob3", observation("Patient/pc1", "8310-5")).await;
    put(
        app,
        "Encounter/en1",
        json!({
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/pc1"}
        }),
    )
    .await;
    put(
        app,
        "Condition/cond1",
        json!({"subject": {"reference": "Patient/pc1"}, "code": {"text": "Flu"}}),
    )
    .await;
}

async fn compartment_search(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let bundle = search(&app, "Patient/pc1/Observation").await;
    assert_eq!(
        refs_with_mode(&bundle, "match"),
        ["Observation/ob1", "Observation/ob3"]
    );
    let bundle = search(&app, "Patient/pc2/Observation").await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Observation/ob2"]);
    // Search parameters apply within the compartment.
    let bundle = search(&app, "Patient/pc1/Observation?code=8480-6").await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Observation/ob1"]);
    let bundle = search(&app, "Patient/pc1/Condition").await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Condition/cond1"]);
    let bundle = search(&app, "Patient/pc1/Encounter").await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Encounter/en1"]);
    // Organization is not in the Patient compartment: nothing, even though pc1 refers to one.
    let bundle = search(&app, "Patient/pc1/Organization").await;
    assert!(refs_with_mode(&bundle, "match").is_empty(), "{bundle}");
    // A patient with nothing in the compartment.
    let bundle = search(&app, "Patient/nobody/Observation").await;
    assert!(refs_with_mode(&bundle, "match").is_empty(), "{bundle}");
    // Paging inside a compartment.
    let first = search(&app, "Patient/pc1/Observation?_count=1").await;
    assert_eq!(refs_with_mode(&first, "match").len(), 1);
    let second = get_bundle(&app, &link(&first, "next").expect("next")).await;
    let mut both = refs_with_mode(&first, "match");
    both.extend(refs_with_mode(&second, "match"));
    both.sort();
    assert_eq!(both, ["Observation/ob1", "Observation/ob3"]);
}

/// Every resource of every page (`Type/id`, duplicates kept) and the number of pages.
async fn all_everything_pages(app: &TestApp, query: &str) -> (Vec<String>, usize) {
    let mut bundle = search(app, query).await;
    let mut refs = Vec::new();
    for pages in 1..100 {
        for entry in bundle["entry"].as_array().into_iter().flatten() {
            if entry["resource"]["resourceType"] == "OperationOutcome" {
                continue;
            }
            refs.push(format!(
                "{}/{}",
                entry["resource"]["resourceType"].as_str().unwrap(),
                entry["resource"]["id"].as_str().unwrap()
            ));
        }
        match link(&bundle, "next") {
            Some(next) => bundle = get_bundle(app, &next).await,
            None => return (refs, pages),
        }
    }
    panic!("paging does not end");
}

async fn everything_with_paging_since_and_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // The patient, its compartment, and what they refer to (org1, dr1); nothing of pc2.
    let (mut all, _) = all_everything_pages(&app, "Patient/pc1/$everything").await;
    all.sort();
    let expected = [
        "Condition/cond1",
        "Encounter/en1",
        "Observation/ob1",
        "Observation/ob3",
        "Organization/org1",
        "Patient/pc1",
        "Practitioner/dr1",
    ];
    assert_eq!(all, expected);
    // Paging with _count=2: several pages, the same set, each resource once.
    let (mut paged, pages) = all_everything_pages(&app, "Patient/pc1/$everything?_count=2").await;
    assert!(pages >= 2, "{pages} page(s)");
    let count = paged.len();
    paged.sort();
    paged.dedup();
    assert_eq!(paged.len(), count, "duplicates across pages");
    assert_eq!(paged, expected);
    // _type: only those types.
    let (mut typed, _) =
        all_everything_pages(&app, "Patient/pc1/$everything?_type=Observation,Condition").await;
    typed.sort();
    assert_eq!(
        typed,
        ["Condition/cond1", "Observation/ob1", "Observation/ob3"]
    );
    // _since: only what changed at or after the instant.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let updated = put(
        &app,
        "Observation/ob3",
        json!({
            "status": "amended",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
            "subject": {"reference": "Patient/pc1"}
        }),
    )
    .await;
    let since = updated["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .replace('+', "%2B");
    let (changed, _) =
        all_everything_pages(&app, &format!("Patient/pc1/$everything?_since={since}")).await;
    assert_eq!(changed, ["Observation/ob3"]);
    // An unknown patient: 404.
    let response = app.get("/Patient/nobody/$everything").await;
    crate::helpers::expect_outcome(response, 404).await;
}
