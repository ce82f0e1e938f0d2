//! The patient compartment under `patient/` scopes and patient users: attack tests 8–11, 13, 16
//! of the security reference, and the 401s of requests without a valid token.

use reqwest::Method;
use serde_json::json;
use smart_auth::Role;

use crate::authz_helpers::{AuthApp, ids, observation};
use crate::helpers::{Backend, expect_outcome, json_body};

crate::on_both_backends!(
    requests_without_a_token_get_exactly_401,
    attack_08_another_patients_resource_by_id_is_404,
    attack_09_include_and_revinclude_never_return_another_patient,
    attack_10_chains_everything_history_and_compartments_stay_in_the_compartment,
    attack_11_patient_scopes_without_a_patient_are_refused,
    attack_13_conditional_writes_and_patches_cannot_leave_the_compartment,
    attack_16_a_foreign_id_answers_like_a_missing_one,
    patient_users_are_held_to_their_own_record_whatever_the_scope,
    transactions_are_authorized_entry_by_entry,
);

async fn requests_without_a_token_get_exactly_401(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    let response = app.app.get("/Patient").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="fhir""#
    );
    expect_outcome(response, 401).await;
    let response = app.get("not-a-token", "/Patient").await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    expect_outcome(response, 401).await;
    // The CapabilityStatement stays readable: clients read it before they have a token.
    assert_eq!(app.app.get("/metadata").await.status(), 200);
    // A revoked grant stops its tokens at once.
    let token = app.backend_token("system/Patient.rs").await;
    assert_eq!(app.get(&token, "/Patient").await.status(), 200);
    let claims = smart_auth::jose::Unverified::parse(&token).unwrap();
    let grant = claims.claim_str("gid").unwrap().to_owned();
    assert!(app.auth.revoke_grant("default", &grant).await.unwrap());
    app.expect(&token, Method::GET, "/Patient", None, 401).await;
}

async fn attack_08_another_patients_resource_by_id_is_404(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.clinician_token("patient/*.rs", Some("pa")).await;
    assert_eq!(app.get(&token, "/Observation/a-lab").await.status(), 200);
    assert_eq!(app.get(&token, "/Patient/pa").await.status(), 200);
    for path in [
        "/Observation/b-lab",
        "/Observation/b-lab/_history/1",
        "/Observation/b-lab/_history",
        "/Patient/pb",
    ] {
        app.expect(&token, Method::GET, path, None, 404).await;
    }
    // Resources that hold no patient's data stay readable.
    assert_eq!(app.get(&token, "/Practitioner/dr").await.status(), 200);
}

async fn attack_09_include_and_revinclude_never_return_another_patient(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.patient_token("patient/*.rs", "pa").await;
    // a-derived (of pa) is derived from b-lab (of pb): the include must not bring it.
    let bundle = json_body(
        app.get(
            &token,
            "/Observation?_id=a-derived&_include=Observation:derived-from&_include=Observation:subject",
        )
        .await,
    )
    .await;
    let found = ids(&bundle);
    assert!(
        found.contains(&"Observation/a-derived".to_owned()),
        "{found:?}"
    );
    assert!(found.contains(&"Patient/pa".to_owned()), "{found:?}");
    assert!(
        !found
            .iter()
            .any(|id| id.contains("b-lab") || id.contains("pb")),
        "{found:?}"
    );
    // A revinclude from the practitioner reaches every patient's observations: only pa's come.
    let bundle = json_body(
        app.get(&token, "/Practitioner?_id=dr&_revinclude=Observation:performer&_revinclude=Patient:general-practitioner")
            .await,
    )
    .await;
    let found = ids(&bundle);
    assert!(found.contains(&"Observation/a-lab".to_owned()), "{found:?}");
    assert!(
        !found
            .iter()
            .any(|id| id.contains("b-lab") || id.contains("pb")),
        "{found:?}"
    );
    // Wildcard includes too.
    let bundle = json_body(
        app.get(&token, "/Observation?_include=*&_revinclude=*")
            .await,
    )
    .await;
    assert!(
        !ids(&bundle)
            .iter()
            .any(|id| id.contains("b-lab") || id.contains("pb"))
    );
}

