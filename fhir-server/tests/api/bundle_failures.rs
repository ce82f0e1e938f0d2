//! What fails in Bundles, and that a failed transaction leaves stored data, versions and search
//! results exactly as they were; batch entries fail one by one.

use serde_json::{Value, json};

use crate::bundle_helpers::{
    Snapshot, batch, commit, join_all, json_patch_binary, post_bundle, refused, snapshot, status,
    transaction,
};
use crate::helpers::{Backend, Options, TestApp, json_body};
use crate::search_helpers::{put, search};

crate::on_both_backends!(
    rollback_of_an_invalid_resource,
    rollback_of_a_failed_precondition,
    rollback_of_a_version_conflict,
    rollback_of_a_broken_invariant,
    a_batch_stores_the_good_entries_and_reports_the_bad,
    bad_bundles_are_refused_whole,
    a_resource_written_twice_is_refused,
    bundle_limits_answer_413,
);

/// A resource to change and a search that sees it, so each rollback test checks stored data,
/// versions and search results.
async fn fixture(app: &TestApp) -> (Snapshot, Value) {
    put(
        app,
        "Patient/keep",
        json!({"resourceType": "Patient", "name": [{"family": "Rollback"}]}),
    )
    .await;
    (snapshot(app).await, rollback_search(app).await)
}

async fn rollback_search(app: &TestApp) -> Value {
    let mut found = search(app, "Patient?family=rollback").await;
    found.as_object_mut().unwrap().remove("meta");
    found.as_object_mut().unwrap().remove("id");
    found
}

/// Writes of every kind, each of which the failure must undo.
fn writes() -> Vec<Value> {
    vec![
        json!({"request": {"method": "DELETE", "url": "Patient/keep"}}),
        json!({
            "resource": {"resourceType": "Patient", "name": [{"family": "Rollback"}]},
            "request": {"method": "POST", "url": "Patient"}
        }),
        json!({
            "resource": {"resourceType": "Patient", "id": "new", "name": [{"family": "Rollback"}]},
            "request": {"method": "PUT", "url": "Patient/new"}
        }),
    ]
}

async fn expect_rollback(app: &TestApp, failing: Value, code: u16) {
    let (before, found) = fixture(app).await;
    let mut entries = writes();
    entries.push(failing);
    refused(
        app,
        &before,
        post_bundle(app, &transaction(entries)).await,
        code,
    )
    .await;
    assert_eq!(rollback_search(app).await, found);
}

async fn rollback_of_an_invalid_resource(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let invalid = json!({
        "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                     "valueQuantity": {"value": "12"}},
        "request": {"method": "POST", "url": "Observation"}
    });
    let (before, found) = fixture(&app).await;
    let mut entries = writes();
    entries.push(invalid);
    let outcome = refused(
        &app,
        &before,
        post_bundle(&app, &transaction(entries)).await,
        422,
    )
    .await;
    assert_eq!(rollback_search(&app).await, found);
    // The issue is located in the entry's resource.
    let location = outcome["issue"][0]["expression"][0]
        .as_str()
        .unwrap_or_default();
    assert!(
        location.starts_with("Bundle.entry[3].resource."),
        "{outcome}"
    );
}

async fn rollback_of_a_failed_precondition(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(&app, "Patient/other", json!({"resourceType": "Patient"})).await;
    expect_rollback(
        &app,
        json!({
            "resource": {"resourceType": "Patient", "id": "other"},
            "request": {"method": "PUT", "url": "Patient/other", "ifMatch": "W/\"5\""}
        }),
        412,
    )
    .await;
}

