//! PATCH entries in batch and transaction Bundles, and conditional PATCH.

use reqwest::Method;
use serde_json::{Value, json};

use crate::bundle_helpers::{
    batch, commit, json_patch_binary, located, post_bundle, refused, snapshot, status, transaction,
};
use crate::helpers::{Backend, TestApp, expect_outcome, json_body};
use crate::search_helpers::put;

crate::on_both_backends!(
    patch_entries_apply_to_the_current_version_with_urns_rewritten,
    conditional_patch_patches_the_one_match,
    patch_entries_that_cannot_apply_fail,
);

fn add_birth_date(date: &str) -> Value {
    json!({"resourceType": "Parameters", "parameter": [{
        "name": "operation",
        "part": [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "birthDate"},
            {"name": "value", "valueDate": date}
        ]
    }]})
}

async fn patch_entries_apply_to_the_current_version_with_urns_rewritten(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/p1",
        json!({"resourceType": "Patient", "active": true}),
    )
    .await;
    put(
        &app,
        "Patient/p2",
        json!({"resourceType": "Patient", "active": true}),
    )
    .await;
    put(
        &app,
        "Patient/p2",
        json!({"resourceType": "Patient", "active": false}),
    )
    .await;
    let org = "urn:uuid:7f1c7f5e-4c1b-4f7e-9a3d-1b2c3d4e5f60";
    let answer = commit(
        &app,
        &transaction(vec![
            json!({
                "resource": json_patch_binary(json!([
                    {"op": "add", "path": "/managingOrganization", "value": {"reference": org}},
                    {"op": "add", "path": "/link", "value": [{"other": {"reference": "Patient/p2"}, "type": "seealso"}]},
                    {"op": "replace", "path": "/link/0/other/reference", "value": org}
                ])),
                "request": {"method": "PATCH", "url": "Patient/p1"}
            }),
            json!({
                "resource": {"resourceType": "Parameters", "parameter": [{
                    "name": "operation",
                    "part": [
                        {"name": "type", "valueCode": "add"},
                        {"name": "path", "valueString": "Patient"},
                        {"name": "name", "valueString": "generalPractitioner"},
                        {"name": "value", "valueReference": {"reference": org}}
                    ]
                }]},
                "request": {"method": "PATCH", "url": "Patient/p2", "ifMatch": "W/\"2\""}
            }),
            json!({
                "fullUrl": org,
                "resource": {"resourceType": "Organization", "name": "Patched in"},
                "request": {"method": "POST", "url": "Organization"}
            }),
        ]),
    )
    .await;
    assert_eq!(status(&answer, 0), "200 OK");
    assert_eq!(status(&answer, 1), "200 OK");
    assert_eq!(answer["entry"][1]["response"]["etag"], "W/\"3\"");
    let organization = located(&answer, 2);
    let p1 = json_body(app.get("/Patient/p1").await).await;
    assert_eq!(p1["managingOrganization"]["reference"], json!(organization));
    assert_eq!(p1["link"][0]["other"]["reference"], json!(organization));
    assert_eq!(p1["active"], true);
    assert_eq!(p1["meta"]["versionId"], "2");
    let p2 = json_body(app.get("/Patient/p2").await).await;
    assert_eq!(
        p2["generalPractitioner"][0]["reference"],
        json!(organization)
    );
    assert_eq!(p2["meta"]["versionId"], "3");
    // The same in a batch (no urns there): both formats.
    let answer = commit(
        &app,
        &batch(vec![
            json!({"resource": add_birth_date("1970-01-01"), "request": {"method": "PATCH", "url": "Patient/p1"}}),
            json!({
                "resource": json_patch_binary(json!([{"op": "remove", "path": "/active"}])),
                "request": {"method": "PATCH", "url": "Patient/p2"}
            }),
        ]),
    )
    .await;
    assert_eq!(status(&answer, 0), "200 OK", "{answer}");
    assert_eq!(status(&answer, 1), "200 OK", "{answer}");
    let p1 = json_body(app.get("/Patient/p1").await).await;
    assert_eq!(p1["birthDate"], "1970-01-01");
    let p2 = json_body(app.get("/Patient/p2").await).await;
    assert!(p2.get("active").is_none());
}

