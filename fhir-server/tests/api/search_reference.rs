//! Reference search: `id`, `Type/id`, absolute URLs, `:Type`, `:identifier`, OR, `:missing`,
//! canonical references.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(
    reference_by_id_type_and_url,
    reference_type_modifier_identifier_and_missing,
);

fn observation(subject: Value) -> Value {
    let mut resource = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}
    });
    if !subject.is_null() {
        resource["subject"] = subject;
    }
    resource
}

/// r1 → Patient/pa, r2 → Patient/pb, r3 → an absolute URL on another server, r4 → Group/g1,
/// r5 → only an identifier, r6 → no subject, r7 → Group/pa (same id, other type).
async fn seed(app: &TestApp) {
    put(app, "Patient/pa", json!({"name": [{"family": "Alpha"}]})).await;
    put(app, "Patient/pb", json!({"name": [{"family": "Beta"}]})).await;
    put(
        app,
        "Group/g1",
        json!({"type": "person", "actual": true, "name": "Group one"}),
    )
    .await;
    put(
        app,
        "Group/pa",
        json!({"type": "person", "actual": true, "name": "Group pa"}),
    )
    .await;
    put(
        app,
        "Observation/r1",
        observation(json!({"reference": "Patient/pa"})),
    )
    .await;
    put(
        app,
        "Observation/r2",
        observation(json!({"reference": "Patient/pb"})),
    )
    .await;
    put(
        app,
        "Observation/r3",
        observation(json!({"reference": "http://other.org/fhir/Patient/pz"})),
    )
    .await;
    put(
        app,
        "Observation/r4",
        observation(json!({"reference": "Group/g1"})),
    )
    .await;
    put(
        app,
        "Observation/r5",
        observation(json!({"identifier": {"system": "http://hospital.org/mrn", "value": "MRN7"}})),
    )
    .await;
    put(app, "Observation/r6", observation(Value::Null)).await;
    put(
        app,
        "Observation/r7",
        observation(json!({"reference": "Group/pa"})),
    )
    .await;
}

async fn reference_by_id_type_and_url(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    expect_ids(&app, "Observation?subject=Patient/pa", &["r1"]).await;
    expect_ids(&app, "Observation?subject=Group/pa", &["r7"]).await;
    // A bare id matches references to any type with that id.
    expect_ids(&app, "Observation?subject=pa", &["r1", "r7"]).await;
    expect_ids(&app, "Observation?subject=Patient/nobody", &[]).await;
    // An absolute URL matches the reference written that way.
    expect_ids(
        &app,
        "Observation?subject=http://other.org/fhir/Patient/pz",
        &["r3"],
    )
    .await;
    // A reference given as this server's own absolute URL is the same as `Type/id`.
    let own = format!("Observation?subject={}/Patient/pb", app.base);
    expect_ids(&app, &own, &["r2"]).await;
    // OR.
    expect_ids(
        &app,
        "Observation?subject=Patient/pa,Patient/pb,Group/g1",
        &["r1", "r2", "r4"],
    )
    .await;
    // `patient` is `subject` restricted to Patient targets.
    expect_ids(&app, "Observation?patient=pa", &["r1"]).await;
    expect_ids(&app, "Observation?patient=Patient/pb", &["r2"]).await;
    // Reference ids are exact, not prefixes.
    expect_ids(&app, "Observation?subject=Patient/p", &[]).await;
}

async fn reference_type_modifier_identifier_and_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    // :Type restricts the target type.
    expect_ids(&app, "Observation?subject:Patient=pa", &["r1"]).await;
    expect_ids(&app, "Observation?subject:Group=pa", &["r7"]).await;
    expect_ids(&app, "Observation?subject:Group=g1", &["r4"]).await;
    expect_ids(&app, "Observation?subject:Patient=g1", &[]).await;
    // :identifier matches Reference.identifier (a token).
    expect_ids(
        &app,
        "Observation?subject:identifier=http://hospital.org/mrn|MRN7",
        &["r5"],
    )
    .await;
    expect_ids(&app, "Observation?subject:identifier=MRN7", &["r5"]).await;
    expect_ids(
        &app,
        "Observation?subject:identifier=http://other.org|MRN7",
        &[],
    )
    .await;
    // :missing: r6 has no subject; r5 has one (an identifier only).
    expect_ids(&app, "Observation?subject:missing=true", &["r6"]).await;
    expect_ids(
        &app,
        "Observation?subject:missing=false",
        &["r1", "r2", "r3", "r4", "r5", "r7"],
    )
    .await;

    // Canonical references are matched by URL, with or without a version.
    put(
        &app,
        "Questionnaire/q1",
        json!({"status": "active", "url": "http://acme.org/Questionnaire/q1"}),
    )
    .await;
    put(
        &app,
        "QuestionnaireResponse/qr1",
        json!({"status": "completed", "questionnaire": "http://acme.org/Questionnaire/q1|2.0"}),
    )
    .await;
    put(
        &app,
        "QuestionnaireResponse/qr2",
        json!({"status": "completed", "questionnaire": "http://acme.org/Questionnaire/q2"}),
    )
    .await;
    expect_ids(
        &app,
        "QuestionnaireResponse?questionnaire=http://acme.org/Questionnaire/q1",
        &["qr1"],
    )
    .await;
    expect_ids(
        &app,
        "QuestionnaireResponse?questionnaire=http://acme.org/Questionnaire/q2",
        &["qr2"],
    )
    .await;
}
