//! Batch and transaction Bundles (work in progress for issue 4).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_outcome, json_body};
use crate::search_helpers::search;

crate::on_both_backends!(
    a_transaction_rewrites_urn_references_and_commits_together,
    a_failed_transaction_leaves_no_trace,
    a_batch_reports_each_entry,
    conditional_entries_and_references_resolve_through_search,
);

async fn conditional_entries_and_references_resolve_through_search(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let identifier = json!([{"system": "http://example.org/mrn", "value": "42"}]);
    crate::search_helpers::put(
        &app,
        "Patient/known",
        json!({"resourceType": "Patient", "identifier": identifier}),
    )
    .await;
    let bundle = || {
        transaction(vec![
            json!({
                "fullUrl": "urn:uuid:0f8c2f4e-2b1a-4c55-9a62-2d6f0c7e9a11",
                "resource": {"resourceType": "Organization", "name": "Clinic",
                             "identifier": [{"system": "http://example.org/org", "value": "c1"}]},
                "request": {"method": "POST", "url": "Organization",
                            "ifNoneExist": "identifier=http://example.org/org|c1"}
            }),
            json!({
                "resource": {
                    "resourceType": "Observation",
                    "id": "obs-c",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient?identifier=http://example.org/mrn|42"},
                    "performer": [{"reference": "urn:uuid:0f8c2f4e-2b1a-4c55-9a62-2d6f0c7e9a11"}]
                },
                "request": {"method": "PUT", "url": "Observation?code:text=x"}
            }),
        ])
    };
    let first = json_body(post_bundle(&app, &bundle()).await).await;
    assert_eq!(
        first["entry"][0]["response"]["status"], "201 Created",
        "{first}"
    );
    assert_eq!(
        first["entry"][1]["response"]["status"], "201 Created",
        "{first}"
    );
    // Again: the organization exists (200, not created twice), the observation is updated.
    let second = json_body(post_bundle(&app, &bundle()).await).await;
    assert_eq!(
        second["entry"][0]["response"]["status"], "200 OK",
        "{second}"
    );
    assert_eq!(
        second["entry"][1]["response"]["status"], "200 OK",
        "{second}"
    );
    let organizations = search(&app, "Organization?_summary=count").await;
    assert_eq!(organizations["total"], 1);
    let observation = json_body(app.get("/Observation/obs-c").await).await;
    assert_eq!(observation["subject"]["reference"], "Patient/known");
    assert!(
        observation["performer"][0]["reference"]
            .as_str()
            .unwrap()
            .starts_with("Organization/")
    );
    // A conditional reference that matches nothing: 412, nothing stored.
    let before = app.version_count().await;
    let dangling = transaction(vec![json!({
        "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                     "subject": {"reference": "Patient?identifier=http://example.org/mrn|nobody"}},
        "request": {"method": "POST", "url": "Observation"}
    })]);
    expect_outcome(post_bundle(&app, &dangling).await, 412).await;
    assert_eq!(app.version_count().await, before);
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

async fn post_bundle(app: &TestApp, bundle: &Value) -> reqwest::Response {
    app.send_json(Method::POST, "", bundle).await
}

async fn a_transaction_rewrites_urn_references_and_commits_together(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bundle = transaction(vec![
        json!({
            "fullUrl": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a",
            "resource": {"resourceType": "Patient", "name": [{"family": "Tx"}]},
            "request": {"method": "POST", "url": "Patient"}
        }),
        json!({
            "fullUrl": "urn:uuid:88f151c0-a954-468a-88bd-5ae15c08e059",
            "resource": {
                "resourceType": "Observation",
                "status": "final",
                "code": {"text": "weight"},
                "subject": {"reference": "urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"}
            },
            "request": {"method": "POST", "url": "Observation"}
        }),
        json!({"request": {"method": "GET", "url": "Patient?family=tx"}}),
    ]);
    let response = post_bundle(&app, &bundle).await;
    assert_eq!(response.status(), 200);
    let answer = json_body(response).await;
    assert_eq!(answer["type"], "transaction-response");
    assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
    let location = answer["entry"][0]["response"]["location"].as_str().unwrap();
    let patient_id = location.split('/').rev().nth(2).unwrap().to_owned();
    // The GET ran after the writes.
    assert_eq!(
        answer["entry"][2]["resource"]["entry"][0]["resource"]["id"],
        json!(patient_id)
    );
    let found = search(&app, &format!("Observation?subject=Patient/{patient_id}")).await;
    assert_eq!(found["entry"].as_array().map_or(0, Vec::len), 1, "{found}");
}

async fn a_failed_transaction_leaves_no_trace(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = app.version_count().await;
    let bundle = transaction(vec![
        json!({
            "resource": {"resourceType": "Patient", "name": [{"family": "Ghost"}]},
            "request": {"method": "POST", "url": "Patient"}
        }),
        json!({
            "resource": {"resourceType": "Patient", "id": "p2", "birthDate": "not a date"},
            "request": {"method": "PUT", "url": "Patient/p2"}
        }),
    ]);
    expect_outcome(post_bundle(&app, &bundle).await, 422).await;
    // A failed precondition in the last entry.
    let bundle = transaction(vec![
        json!({
            "resource": {"resourceType": "Patient", "name": [{"family": "Ghost"}]},
            "request": {"method": "POST", "url": "Patient"}
        }),
        json!({
            "resource": {"resourceType": "Patient", "id": "p3"},
            "request": {"method": "PUT", "url": "Patient/p3", "ifMatch": "W/\"4\""}
        }),
    ]);
    expect_outcome(post_bundle(&app, &bundle).await, 412).await;
    assert_eq!(app.version_count().await, before);
    let ghosts = search(&app, "Patient?family=ghost&_summary=count").await;
    assert_eq!(ghosts["total"], 0);
    // Not a batch or transaction; an entry without a request.
    let document = json!({"resourceType": "Bundle", "type": "collection"});
    expect_outcome(post_bundle(&app, &document).await, 400).await;
    let no_request = transaction(vec![json!({"resource": {"resourceType": "Patient"}})]);
    expect_outcome(post_bundle(&app, &no_request).await, 400).await;
}

async fn a_batch_reports_each_entry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "id": "b1"}, "request": {"method": "PUT", "url": "Patient/b1"}},
        {"resource": {"resourceType": "Patient", "birthDate": "bad"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/b1"}}
    ]});
    let answer = json_body(post_bundle(&app, &bundle).await).await;
    assert_eq!(answer["type"], "batch-response");
    assert_eq!(answer["entry"][0]["response"]["status"], "201 Created");
    assert!(
        answer["entry"][1]["response"]["status"]
            .as_str()
            .unwrap()
            .starts_with("422")
    );
    assert_eq!(
        answer["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert_eq!(answer["entry"][2]["resource"]["id"], "b1");
}
