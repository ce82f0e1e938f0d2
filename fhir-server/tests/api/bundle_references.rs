//! References between the entries of a transaction: rewritten wherever they appear, and urns in
//! search criteria resolved in dependency order.

use serde_json::json;

use crate::bundle_helpers::{commit, located, post_bundle, refused, snapshot, status, transaction};
use crate::helpers::{Backend, TestApp, json_body};
use crate::search_helpers::{put, search};

crate::on_both_backends!(
    references_are_rewritten_wherever_they_appear,
    urns_in_criteria_resolve_in_dependency_order,
    criteria_that_need_each_other_are_a_cycle,
);

const PATIENT: &str = "urn:uuid:9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";
const BINARY: &str = "urn:uuid:0b1c2d3e-4f5a-4b6c-9d7e-1f2a3b4c5d6e";
const PRACTITIONER: &str = "urn:oid:1.2.3.4.5";

async fn references_are_rewritten_wherever_they_appear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let answer = commit(
        &app,
        &transaction(vec![
            json!({
                "fullUrl": "urn:uuid:1c1d1e1f-2a2b-4c2d-8e2f-3a3b3c3d3e3f",
                "resource": {
                    "resourceType": "DocumentReference",
                    "status": "current",
                    "subject": {"reference": PATIENT},
                    "author": [{"reference": "#author"}, {"reference": PRACTITIONER}],
                    "contained": [{
                        "resourceType": "PractitionerRole",
                        "id": "author",
                        "practitioner": {"reference": PRACTITIONER}
                    }],
                    "extension": [{
                        "url": "http://example.org/fhir/StructureDefinition/about",
                        "valueReference": {"reference": PATIENT}
                    }],
                    "content": [{"attachment": {"contentType": "text/plain", "url": BINARY}}]
                },
                "request": {"method": "POST", "url": "DocumentReference"}
            }),
            json!({
                "fullUrl": PATIENT,
                "resource": {"resourceType": "Patient", "generalPractitioner": [{"reference": PRACTITIONER}]},
                "request": {"method": "POST", "url": "Patient"}
            }),
            json!({
                "fullUrl": PRACTITIONER,
                "resource": {"resourceType": "Practitioner", "name": [{"family": "Who"}]},
                "request": {"method": "POST", "url": "Practitioner"}
            }),
            json!({
                "fullUrl": BINARY,
                "resource": {"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="},
                "request": {"method": "POST", "url": "Binary"}
            }),
        ]),
    )
    .await;
    let document = located(&answer, 0);
    let patient = located(&answer, 1);
    let practitioner = located(&answer, 2);
    let binary = located(&answer, 3);
    let stored = json_body(app.get(&format!("/{document}")).await).await;
    assert_eq!(stored["subject"]["reference"], json!(patient));
    assert_eq!(stored["author"][0]["reference"], "#author");
    assert_eq!(stored["author"][1]["reference"], json!(practitioner));
    assert_eq!(
        stored["contained"][0]["practitioner"]["reference"],
        json!(practitioner)
    );
    assert_eq!(
        stored["extension"][0]["valueReference"]["reference"],
        json!(patient)
    );
    assert_eq!(
        stored["extension"][0]["url"],
        "http://example.org/fhir/StructureDefinition/about"
    );
    assert_eq!(stored["content"][0]["attachment"]["url"], json!(binary));
    let stored = json_body(app.get(&format!("/{patient}")).await).await;
    assert_eq!(
        stored["generalPractitioner"][0]["reference"],
        json!(practitioner)
    );
    // The search index sees the rewritten references.
    let found = search(
        &app,
        &format!("DocumentReference?subject={patient}&_summary=count"),
    )
    .await;
    assert_eq!(found["total"], 1);
}