async fn conditional_patch_patches_the_one_match(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let with_identifier = |value: &str| json!({"resourceType": "Patient", "identifier": [{"system": "http://example.org/cp", "value": value}]});
    put(&app, "Patient/c1", with_identifier("one")).await;
    put(&app, "Patient/c2", with_identifier("two")).await;
    put(&app, "Patient/c3", with_identifier("two")).await;
    let send = |query: &'static str| {
        app.request(Method::PATCH, &format!("/Patient?{query}"))
            .header("content-type", "application/json-patch+json")
            .body(json!([{"op": "add", "path": "/gender", "value": "female"}]).to_string())
            .send()
    };
    let patched = send("identifier=http://example.org/cp|one").await.unwrap();
    assert_eq!(patched.status(), 200);
    let c1 = json_body(app.get("/Patient/c1").await).await;
    assert_eq!(c1["gender"], "female");
    assert_eq!(c1["meta"]["versionId"], "2");
    let before = snapshot(&app).await;
    refused(
        &app,
        &before,
        send("identifier=http://example.org/cp|none").await.unwrap(),
        404,
    )
    .await;
    refused(
        &app,
        &before,
        send("identifier=http://example.org/cp|two").await.unwrap(),
        412,
    )
    .await;
    refused(&app, &before, send("").await.unwrap(), 400).await;
    // In Bundles: a transaction fails as a whole, a batch entry on its own.
    let entry = |query: &str| {
        json!({
            "resource": add_birth_date("2000-02-02"),
            "request": {"method": "PATCH", "url": format!("Patient?{query}")}
        })
    };
    let answer = commit(
        &app,
        &transaction(vec![entry("identifier=http://example.org/cp|one")]),
    )
    .await;
    assert_eq!(status(&answer, 0), "200 OK");
    assert_eq!(answer["entry"][0]["response"]["etag"], "W/\"3\"");
    let before = snapshot(&app).await;
    for (query, code) in [
        ("identifier=http://example.org/cp|none", 404),
        ("identifier=http://example.org/cp|two", 412),
    ] {
        let bundle = transaction(vec![
            json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}),
            entry(query),
        ]);
        refused(&app, &before, post_bundle(&app, &bundle).await, code).await;
    }
    let answer = commit(
        &app,
        &batch(vec![
            entry("identifier=http://example.org/cp|none"),
            entry("identifier=http://example.org/cp|two"),
            json!({
                "resource": json_patch_binary(json!([{"op": "replace", "path": "/birthDate", "value": "2001-01-01"}])),
                "request": {"method": "PATCH", "url": "Patient?identifier=http://example.org/cp|one"}
            }),
        ]),
    )
    .await;
    assert_eq!(status(&answer, 0), "404 Not Found");
    assert_eq!(status(&answer, 1), "412 Precondition Failed");
    assert_eq!(status(&answer, 2), "200 OK", "{answer}");
    let c1 = json_body(app.get("/Patient/c1").await).await;
    assert_eq!(c1["birthDate"], "2001-01-01");
    // The CapabilityStatement says so.
    let statement = json_body(app.get("/metadata").await).await;
    let patient = statement["rest"][0]["resource"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "Patient")
        .unwrap()
        .clone();
    assert_eq!(patient["extension"][0]["valueBoolean"], true, "{patient}");
    assert!(
        patient["extension"][0]["url"]
            .as_str()
            .unwrap()
            .ends_with("conditionalPatch")
    );
}

async fn patch_entries_that_cannot_apply_fail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/x",
        json!({"resourceType": "Patient", "gender": "male"}),
    )
    .await;
    let before = snapshot(&app).await;
    let post = json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}});
    let cases = [
        // The patch breaks the resource: 422.
        (
            json_patch_binary(json!([{"op": "add", "path": "/birthDate", "value": "not a date"}])),
            422,
        ),
        // A failed test operation: 422.
        (
            json_patch_binary(json!([{"op": "test", "path": "/gender", "value": "female"}])),
            422,
        ),
        // Not a Binary or a Parameters: 400.
        (json!({"resourceType": "Patient", "gender": "female"}), 400),
        // A Binary of another content type: 400.
        (
            json!({"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="}),
            400,
        ),
        // A Binary whose data is not a JSON Patch: 400.
        (
            json!({"resourceType": "Binary", "contentType": "application/json-patch+json", "data": "bm90IGpzb24="}),
            400,
        ),
    ];
    for (resource, code) in &cases {
        let bundle = transaction(vec![
            post.clone(),
            json!({"resource": resource, "request": {"method": "PATCH", "url": "Patient/x"}}),
        ]);
        let outcome = refused(&app, &before, post_bundle(&app, &bundle).await, *code).await;
        assert!(outcome.to_string().contains("Bundle.entry[1]"), "{outcome}");
    }
    // A PATCH entry without a resource, of a missing and of a deleted resource.
    let no_resource = transaction(vec![
        json!({"request": {"method": "PATCH", "url": "Patient/x"}}),
    ]);
    refused(&app, &before, post_bundle(&app, &no_resource).await, 400).await;
    let missing = transaction(vec![json!({
        "resource": add_birth_date("2000-01-01"),
        "request": {"method": "PATCH", "url": "Patient/nobody"}
    })]);
    refused(&app, &before, post_bundle(&app, &missing).await, 404).await;
    // In a batch, each bad PATCH fails its entry alone.
    let entries: Vec<Value> = cases
        .iter()
        .map(|(resource, _)| json!({"resource": resource, "request": {"method": "PATCH", "url": "Patient/x"}}))
        .chain([post])
        .collect();
    let answer = commit(&app, &batch(entries)).await;
    for (index, (_, code)) in cases.iter().enumerate() {
        assert!(
            status(&answer, index).starts_with(&code.to_string()),
            "{answer}"
        );
        assert_eq!(
            answer["entry"][index]["response"]["outcome"]["resourceType"],
            "OperationOutcome"
        );
    }
    assert_eq!(status(&answer, cases.len()), "201 Created");
    let x = json_body(app.get("/Patient/x").await).await;
    assert_eq!(x["meta"]["versionId"], "1");
    expect_outcome(app.get("/Patient/nobody").await, 404).await;
}