async fn attack_10_chains_everything_history_and_compartments_stay_in_the_compartment(
    backend: Backend,
) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.patient_token("patient/*.rs", "pa").await;
    // A chain to another patient's name finds nothing; a plain search only pa's.
    let bundle = json_body(
        app.get(&token, "/Observation?subject:Patient.name=brown")
            .await,
    )
    .await;
    assert_eq!(bundle["total"], 0, "{bundle}");
    let bundle = json_body(app.get(&token, "/Observation").await).await;
    let mut found = ids(&bundle);
    found.sort();
    assert_eq!(
        found,
        [
            "Observation/a-derived",
            "Observation/a-lab",
            "Observation/a-vital"
        ]
    );
    assert_eq!(bundle["total"], 3);
    // Patient search: only pa.
    assert_eq!(
        ids(&json_body(app.get(&token, "/Patient").await).await),
        ["Patient/pa"]
    );
    // $everything and the compartment of another patient: 404; one's own works.
    app.expect(&token, Method::GET, "/Patient/pb/$everything", None, 404)
        .await;
    app.expect(&token, Method::GET, "/Patient/pb/Observation", None, 404)
        .await;
    let everything = json_body(app.get(&token, "/Patient/pa/$everything").await).await;
    assert!(
        !ids(&everything)
            .iter()
            .any(|id| id.contains("b-lab") || id.contains("pb"))
    );
    assert!(ids(&everything).contains(&"Observation/a-lab".to_owned()));
    // History of a type or of everything would need every old version decided: refused.
    app.expect(&token, Method::GET, "/Observation/_history", None, 403)
        .await;
    app.expect(&token, Method::GET, "/_history", None, 403)
        .await;
    // A search of every type at once is refused; POST search is narrowed like GET.
    app.expect(
        &token,
        Method::GET,
        "?_type=Observation,Practitioner",
        None,
        403,
    )
    .await;
    let response = app
        .app
        .request(Method::POST, "/Observation/_search")
        .bearer_auth(&token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("subject=Patient/pb")
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(response).await["total"], 0);
}

async fn attack_11_patient_scopes_without_a_patient_are_refused(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    // A staff token with patient/ scopes but no launch patient.
    let token = app.clinician_token("patient/*.rs", None).await;
    app.expect(&token, Method::GET, "/Observation", None, 403)
        .await;
    app.expect(&token, Method::GET, "/Observation/a-lab", None, 403)
        .await;
    // A patient user without a Patient (no fhirUser) cannot read anything.
    let token = app
        .user_token("patient/*.rs", Role::Patient, None, None)
        .await;
    app.expect(&token, Method::GET, "/Observation", None, 403)
        .await;
}

