//! Token search: `code`, `system|code`, `|code`, `system|`, `:not`, `:text`, `:of-type`,
//! booleans, codes, ContactPoints, escaping, `:missing`.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, put};

crate::on_both_backends!(
    token_code_and_system_forms,
    token_not_and_text,
    token_identifier_and_of_type,
    token_boolean_code_and_contact_point,
    token_escaping_and_missing,
);

const LOINC: &str = "http://loinc.org";

fn observation(codings: Value, text: Option<&str>, status: &str) -> Value {
    let mut code = json!({ "coding": codings });
    if let Some(text) = text {
        code["text"] = json!(text);
    }
    json!({"resourceType": "Observation", "status": status, "code": code})
}

/// o1 LOINC 8480-6 ("Systolic blood pressure", text "BP systolic"), o2 acme 8480-6, o3 8480-6
/// without system, o4 LOINC 8310-5 ("Body temperature", preliminary), o5 LOINC 8480-6 and acme
/// X9.
async fn seed_observations(app: &TestApp) {
    put(
        app,
        "Observation/o1",
        observation(
            json!([{"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}]),
            Some("BP systolic"),
            "final",
        ),
    )
    .await;
    put(
        app,
        "Observation/o2",
        observation(
            json!([{"system": "http://acme.org/codes", "code": "8480-6"}]),
            None,
            "final",
        ),
    )
    .await;
    put(
        app,
        "Observation/o3",
        observation(json!([{"code": "8480-6"}]), None, "final"),
    )
    .await;
    put(
        app,
        "Observation/o4",
        observation(
            json!([{"system": LOINC, "code": "8310-5", "display": "Body temperature"}]),
            None,
            "preliminary",
        ),
    )
    .await;
    put(
        app,
        "Observation/o5",
        observation(
            json!([
                {"system": LOINC, "code": "8480-6"},
                {"system": "http://acme.org/codes", "code": "X9"}
            ]),
            None,
            "amended",
        ),
    )
    .await;
}

async fn token_code_and_system_forms(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_observations(&app).await;
    // code alone: any system.
    expect_ids(&app, "Observation?code=8480-6", &["o1", "o2", "o3", "o5"]).await;
    // system|code.
    expect_ids(
        &app,
        "Observation?code=http://loinc.org|8480-6",
        &["o1", "o5"],
    )
    .await;
    expect_ids(
        &app,
        "Observation?code=http://acme.org/codes|8480-6",
        &["o2"],
    )
    .await;
    // |code: codings without a system only.
    expect_ids(&app, "Observation?code=|8480-6", &["o3"]).await;
    // system|: any code in the system.
    expect_ids(
        &app,
        "Observation?code=http://loinc.org|",
        &["o1", "o4", "o5"],
    )
    .await;
    // Tokens are exact: no prefix matching.
    expect_ids(&app, "Observation?code=8480", &[]).await;
    expect_ids(&app, "Observation?code=http://loinc.org|8480", &[]).await;
    // A system that only prefixes the real one does not match.
    expect_ids(&app, "Observation?code=http://loinc.or|8480-6", &[]).await;
    // OR.
    expect_ids(&app, "Observation?code=8310-5,X9", &["o4", "o5"]).await;
    // AND over two codings of the same resource.
    expect_ids(
        &app,
        "Observation?code=http://loinc.org|8480-6&code=http://acme.org/codes|X9",
        &["o5"],
    )
    .await;
    // A code element (Observation.status).
    expect_ids(&app, "Observation?status=final", &["o1", "o2", "o3"]).await;
    expect_ids(
        &app,
        "Observation?status=final,amended",
        &["o1", "o2", "o3", "o5"],
    )
    .await;
}

async fn token_not_and_text(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed_observations(&app).await;
    // :not: the resources that have no matching coding (o5 has LOINC 8480-6 among others).
    expect_ids(&app, "Observation?code:not=8480-6", &["o4"]).await;
    expect_ids(
        &app,
        "Observation?code:not=http://loinc.org|8480-6",
        &["o2", "o3", "o4"],
    )
    .await;
    expect_ids(&app, "Observation?status:not=final", &["o4", "o5"]).await;
    // :text: string matching (case-insensitive prefix) on Coding.display and
    // CodeableConcept.text.
    expect_ids(&app, "Observation?code:text=systolic", &["o1"]).await;
    expect_ids(&app, "Observation?code:text=bp", &["o1"]).await;
    expect_ids(&app, "Observation?code:text=BODY%20temp", &["o4"]).await;
    expect_ids(&app, "Observation?code:text=8480-6", &[]).await;

    // :not includes resources without any value (spec: gender:not=male includes patients with
    // no gender).
    put(&app, "Patient/m", json!({"gender": "male"})).await;
    put(&app, "Patient/f", json!({"gender": "female"})).await;
    put(&app, "Patient/none", json!({"active": true})).await;
    expect_ids(&app, "Patient?gender:not=male", &["f", "none"]).await;
    expect_ids(&app, "Patient?gender=male,female", &["f", "m"]).await;
}

async fn token_identifier_and_of_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let v2 = "http://terminology.hl7.org/CodeSystem/v2-0203";
    put(
        &app,
        "Patient/i1",
        json!({"identifier": [{
            "system": "http://hospital.org/mrn",
            "value": "12345",
            "type": {"coding": [{"system": v2, "code": "MR"}], "text": "Medical record"}
        }]}),
    )
    .await;
    put(
        &app,
        "Patient/i2",
        json!({"identifier": [{
            "system": "http://other.org/ids",
            "value": "12345",
            "type": {"coding": [{"system": v2, "code": "SS"}]}
        }]}),
    )
    .await;
    put(
        &app,
        "Patient/i3",
        json!({"identifier": [{"value": "ABC"}]}),
    )
    .await;
    expect_ids(&app, "Patient?identifier=12345", &["i1", "i2"]).await;
    expect_ids(
        &app,
        "Patient?identifier=http://hospital.org/mrn|12345",
        &["i1"],
    )
    .await;
    expect_ids(&app, "Patient?identifier=http://hospital.org/mrn|", &["i1"]).await;
    expect_ids(&app, "Patient?identifier=|ABC", &["i3"]).await;
    expect_ids(&app, "Patient?identifier=|12345", &[]).await;
    // Identifier values are exact (no prefix, case-sensitive).
    expect_ids(&app, "Patient?identifier=1234", &[]).await;
    expect_ids(&app, "Patient?identifier=abc", &[]).await;
    // :of-type: type-system|type-code|value.
    expect_ids(
        &app,
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345",
        &["i1"],
    )
    .await;
    expect_ids(
        &app,
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|12345",
        &["i2"],
    )
    .await;
    expect_ids(
        &app,
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|99999",
        &[],
    )
    .await;
    // :text on an Identifier matches Identifier.type.text.
    expect_ids(&app, "Patient?identifier:text=medical", &["i1"]).await;
}

async fn token_boolean_code_and_contact_point(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/b1",
        json!({
            "active": true,
            "gender": "female",
            "telecom": [
                {"system": "phone", "value": "555-1234"},
                {"system": "email", "value": "ada@example.org"}
            ]
        }),
    )
    .await;
    put(
        &app,
        "Patient/b2",
        json!({"active": false, "gender": "male"}),
    )
    .await;
    put(&app, "Patient/b3", json!({"gender": "other"})).await;
    expect_ids(&app, "Patient?active=true", &["b1"]).await;
    // false matches only an explicit false, not an absent value.
    expect_ids(&app, "Patient?active=false", &["b2"]).await;
    expect_ids(&app, "Patient?active:missing=true", &["b3"]).await;
    expect_ids(&app, "Patient?active:not=true", &["b2", "b3"]).await;
    expect_ids(&app, "Patient?gender=female", &["b1"]).await;
    expect_ids(&app, "Patient?gender=other,male", &["b2", "b3"]).await;
    // ContactPoint: the value is the code; phone/email filter on ContactPoint.system.
    expect_ids(&app, "Patient?telecom=555-1234", &["b1"]).await;
    expect_ids(&app, "Patient?phone=555-1234", &["b1"]).await;
    expect_ids(&app, "Patient?email=ada@example.org", &["b1"]).await;
    expect_ids(&app, "Patient?phone=ada@example.org", &[]).await;
    expect_ids(&app, "Patient?email=555-1234", &[]).await;
}

async fn token_escaping_and_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/e1",
        json!({"identifier": [{"system": "http://x.org", "value": "a|b"}]}),
    )
    .await;
    put(
        &app,
        "Patient/e2",
        json!({"identifier": [{"system": "http://x.org", "value": "a,b"}]}),
    )
    .await;
    put(
        &app,
        "Patient/e3",
        json!({"identifier": [{"system": "http://x.org", "value": "a"}, {"value": "b"}]}),
    )
    .await;
    put(
        &app,
        "Patient/e4",
        json!({"identifier": [{"system": "http://x.org", "value": "a$b"}]}),
    )
    .await;
    put(&app, "Patient/e5", json!({"gender": "male"})).await;
    // `\|` is a literal bar in the value.
    expect_ids(&app, "Patient?identifier=http://x.org|a%5C|b", &["e1"]).await;
    expect_ids(&app, "Patient?identifier=a%5C|b", &["e1"]).await;
    // `\,` is a literal comma, `a,b` unescaped is "a" OR "b".
    expect_ids(&app, "Patient?identifier=a%5C,b", &["e2"]).await;
    expect_ids(&app, "Patient?identifier=a,b", &["e3"]).await;
    // `\$` is a literal dollar (and `$` is plain outside composites).
    expect_ids(&app, "Patient?identifier=a%5C$b", &["e4"]).await;
    expect_ids(&app, "Patient?identifier:missing=true", &["e5"]).await;
    expect_ids(
        &app,
        "Patient?identifier:missing=false",
        &["e1", "e2", "e3", "e4"],
    )
    .await;
}
