//! Chained parameters (depth 1 to 3, with and without `:Type`) and reverse chaining with
//! `_has` (including nested `_has`).

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(chains_follow_references, has_selects_by_referring_resources);

fn observation(subject: &str, code: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": subject}
    })
}

/// Organizations: parent "Parent Health" ← child "Child Clinic" (partOf parent).
/// Practitioners dr1 "Who", dr2 "Strange".
/// Patients: pa "Alpha" 1970-01-01, organization child, GP dr1; pb "Beta" 1990-05-05, GP dr2.
/// Encounter ea (subject pa, finished).
/// Observations: oa1 (pa, 8480-6, performer dr2, encounter ea), oa2 (pa, 8310-5),
/// ob1 (pb, 8480-6), og (Location/loc "Alpha ward", 8480-6).
async fn seed(app: &TestApp) {
    put(app, "Organization/parent", json!({"name": "Parent Health"})).await;
    put(
        app,
        "Organization/child",
        json!({"name": "Child Clinic", "partOf": {"reference": "Organization/parent"}}),
    )
    .await;
    put(
        app,
        "Practitioner/dr1",
        json!({"name": [{"family": "Who"}]}),
    )
    .await;
    put(
        app,
        "Practitioner/dr2",
        json!({"name": [{"family": "Strange"}]}),
    )
    .await;
    put(
        app,
        "Patient/pa",
        json!({
            "name": [{"family": "Alpha"}],
            "birthDate": "1970-01-01",
            "managingOrganization": {"reference": "Organization/child"},
            "generalPractitioner": [{"reference": "Practitioner/dr1"}]
        }),
    )
    .await;
    put(
        app,
        "Patient/pb",
        json!({
            "name": [{"family": "Beta"}],
            "birthDate": "1990-05-05",
            "generalPractitioner": [{"reference": "Practitioner/dr2"}]
        }),
    )
    .await;
    put(app, "Location/loc", json!({"name": "Alpha ward"})).await;
    put(
        app,
        "Encounter/ea",
        json!({
            "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
            "subject": {"reference": "Patient/pa"}
        }),
    )
    .await;
    let mut oa1 = observation("Patient/pa", "8480-6");
    oa1["performer"] = json!([{"reference": "Practitioner/dr2"}]);
    oa1["encounter"] = json!({"reference": "Encounter/ea"});
    put(app, "Observation/oa1", oa1).await;
    put(app, "Observation/oa2", observation("Patient/pa", "8310-5")).await;
    put(app, "Observation/ob1", observation("Patient/pb", "8480-6")).await;
    put(app, "Observation/og", observation("Location/loc", "8480-6")).await;
}

async fn chains_follow_references(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // Depth 1 with a type: only Patient subjects named Alpha.
    expect_ids(
        &app,
        "Observation?subject:Patient.name=alpha",
        &["oa1", "oa2"],
    )
    .await;
    // Without a type, every target type of `subject` that has a `name` parameter is tried
    // (Patient and Location; Group and Device have none): the Location "Alpha ward" matches too.
    expect_ids(
        &app,
        "Observation?subject.name=alpha",
        &["oa1", "oa2", "og"],
    )
    .await;
    expect_ids(&app, "Observation?subject:Location.name=alpha", &["og"]).await;
    // `patient` has only the Patient target.
    expect_ids(&app, "Observation?patient.name=alpha", &["oa1", "oa2"]).await;
    // Chained date and token parameters.
    expect_ids(
        &app,
        "Observation?subject:Patient.birthdate=lt1980",
        &["oa1", "oa2"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?subject:Patient.birthdate=1990-05-05",
        &["ob1"],
    )
    .await;
    // OR inside a chain, AND with a direct parameter.
    expect_ids(
        &app,
        "Observation?subject:Patient.name=alpha,beta",
        &["ob1", "oa1", "oa2"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?subject:Patient.name=alpha&code=8480-6",
        &["oa1"],
    )
    .await;
    // Depth 2: the subject's general practitioner's name.
    expect_ids(
        &app,
        "Observation?subject:Patient.general-practitioner:Practitioner.name=who",
        &["oa1", "oa2"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?encounter.subject:Patient.name=alpha",
        &["oa1"],
    )
    .await;
    // Depth 3: subject → managing organization → its parent organization's name.
    expect_ids(
        &app,
        "Observation?subject:Patient.organization.partof.name=parent",
        &["oa1", "oa2"],
    )
    .await;
    // "child" is the name of the organization itself, not of its parent.
    expect_ids(
        &app,
        "Observation?subject:Patient.organization.partof.name=child",
        &[],
    )
    .await;
    // A chain to a resource that does not exist matches nothing.
    put(
        &app,
        "Observation/dangling",
        observation("Patient/ghost", "8480-6"),
    )
    .await;
    expect_ids(&app, "Observation?subject:Patient.name=ghost", &[]).await;
    // A chain sees the current version of the target: rename pb.
    put(
        &app,
        "Patient/pb",
        json!({"name": [{"family": "Gamma"}], "birthDate": "1990-05-05"}),
    )
    .await;
    expect_ids(&app, "Observation?subject:Patient.name=beta", &[]).await;
    expect_ids(&app, "Observation?subject:Patient.name=gamma", &["ob1"]).await;
}

async fn has_selects_by_referring_resources(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // Patients with an Observation (through `patient`) with the code.
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:code=8480-6",
        &["pa", "pb"],
    )
    .await;
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:code=8310-5",
        &["pa"],
    )
    .await;
    expect_ids(
        &app,
        "Patient?_has:Observation:subject:code=http://loinc.org|8310-5",
        &["pa"],
    )
    .await;
    expect_ids(&app, "Patient?_has:Observation:patient:code=1-1", &[]).await;
    // AND of two _has: they may be satisfied by different Observations.
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:code=8480-6&_has:Observation:patient:code=8310-5",
        &["pa"],
    )
    .await;
    // OR inside one _has.
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:code=8310-5,8480-6",
        &["pa", "pb"],
    )
    .await;
    // _has with a direct parameter.
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:code=8480-6&birthdate=ge1980",
        &["pb"],
    )
    .await;
    // Other types and reference parameters.
    expect_ids(
        &app,
        "Practitioner?_has:Observation:performer:code=8480-6",
        &["dr2"],
    )
    .await;
    expect_ids(
        &app,
        "Organization?_has:Patient:organization:name=alpha",
        &["child"],
    )
    .await;
    expect_ids(
        &app,
        "Location?_has:Observation:subject:code=8480-6",
        &["loc"],
    )
    .await;
    // Nested: practitioners who are GP of a patient who has an 8310-5 Observation (dr1 of pa).
    expect_ids(
        &app,
        "Practitioner?_has:Patient:general-practitioner:_has:Observation:patient:code=8310-5",
        &["dr1"],
    )
    .await;
    // _has with a chain at its end: patients with an Observation whose encounter is finished.
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:encounter.status=finished",
        &["pa"],
    )
    .await;
    // A deleted referring resource no longer counts.
    assert_eq!(app.delete("/Observation/ob1").await.status(), 204);
    expect_ids(
        &app,
        "Patient?_has:Observation:patient:code=8480-6",
        &["pa"],
    )
    .await;
}
