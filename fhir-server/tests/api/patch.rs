//! PATCH with JSON Patch and FHIRPath Patch (conditional PATCH and PATCH entries: `bundle_patch.rs`).

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_outcome, json_body};
use crate::search_helpers::put;

crate::on_both_backends!(json_patch_edits_and_validates, fhirpath_patch_edits);

async fn fhirpath_patch_edits(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/fp",
        json!({"resourceType": "Patient", "name": [{"family": "Before"}]}),
    )
    .await;
    let parameters = json!({"resourceType": "Parameters", "parameter": [{
        "name": "operation",
        "part": [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "birthDate"},
            {"name": "value", "valueDate": "1990-04-01"}
        ]
    }]});
    let patched = app
        .request(Method::PATCH, "/Patient/fp")
        .header("content-type", "application/fhir+json")
        .body(parameters.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let current = json_body(app.get("/Patient/fp").await).await;
    assert_eq!(current["birthDate"], "1990-04-01");
    // Replacing an element that is not there: 422, nothing stored.
    let missing = json!({"resourceType": "Parameters", "parameter": [{
        "name": "operation",
        "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.gender"},
            {"name": "value", "valueCode": "female"}
        ]
    }]});
    let refused = app
        .request(Method::PATCH, "/Patient/fp")
        .header("content-type", "application/fhir+json")
        .body(missing.to_string())
        .send()
        .await
        .unwrap();
    expect_outcome(refused, 422).await;
    let unchanged = json_body(app.get("/Patient/fp").await).await;
    assert_eq!(unchanged["meta"]["versionId"], "2");
}

async fn json_patch_edits_and_validates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/jp",
        json!({"resourceType": "Patient", "name": [{"family": "Before"}], "active": true}),
    )
    .await;
    let send = |body: serde_json::Value, if_match: Option<&'static str>| {
        let mut request = app
            .request(Method::PATCH, "/Patient/jp")
            .header("content-type", "application/json-patch+json")
            .body(body.to_string());
        if let Some(etag) = if_match {
            request = request.header("if-match", etag);
        }
        request.send()
    };
    let patched = send(
        json!([{"op": "replace", "path": "/name/0/family", "value": "After"}, {"op": "remove", "path": "/active"}]),
        None,
    )
    .await
    .unwrap();
    assert_eq!(patched.status(), 200);
    let current = json_body(app.get("/Patient/jp").await).await;
    assert_eq!(current["name"][0]["family"], "After");
    assert!(current.get("active").is_none());
    assert_eq!(current["meta"]["versionId"], "2");
    // A patch that breaks the resource: 422, nothing stored.
    expect_outcome(
        send(
            json!([{"op": "add", "path": "/birthDate", "value": "not a date"}]),
            None,
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    // A failed test op, a stale If-Match, a bad pointer.
    expect_outcome(
        send(
            json!([{"op": "test", "path": "/name/0/family", "value": "Nope"}]),
            None,
        )
        .await
        .unwrap(),
        422,
    )
    .await;
    expect_outcome(
        send(json!([{"op": "remove", "path": "/name"}]), Some("W/\"1\""))
            .await
            .unwrap(),
        412,
    )
    .await;
    expect_outcome(
        send(json!([{"op": "remove", "path": "name"}]), None)
            .await
            .unwrap(),
        400,
    )
    .await;
    let unchanged = json_body(app.get("/Patient/jp").await).await;
    assert_eq!(unchanged["meta"]["versionId"], "2");
}
