//! Batch and transaction Bundles: entry methods, processing order, preconditions, Prefer.
//! (PATCH entries: `bundle_patch.rs`; failures and rollback: `bundle_failures.rs`; references:
//! `bundle_references.rs`; concurrency: `bundle_concurrency.rs`.)

use serde_json::json;

use crate::bundle_helpers::{
    batch, commit, json_patch_binary, located, post_bundle, post_bundle_prefer, refused, snapshot,
    status, transaction,
};
use crate::helpers::{Backend, TestApp, expect_outcome, json_body};
use crate::search_helpers::{put, search};

crate::on_both_backends!(
    a_transaction_rewrites_urn_references_and_commits_together,
    a_failed_transaction_leaves_no_trace,
    a_batch_reports_each_entry,
    conditional_entries_and_references_resolve_through_search,
    a_transaction_runs_every_method_in_processing_order,
    a_batch_runs_every_method_in_entry_order,
    prefer_decides_what_response_entries_carry,
    read_preconditions_answer_not_modified,
    write_preconditions_of_entries,
    a_batch_resolves_conditional_references_per_entry,
);

/// Conditional references in a batch entry are resolved through search like in a transaction;
/// an entry whose reference matches nothing fails alone (412) and stores nothing.
async fn a_batch_resolves_conditional_references_per_entry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Practitioner/dr",
        json!({"resourceType": "Practitioner",
               "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "99"}]}),
    )
    .await;
    let observation = |id: &str, npi: &str| {
        json!({
            "resource": {"resourceType": "Observation", "id": id, "status": "final",
                         "code": {"text": "x"},
                         "performer": [{"reference": format!("Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|{npi}")}]},
            "request": {"method": "PUT", "url": format!("Observation/{id}")}
        })
    };
    let answer = json_body(
        post_bundle(
            &app,
            &batch(vec![
                observation("found", "99"),
                observation("dangling", "100"),
            ]),
        )
        .await,
    )
    .await;
    assert_eq!(status(&answer, 0), "201 Created", "{answer}");
    assert_eq!(status(&answer, 1), "412 Precondition Failed", "{answer}");
    assert_eq!(
        answer["entry"][1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    let stored = json_body(app.get("/Observation/found").await).await;
    assert_eq!(stored["performer"][0]["reference"], "Practitioner/dr");
    expect_outcome(app.get("/Observation/dangling").await, 404).await;
}

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

/// Three patients to delete, update and patch; each family "Order" once written.
async fn order_fixture(app: &TestApp) {
    for id in ["del", "upd", "pat"] {
        put(
            app,
            &format!("Patient/{id}"),
            json!({"resourceType": "Patient", "name": [{"family": if id == "del" { "Order" } else { "Before" }}]}),
        )
        .await;
    }
}

async fn a_transaction_runs_every_method_in_processing_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    order_fixture(&app).await;
    // Given in reverse of the processing order: the GET must still see every write, and the
    // deleted patient must be gone from it.
    let answer = commit(
        &app,
        &transaction(vec![
            json!({"request": {"method": "GET", "url": "Patient?family=order&_sort=_id"}}),
            json!({"request": {"method": "HEAD", "url": "Patient/upd"}}),
            json!({
                "resource": json_patch_binary(json!([{"op": "replace", "path": "/name/0/family", "value": "Order"}])),
                "request": {"method": "PATCH", "url": "Patient/pat"}
            }),
            json!({
                "resource": {"resourceType": "Patient", "id": "upd", "name": [{"family": "Order"}]},
                "request": {"method": "PUT", "url": "Patient/upd"}
            }),
            json!({
                "resource": {"resourceType": "Patient", "name": [{"family": "Order"}]},
                "request": {"method": "POST", "url": "Patient"}
            }),
            json!({"request": {"method": "DELETE", "url": "Patient/del"}}),
        ]),
    )
    .await;
    assert_eq!(answer["type"], "transaction-response");
    assert_eq!(status(&answer, 0), "200 OK");
    assert_eq!(status(&answer, 1), "200 OK");
    assert_eq!(status(&answer, 2), "200 OK");
    assert_eq!(status(&answer, 3), "200 OK");
    assert_eq!(status(&answer, 4), "201 Created");
    assert_eq!(status(&answer, 5), "204 No Content");
    let created = located(&answer, 4);
    let found: Vec<String> = answer["entry"][0]["resource"]["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("Patient/{}", e["resource"]["id"].as_str().unwrap()))
        .collect();
    let mut expected = vec![created, "Patient/pat".to_owned(), "Patient/upd".to_owned()];
    expected.sort();
    assert_eq!(found, expected, "{answer}");
    // HEAD: the version of the update, no resource.
    assert_eq!(answer["entry"][1]["response"]["etag"], "W/\"2\"");
    assert!(answer["entry"][1].get("resource").is_none(), "{answer}");
    assert_eq!(answer["entry"][2]["response"]["etag"], "W/\"2\"");
    expect_outcome(app.get("/Patient/del").await, 410).await;
    let patched = json_body(app.get("/Patient/pat").await).await;
    assert_eq!(patched["name"][0]["family"], "Order");
}

async fn a_batch_runs_every_method_in_entry_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    order_fixture(&app).await;
    let parameters = json!({"resourceType": "Parameters", "parameter": [{
        "name": "operation",
        "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.name[0].family"},
            {"name": "value", "valueString": "Order"}
        ]
    }]});
    let answer = commit(
        &app,
        &batch(vec![
            json!({"request": {"method": "DELETE", "url": "Patient/del"}}),
            json!({
                "resource": {"resourceType": "Patient", "name": [{"family": "Order"}]},
                "request": {"method": "POST", "url": "Patient"}
            }),
            json!({
                "resource": {"resourceType": "Patient", "id": "upd", "name": [{"family": "Order"}]},
                "request": {"method": "PUT", "url": "Patient/upd"}
            }),
            json!({"resource": parameters, "request": {"method": "PATCH", "url": "Patient/pat"}}),
            json!({"request": {"method": "HEAD", "url": "Patient/pat"}}),
            json!({"request": {"method": "GET", "url": "Patient?family=order&_summary=count"}}),
            json!({"request": {"method": "GET", "url": "Patient/del"}}),
        ]),
    )
    .await;
    assert_eq!(answer["type"], "batch-response");
    let statuses: Vec<&str> = (0..7).map(|i| status(&answer, i)).collect();
    assert_eq!(
        statuses,
        [
            "204 No Content",
            "201 Created",
            "200 OK",
            "200 OK",
            "200 OK",
            "200 OK",
            "410 Gone"
        ],
        "{answer}"
    );
    assert!(answer["entry"][4].get("resource").is_none());
    assert_eq!(answer["entry"][4]["response"]["etag"], "W/\"2\"");
    assert_eq!(answer["entry"][5]["resource"]["total"], 3, "{answer}");
    assert_eq!(
        answer["entry"][6]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    // Minimal by default: writes carry no resource, and lastModified is an instant.
    assert!(answer["entry"][1].get("resource").is_none());
    let modified = answer["entry"][1]["response"]["lastModified"]
        .as_str()
        .unwrap();
    assert!(
        modified.contains('T') && modified.ends_with('Z'),
        "{modified}"
    );
}