async fn attack_13_conditional_writes_and_patches_cannot_leave_the_compartment(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.clinician_token("patient/*.cruds", Some("pa")).await;
    let versions = app.version_count().await;
    // A create for another patient.
    let other = observation("x", "pb", "laboratory", None);
    app.expect(&token, Method::POST, "/Observation", Some(&other), 403)
        .await;
    // An update of another patient's observation (404: its existence is not revealed), and
    // moving one's own observation to another patient (403).
    let moved = observation("a-lab", "pb", "laboratory", None);
    app.expect(
        &token,
        Method::PUT,
        "/Observation/b-lab",
        Some(&observation("b-lab", "pa", "laboratory", None)),
        404,
    )
    .await;
    app.expect(&token, Method::PUT, "/Observation/a-lab", Some(&moved), 403)
        .await;
    // A PATCH changing the subject.
    let response = app
        .app
        .request(Method::PATCH, "/Observation/a-lab")
        .bearer_auth(&token)
        .header("content-type", "application/json-patch+json")
        .body(r#"[{"op":"replace","path":"/subject/reference","value":"Patient/pb"}]"#)
        .send()
        .await
        .unwrap();
    expect_outcome(response, 403).await;
    // Deleting another patient's observation, by id and by criteria.
    app.expect(&token, Method::DELETE, "/Observation/b-lab", None, 404)
        .await;
    let response = app
        .send(&token, Method::DELETE, "/Observation?_id=b-lab", None)
        .await;
    assert_eq!(
        response.status(),
        204,
        "no match within the compartment: nothing deleted"
    );
    // Conditional update whose criteria match only another patient's observation: no match
    // in reach, so it creates a new one for pa rather than touching pb's.
    let response = app
        .send(
            &token,
            Method::PUT,
            "/Observation?_id=b-lab",
            Some(&json!({
            "resourceType": "Observation", "status": "final", "code": {"text": "x"},
            "subject": {"reference": "Patient/pa"}})),
        )
        .await;
    assert_eq!(response.status(), 201);
    // Conditional create matching another patient's resource: not returned.
    let response = app
        .app
        .request(Method::POST, "/Observation")
        .bearer_auth(&token)
        .header("content-type", "application/fhir+json")
        .header("if-none-exist", "_id=b-lab")
        .body(observation("ignored", "pa", "laboratory", None).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "created, not answered with pb's resource"
    );
    // pb's observation is untouched.
    let b = json_body(app.get(&app.system, "/Observation/b-lab").await).await;
    assert_eq!(b["meta"]["versionId"], "1");
    assert_eq!(b["subject"]["reference"], "Patient/pb");
    assert_eq!(app.version_count().await, versions + 2);
}

async fn attack_16_a_foreign_id_answers_like_a_missing_one(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.patient_token("patient/*.rs", "pa").await;
    let foreign = app.get(&token, "/Observation/b-lab").await;
    let missing = app.get(&token, "/Observation/no-such").await;
    assert_eq!(foreign.status(), missing.status());
    assert_eq!(foreign.headers().get("www-authenticate"), None);
    let foreign = json_body(foreign).await.to_string().replace("b-lab", "ID");
    let missing = json_body(missing)
        .await
        .to_string()
        .replace("no-such", "ID");
    assert_eq!(foreign, missing);
}

async fn patient_users_are_held_to_their_own_record_whatever_the_scope(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    // Even with user/ scopes, a patient user sees only their compartment.
    let token = app.patient_token("user/*.cruds", "pa").await;
    app.expect(&token, Method::GET, "/Observation/b-lab", None, 404)
        .await;
    assert_eq!(app.get(&token, "/Observation/a-lab").await.status(), 200);
    // They may answer a questionnaire for themselves, not for someone else, and may not write
    // clinical data.
    let answer = |patient: &str| {
        json!({"resourceType": "QuestionnaireResponse", "status": "completed",
               "subject": {"reference": format!("Patient/{patient}")}})
    };
    assert_eq!(
        app.send(
            &token,
            Method::POST,
            "/QuestionnaireResponse",
            Some(&answer("pa"))
        )
        .await
        .status(),
        201
    );
    app.expect(
        &token,
        Method::POST,
        "/QuestionnaireResponse",
        Some(&answer("pb")),
        403,
    )
    .await;
    app.expect(
        &token,
        Method::POST,
        "/Observation",
        Some(&observation("n", "pa", "laboratory", None)),
        403,
    )
    .await;
    // Staff-only types.
    app.expect(&token, Method::GET, "/AuditEvent", None, 403)
        .await;
    app.expect(&token, Method::GET, "/SearchParameter", None, 403)
        .await;
}

async fn transactions_are_authorized_entry_by_entry(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.clinician_token("patient/*.cruds", Some("pa")).await;
    let versions = app.version_count().await;
    let entry = |resource: serde_json::Value, method: &str, url: &str| json!({"resource": resource, "request": {"method": method, "url": url}});
    let transaction = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        entry(observation("t1", "pa", "laboratory", None), "PUT", "Observation/t1"),
        entry(observation("t2", "pb", "laboratory", None), "PUT", "Observation/t2"),
    ]});
    app.expect(&token, Method::POST, "", Some(&transaction), 403)
        .await;
    assert_eq!(
        app.version_count().await,
        versions,
        "nothing of the transaction stored"
    );
    // In a batch, each entry answers for itself.
    let batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Observation/a-lab"}},
        {"request": {"method": "GET", "url": "Observation/b-lab"}},
        entry(observation("t3", "pb", "laboratory", None), "POST", "Observation"),
        {"request": {"method": "DELETE", "url": "Observation/b-lab"}},
    ]});
    let response = json_body(app.send(&token, Method::POST, "", Some(&batch)).await).await;
    let statuses: Vec<&str> = response["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap())
        .collect();
    assert!(statuses[0].starts_with("200"), "{statuses:?}");
    assert!(statuses[1].starts_with("404"), "{statuses:?}");
    assert!(statuses[2].starts_with("403"), "{statuses:?}");
    assert!(statuses[3].starts_with("404"), "{statuses:?}");
    assert_eq!(app.version_count().await, versions);
}