async fn urns_in_criteria_resolve_in_dependency_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/known",
        json!({"resourceType": "Patient", "identifier": [{"system": "http://example.org/mrn", "value": "p1"}]}),
    )
    .await;
    put(
        &app,
        "Encounter/known",
        json!({"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
               "identifier": [{"system": "http://example.org/enc", "value": "e1"}],
               "subject": {"reference": "Patient/known"}}),
    )
    .await;
    let encounter = "urn:uuid:3e3f4a4b-5c5d-4e6f-8a7b-8c9d0e1f2a3b";
    let observation = |value: &str| {
        json!({
            "resource": {
                "resourceType": "Observation", "status": "final", "code": {"text": "dep"},
                "valueString": value,
                "subject": {"reference": PATIENT},
                "encounter": {"reference": format!("Encounter?subject={PATIENT}&identifier=http://example.org/enc|e1")}
            },
            // The url names the patient entry: resolved once the patient is.
            "request": {"method": "PUT", "url": format!("Observation?subject={PATIENT}&code:text=dep")}
        })
    };
    // Entries that wait for later ones come first.
    let bundle = |value: &str| {
        transaction(vec![
            observation(value),
            json!({
                "fullUrl": encounter,
                "resource": {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                             "subject": {"reference": PATIENT}},
                "request": {"method": "POST", "url": "Encounter",
                            "ifNoneExist": format!("subject={PATIENT}&identifier=http://example.org/enc|e1")}
            }),
            json!({
                "fullUrl": PATIENT,
                "resource": {"resourceType": "Patient"},
                "request": {"method": "POST", "url": "Patient",
                            "ifNoneExist": "identifier=http://example.org/mrn|p1"}
            }),
        ])
    };
    let answer = commit(&app, &bundle("first")).await;
    assert_eq!(status(&answer, 0), "201 Created", "{answer}");
    assert_eq!(status(&answer, 1), "200 OK", "{answer}");
    assert_eq!(status(&answer, 2), "200 OK", "{answer}");
    assert_eq!(located(&answer, 1), "Encounter/known");
    assert_eq!(located(&answer, 2), "Patient/known");
    let created = located(&answer, 0);
    let stored = json_body(app.get(&format!("/{created}")).await).await;
    assert_eq!(stored["subject"]["reference"], "Patient/known");
    assert_eq!(stored["encounter"]["reference"], "Encounter/known");
    // Again: the conditional PUT now finds the observation through the rewritten criteria.
    let answer = commit(&app, &bundle("second")).await;
    assert_eq!(status(&answer, 0), "200 OK", "{answer}");
    assert_eq!(located(&answer, 0), created);
    let observations = search(&app, "Observation?_summary=count").await;
    assert_eq!(observations["total"], 1);
}

async fn criteria_that_need_each_other_are_a_cycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = snapshot(&app).await;
    let a = "urn:uuid:aaaaaaaa-0000-4000-8000-000000000001";
    let b = "urn:uuid:bbbbbbbb-0000-4000-8000-000000000002";
    let bundle = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "name": [{"family": "Cycle"}]},
               "request": {"method": "POST", "url": "Patient"}}),
        json!({"fullUrl": a, "resource": {"resourceType": "Patient"},
               "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("link={b}")}}),
        json!({"fullUrl": b, "resource": {"resourceType": "Patient"},
               "request": {"method": "POST", "url": "Patient", "ifNoneExist": format!("link={a}")}}),
    ]);
    let outcome = refused(&app, &before, post_bundle(&app, &bundle).await, 400).await;
    let places: Vec<&str> = outcome["issue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["expression"][0].as_str().unwrap())
        .collect();
    assert_eq!(places, ["Bundle.entry[1]", "Bundle.entry[2]"], "{outcome}");
    assert!(outcome.to_string().contains("cycle"), "{outcome}");
    // Conditional urls and conditional references that wait for each other: a cycle too.
    let bundle = transaction(vec![
        json!({"fullUrl": a, "resource": {"resourceType": "Patient"},
               "request": {"method": "PUT", "url": format!("Patient?link={b}")}}),
        json!({"fullUrl": b, "resource": {"resourceType": "Patient"},
               "request": {"method": "PUT", "url": format!("Patient?link={a}")}}),
    ]);
    refused(&app, &before, post_bundle(&app, &bundle).await, 400).await;
}