async fn prefer_decides_what_response_entries_carry(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let entries = || {
        vec![
            json!({
                "resource": {"resourceType": "Patient", "name": [{"family": "Prefer"}]},
                "request": {"method": "POST", "url": "Patient"}
            }),
            json!({
                "resource": {"resourceType": "Patient", "id": "pref", "gender": "other"},
                "request": {"method": "PUT", "url": "Patient/pref"}
            }),
        ]
    };
    for bundle in [transaction(entries()), batch(entries())] {
        let minimal = json_body(post_bundle(&app, &bundle).await).await;
        for entry in minimal["entry"].as_array().unwrap() {
            assert!(entry.get("resource").is_none(), "{minimal}");
            assert!(entry["response"].get("outcome").is_none(), "{minimal}");
            assert!(entry["response"]["etag"].is_string(), "{minimal}");
            assert!(entry["response"]["location"].is_string(), "{minimal}");
        }
        let full =
            json_body(post_bundle_prefer(&app, &bundle, "return=representation").await).await;
        assert_eq!(
            full["entry"][0]["resource"]["name"][0]["family"], "Prefer",
            "{full}"
        );
        assert_eq!(full["entry"][1]["resource"]["id"], "pref", "{full}");
        assert!(full["entry"][1]["resource"]["meta"]["versionId"].is_string());
        let outcomes =
            json_body(post_bundle_prefer(&app, &bundle, "return=OperationOutcome").await).await;
        for entry in outcomes["entry"].as_array().unwrap() {
            assert!(entry.get("resource").is_none(), "{outcomes}");
            assert_eq!(
                entry["response"]["outcome"]["resourceType"], "OperationOutcome",
                "{outcomes}"
            );
        }
    }
}

