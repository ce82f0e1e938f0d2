//! SearchParameters created in a tenant become searchable there after an online reindex;
//! `$reindex` shows the progress; unusable SearchParameters are refused.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_outcome, json_body};
use crate::search_helpers::{expect_ids, put, search};

crate::on_both_backends!(
    a_new_search_parameter_becomes_searchable,
    unusable_search_parameters_are_refused,
    reindex_reports_progress_and_keeps_search_working,
);

fn eye_colour_patient(colour: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "extension": [{"url": "http://example.org/eye-colour", "valueString": colour}]
    })
}

fn eye_colour_parameter() -> Value {
    json!({
        "resourceType": "SearchParameter",
        "url": "http://example.org/SearchParameter/eye-colour",
        "name": "EyeColour",
        "status": "active",
        "description": "The colour of the patient's eyes",
        "code": "eye-colour",
        "base": ["Patient"],
        "type": "token",
        "expression": "Patient.extension.where(url = 'http://example.org/eye-colour').value"
    })
}

async fn a_new_search_parameter_becomes_searchable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (id, colour) in [("p1", "blue"), ("p2", "brown"), ("p3", "blue")] {
        put(&app, &format!("Patient/{id}"), eye_colour_patient(colour)).await;
    }
    // Unknown before: ignored with an outcome under lenient handling.
    let before = search(&app, "Patient?eye-colour=blue").await;
    assert!(
        before["entry"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["search"]["mode"] == "outcome"),
        "{before}"
    );
    let created = app.create(&eye_colour_parameter()).await;
    assert_eq!(created.status(), 201);
    // Sent right after the write: answers once the reindex is complete, with every match.
    expect_ids(&app, "Patient?eye-colour=blue", &["p1", "p3"]).await;
    // New writes are extracted with the new parameter.
    put(&app, "Patient/p4", eye_colour_patient("blue")).await;
    expect_ids(&app, "Patient?eye-colour=blue", &["p1", "p3", "p4"]).await;
    let status = json_body(app.get("/$reindex").await).await;
    assert_eq!(parameter(&status, "status"), json!("complete"), "{status}");
    assert!(parameter(&status, "processed").as_u64().unwrap() >= 3);
    // Another tenant does not know the parameter.
    app.store.create_tenant("elsewhere").await.unwrap();
    let other = app
        .client
        .get(format!(
            "{}/t/elsewhere/fhir/Patient?eye-colour=blue",
            app.origin
        ))
        .header("prefer", "handling=strict")
        .send()
        .await
        .unwrap();
    expect_outcome(other, 400).await;
}

async fn unusable_search_parameters_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut bad_expression = eye_colour_parameter();
    bad_expression["expression"] = json!("Patient.extension.where(");
    expect_outcome(app.create(&bad_expression).await, 422).await;
    let mut too_deep = eye_colour_parameter();
    too_deep["expression"] = json!(format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000)));
    expect_outcome(app.create(&too_deep).await, 422).await;
    let mut no_code = eye_colour_parameter();
    no_code.as_object_mut().unwrap().remove("code");
    expect_outcome(app.create(&no_code).await, 422).await;
    // Nothing was stored.
    let bundle = search(&app, "SearchParameter?_summary=count").await;
    assert_eq!(bundle["total"], 0);
}

async fn reindex_reports_progress_and_keeps_search_working(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    expect_outcome(app.get("/$reindex").await, 404).await;
    for i in 0..30 {
        put(
            &app,
            &format!("Patient/r{i}"),
            json!({"resourceType": "Patient", "name": [{"family": format!("Reindex{i}")}]}),
        )
        .await;
    }
    let started = app.request(Method::POST, "/$reindex").send().await.unwrap();
    assert_eq!(started.status(), 202);
    // Searches and writes go on while it runs.
    expect_ids(
        &app,
        "Patient?family=reindex1&_count=100",
        &[
            "r1", "r10", "r11", "r12", "r13", "r14", "r15", "r16", "r17", "r18", "r19",
        ],
    )
    .await;
    put(
        &app,
        "Patient/late",
        json!({"resourceType": "Patient", "name": [{"family": "Late"}]}),
    )
    .await;
    let mut status = Value::Null;
    for _ in 0..400 {
        status = json_body(app.get("/$reindex").await).await;
        if parameter(&status, "status") == json!("complete") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(parameter(&status, "status"), json!("complete"), "{status}");
    assert_eq!(parameter(&status, "total"), parameter(&status, "processed"));
    expect_ids(&app, "Patient?family=late", &["late"]).await;
    expect_ids(&app, "Patient?family=reindex29", &["r29"]).await;
}

fn parameter(parameters: &Value, name: &str) -> Value {
    parameters["parameter"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .map(|p| {
            p.as_object()
                .unwrap()
                .iter()
                .find(|(k, _)| k.starts_with("value"))
                .map(|(_, v)| v.clone())
                .unwrap()
        })
        .unwrap_or(Value::Null)
}