/// A patch is applied to the version it read; when another write comes first, the transaction
/// fails with 409 and none of its writes stay. The race is real (concurrent requests), so the
/// test runs rounds until it has seen both outcomes' consequences, and checks every answer.
async fn rollback_of_a_version_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/hot",
        json!({"resourceType": "Patient", "active": true}),
    )
    .await;
    let versions_before = app.version_count().await;
    let mut conflicts = 0;
    let mut successes = 0;
    for round in 0..20 {
        let requests = (0..8).map(|n| {
            let bundle = transaction(vec![
                json!({
                    "resource": {"resourceType": "Patient",
                                 "identifier": [{"system": "http://example.org/race", "value": format!("{round}-{n}")}]},
                    "request": {"method": "POST", "url": "Patient"}
                }),
                json!({
                    "resource": json_patch_binary(json!([{"op": "replace", "path": "/active", "value": n % 2 == 0}])),
                    "request": {"method": "PATCH", "url": "Patient/hot"}
                }),
            ]);
            let app = &app;
            async move { (n, post_bundle(app, &bundle).await) }
        });
        for (n, response) in join_all(requests).await {
            let code = response.status().as_u16();
            let body = json_body(response).await;
            let marker = search(
                &app,
                &format!("Patient?identifier=http://example.org/race|{round}-{n}&_summary=count"),
            )
            .await;
            match code {
                200 => {
                    successes += 1;
                    assert_eq!(marker["total"], 1, "{body}");
                }
                409 => {
                    conflicts += 1;
                    assert_eq!(body["resourceType"], "OperationOutcome");
                    assert_eq!(
                        marker["total"], 0,
                        "a failed transaction left its POST: {body}"
                    );
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "no concurrent patch ever conflicted");
    // Every success wrote its marker and one version of the hot patient; the conflicts wrote
    // nothing at all.
    let hot = json_body(app.get("/Patient/hot").await).await;
    assert_eq!(hot["meta"]["versionId"], json!((1 + successes).to_string()));
    assert_eq!(app.version_count().await, versions_before + 2 * successes);
}

async fn rollback_of_a_broken_invariant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // ele-1: every element has a value or children; an empty name breaks it.
    expect_rollback(
        &app,
        json!({
            "resource": {"resourceType": "Patient", "id": "empty-name", "name": [{}]},
            "request": {"method": "PUT", "url": "Patient/empty-name"}
        }),
        422,
    )
    .await;
}

async fn a_batch_stores_the_good_entries_and_reports_the_bad(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(&app, "Patient/b", json!({"resourceType": "Patient"})).await;
    let answer = commit(
        &app,
        &batch(vec![
            json!({"resource": {"resourceType": "Patient", "name": [{"family": "Good"}]},
                   "request": {"method": "POST", "url": "Patient"}}),
            json!({"resource": {"resourceType": "Patient", "birthDate": "bad"},
                   "request": {"method": "POST", "url": "Patient"}}),
            json!({"resource": {"resourceType": "Patient", "id": "b"},
                   "request": {"method": "PUT", "url": "Patient/b", "ifMatch": "W/\"3\""}}),
            json!({"resource": {"resourceType": "Patient", "id": "good2", "name": [{"family": "Good"}]},
                   "request": {"method": "PUT", "url": "Patient/good2"}}),
            json!({"resource": json_patch_binary(json!([{"op": "add", "path": "/active", "value": true}])),
                   "request": {"method": "PATCH", "url": "Patient/missing"}}),
            json!({"request": {"method": "GET", "url": "Patient/missing"}}),
            json!({"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                "subject": {"reference": "urn:uuid:2b7b9d3c-0f0e-4d4a-8f64-2f5d5d8f1c11"}},
                   "request": {"method": "POST", "url": "Observation"}}),
            json!({"request": {"method": "GET", "url": "Nope/1"}}),
            json!({"request": {"method": "DELETE", "url": "Patient/b"}}),
        ]),
    )
    .await;
    let expected = [
        "201 Created",
        "422 Unprocessable Entity",
        "412 Precondition Failed",
        "201 Created",
        "404 Not Found",
        "404 Not Found",
        "400 Bad Request",
        "404 Not Found",
        "204 No Content",
    ];
    for (index, code) in expected.iter().enumerate() {
        assert_eq!(status(&answer, index), *code, "entry {index}: {answer}");
        let outcome = &answer["entry"][index]["response"]["outcome"];
        if code.starts_with('4') {
            assert_eq!(outcome["resourceType"], "OperationOutcome", "{answer}");
            assert_eq!(outcome["issue"][0]["severity"], "error", "{answer}");
        } else {
            assert!(outcome.is_null(), "{answer}");
        }
    }
    let good = search(&app, "Patient?family=good&_summary=count").await;
    assert_eq!(good["total"], 2);
    let observations = search(&app, "Observation?_summary=count").await;
    assert_eq!(observations["total"], 0);
}

async fn bad_bundles_are_refused_whole(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(&app, "Patient/b", json!({"resourceType": "Patient"})).await;
    let before = snapshot(&app).await;
    let good = json!({"resource": {"resourceType": "Patient", "name": [{"family": "Bad"}]},
                      "request": {"method": "POST", "url": "Patient"}});
    let urn = "urn:uuid:5d0f5c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
    let with = |entries: Vec<Value>| {
        let mut all = vec![good.clone()];
        all.extend(entries);
        all
    };
    let mut cases: Vec<(&str, Value, u16)> = Vec::new();
    for kind in ["batch", "transaction"] {
        let bundle = |entries: Vec<Value>| json!({"resourceType": "Bundle", "type": kind, "entry": with(entries)});
        cases.extend([
            ("duplicate fullUrls", bundle(vec![
                json!({"fullUrl": urn, "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}),
                json!({"fullUrl": urn, "resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}),
            ]), 400),
            ("no request", bundle(vec![json!({"resource": {"resourceType": "Patient"}})]), 400),
            ("a method and no url", bundle(vec![json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST"}})]), 400),
            ("an unknown method", bundle(vec![json!({"resource": {"resourceType": "Patient"}, "request": {"method": "MERGE", "url": "Patient"}})]), 400),
        ]);
    }
    cases.extend([
        ("a collection", json!({"resourceType": "Bundle", "type": "collection", "entry": [good.clone()]}), 400),
        ("no type", json!({"resourceType": "Bundle", "entry": [good.clone()]}), 400),
        ("not a Bundle", json!({"resourceType": "Patient"}), 400),
        ("a urn that is no entry", transaction(with(vec![json!({
            "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "subject": {"reference": urn}},
            "request": {"method": "POST", "url": "Observation"}
        })])), 400),
        ("a urn in criteria that is no entry", transaction(with(vec![json!({
            "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}},
            "request": {"method": "POST", "url": "Observation", "ifNoneExist": format!("subject={urn}")}
        })])), 400),
        ("a PATCH that breaks the resource", transaction(with(vec![json!({
            "resource": json_patch_binary(json!([{"op": "add", "path": "/birthDate", "value": "31/12/1999"}])),
            "request": {"method": "PATCH", "url": "Patient/b"}
        })])), 422),
        ("a PATCH of a Patient resource", transaction(with(vec![json!({
            "resource": {"resourceType": "Patient"},
            "request": {"method": "PATCH", "url": "Patient/b"}
        })])), 400),
        ("a POST to an instance", transaction(with(vec![json!({
            "resource": {"resourceType": "Patient"},
            "request": {"method": "POST", "url": "Patient/b"}
        })])), 400),
        ("a resource of another type than the url", transaction(with(vec![json!({
            "resource": {"resourceType": "Observation"},
            "request": {"method": "PUT", "url": "Patient/b"}
        })])), 400),
        ("an unknown type", transaction(with(vec![json!({
            "resource": {"resourceType": "Patient"},
            "request": {"method": "POST", "url": "Nope"}
        })])), 400),
        ("a conditional reference that matches nothing", transaction(with(vec![json!({
            "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                         "subject": {"reference": "Patient?identifier=http://example.org|nobody"}},
            "request": {"method": "POST", "url": "Observation"}
        })])), 412),
    ]);
    for (what, bundle, code) in cases {
        let response = post_bundle(&app, &bundle).await;
        assert_eq!(response.status().as_u16(), code, "{what}");
        refused(&app, &before, response, code).await;
    }
}

async fn a_resource_written_twice_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/twice",
        json!({"resourceType": "Patient", "identifier": [{"system": "http://example.org/t", "value": "1"}]}),
    )
    .await;
    let before = snapshot(&app).await;
    let put_twice = json!({"resource": {"resourceType": "Patient", "id": "twice"},
                           "request": {"method": "PUT", "url": "Patient/twice"}});
    let cases = [
        vec![put_twice.clone(), put_twice.clone()],
        vec![
            put_twice.clone(),
            json!({"resource": json_patch_binary(json!([{"op": "add", "path": "/active", "value": true}])),
                   "request": {"method": "PATCH", "url": "Patient/twice"}}),
        ],
        vec![
            json!({"request": {"method": "DELETE", "url": "Patient/twice"}}),
            put_twice.clone(),
        ],
        // A conditional update that resolves to the same resource.
        vec![
            put_twice.clone(),
            json!({"resource": {"resourceType": "Patient", "gender": "male"},
                   "request": {"method": "PUT", "url": "Patient?identifier=http://example.org/t|1"}}),
        ],
    ];
    for entries in cases {
        let outcome = refused(
            &app,
            &before,
            post_bundle(&app, &transaction(entries)).await,
            400,
        )
        .await;
        assert!(outcome.to_string().contains("Patient/twice"), "{outcome}");
        assert_eq!(outcome["issue"].as_array().unwrap().len(), 2, "{outcome}");
    }
}

async fn bundle_limits_answer_413(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            bundle_max_entries: 3,
            max_body_bytes: 4096,
            ..Options::default()
        },
    )
    .await;
    let before = snapshot(&app).await;
    let entry = json!({"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}});
    let three = vec![entry.clone(), entry.clone(), entry.clone()];
    let four = vec![entry.clone(), entry.clone(), entry.clone(), entry.clone()];
    for bundle in [transaction(four.clone()), batch(four)] {
        let outcome = refused(&app, &before, post_bundle(&app, &bundle).await, 413).await;
        assert!(outcome.to_string().contains("limit of 3"), "{outcome}");
    }
    // A body over --max-body-bytes is refused before it is parsed.
    let big = json!({"resource": {"resourceType": "Patient", "name": [{"family": "x".repeat(5000)}]},
                     "request": {"method": "POST", "url": "Patient"}});
    refused(
        &app,
        &before,
        post_bundle(&app, &transaction(vec![big])).await,
        413,
    )
    .await;
    // At the limit, it runs.
    let answer = commit(&app, &transaction(three)).await;
    assert_eq!(status(&answer, 2), "201 Created");
}