async fn read_preconditions_answer_not_modified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/r",
        json!({"resourceType": "Patient", "gender": "male"}),
    )
    .await;
    let reads = || {
        vec![
            json!({"request": {"method": "GET", "url": "Patient/r", "ifNoneMatch": "W/\"1\""}}),
            json!({"request": {"method": "HEAD", "url": "Patient/r",
                               "ifModifiedSince": "2999-01-01T00:00:00Z"}}),
            json!({"request": {"method": "GET", "url": "Patient/r", "ifNoneMatch": "W/\"9\""}}),
            json!({
                "resource": {"resourceType": "Patient", "name": [{"family": "NotModified"}]},
                "request": {"method": "POST", "url": "Patient"}
            }),
        ]
    };
    for bundle in [transaction(reads()), batch(reads())] {
        let answer = commit(&app, &bundle).await;
        assert_eq!(status(&answer, 0), "304 Not Modified", "{answer}");
        assert!(answer["entry"][0].get("resource").is_none());
        assert_eq!(status(&answer, 2), "200 OK");
        assert_eq!(answer["entry"][2]["resource"]["id"], "r");
        // A 304 is not a failure: the write is committed.
        assert_eq!(status(&answer, 3), "201 Created");
    }
    // Modified since: the resource.
    let modified = batch(vec![
        json!({"request": {"method": "GET", "url": "Patient/r",
        "ifModifiedSince": "2001-01-01T00:00:00Z"}}),
    ]);
    assert_eq!(status(&commit(&app, &modified).await, 0), "200 OK");
    let found = search(&app, "Patient?family=notmodified&_summary=count").await;
    assert_eq!(found["total"], 2);
}

async fn write_preconditions_of_entries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/w",
        json!({"resourceType": "Patient", "gender": "male"}),
    )
    .await;
    let answer = commit(
        &app,
        &batch(vec![
            json!({
                "resource": {"resourceType": "Patient", "id": "w", "gender": "female"},
                "request": {"method": "PUT", "url": "Patient/w", "ifMatch": "W/\"1\""}
            }),
            json!({
                "resource": {"resourceType": "Patient", "id": "w", "gender": "other"},
                "request": {"method": "PUT", "url": "Patient/w", "ifMatch": "W/\"1\""}
            }),
            json!({
                "resource": {"resourceType": "Patient", "id": "w"},
                "request": {"method": "PUT", "url": "Patient/w", "ifNoneMatch": "*"}
            }),
            json!({
                "resource": {"resourceType": "Patient", "id": "fresh"},
                "request": {"method": "PUT", "url": "Patient/fresh", "ifNoneMatch": "*"}
            }),
            json!({"request": {"method": "DELETE", "url": "Patient/w", "ifMatch": "W/\"1\""}}),
            json!({
                "resource": json_patch_binary(json!([{"op": "remove", "path": "/gender"}])),
                "request": {"method": "PATCH", "url": "Patient/w", "ifMatch": "W/\"1\""}
            }),
        ]),
    )
    .await;
    let statuses: Vec<&str> = (0..6).map(|i| status(&answer, i)).collect();
    assert_eq!(
        statuses,
        [
            "200 OK",
            "412 Precondition Failed",
            "412 Precondition Failed",
            "201 Created",
            "412 Precondition Failed",
            "412 Precondition Failed"
        ],
        "{answer}"
    );
    let current = json_body(app.get("/Patient/w").await).await;
    assert_eq!(current["gender"], "female");
    assert_eq!(current["meta"]["versionId"], "2");
    // In a transaction, each failed write precondition fails the whole.
    let before = snapshot(&app).await;
    let good = json!({
        "resource": {"resourceType": "Patient", "name": [{"family": "Precondition"}]},
        "request": {"method": "POST", "url": "Patient"}
    });
    for bad in [
        json!({"resource": {"resourceType": "Patient", "id": "w"},
               "request": {"method": "PUT", "url": "Patient/w", "ifMatch": "W/\"1\""}}),
        json!({"resource": {"resourceType": "Patient", "id": "w"},
               "request": {"method": "PUT", "url": "Patient/w", "ifNoneMatch": "*"}}),
        json!({"request": {"method": "DELETE", "url": "Patient/w", "ifMatch": "W/\"7\""}}),
        json!({"resource": json_patch_binary(json!([{"op": "remove", "path": "/gender"}])),
               "request": {"method": "PATCH", "url": "Patient/w", "ifMatch": "W/\"1\""}}),
    ] {
        let bundle = transaction(vec![good.clone(), bad]);
        refused(&app, &before, post_bundle(&app, &bundle).await, 412).await;
    }
    // A precondition that does not apply to the method is refused rather than ignored.
    let misplaced = transaction(vec![json!({
        "resource": {"resourceType": "Patient"},
        "request": {"method": "POST", "url": "Patient", "ifMatch": "W/\"1\""}
    })]);
    refused(&app, &before, post_bundle(&app, &misplaced).await, 400).await;
}
