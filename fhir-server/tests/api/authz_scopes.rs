//! Scopes ∩ roles: granular scopes (attack 12), `_has` oracles (attack 7), writes under read
//! scopes, the role matrix of the README, backend services, and tokens of another tenant
//! (attack 15).

use reqwest::Method;
use serde_json::json;
use smart_auth::Role;

use crate::authz_helpers::{AuthApp, LAB, ids, observation};
use crate::helpers::{Backend, expect_outcome, json_body};

crate::on_both_backends!(
    attack_12_granular_scopes_return_only_the_granted_categories,
    attack_12_a_write_under_a_read_scope_is_refused,
    attack_07_has_through_a_type_without_access_is_refused,
    attack_15_a_token_of_one_tenant_is_refused_by_another,
    receptionists_see_demographics_and_schedules_not_clinical_data,
    clinicians_and_admins_by_the_role_matrix,
    backend_services_are_held_to_their_system_scopes,
    attack_14_references_to_another_tenant_are_refused_on_write,
);

async fn attack_12_granular_scopes_return_only_the_granted_categories(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app
        .patient_token(
            &format!("patient/Observation.rs?category={LAB} patient/Patient.rs"),
            "pa",
        )
        .await;
    let bundle = json_body(app.get(&token, "/Observation").await).await;
    let mut found = ids(&bundle);
    found.sort();
    assert_eq!(found, ["Observation/a-derived", "Observation/a-lab"]);
    assert_eq!(bundle["total"], 2);
    // The vital sign is out of reach by id, by search on its category, by include.
    app.expect(&token, Method::GET, "/Observation/a-vital", None, 404)
        .await;
    let bundle = json_body(app.get(&token, "/Observation?category=vital-signs").await).await;
    assert_eq!(bundle["total"], 0);
    let bundle = json_body(
        app.get(&token, "/Patient?_id=pa&_revinclude=Observation:subject")
            .await,
    )
    .await;
    assert!(!ids(&bundle).contains(&"Observation/a-vital".to_owned()));
    // Types without a scope: 403.
    app.expect(&token, Method::GET, "/Condition", None, 403)
        .await;
    // Two categories of one parameter combine as OR.
    let token = app
        .patient_token(
            "patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs",
            "pa",
        )
        .await;
    assert_eq!(
        json_body(app.get(&token, "/Observation").await).await["total"],
        3
    );
}

async fn attack_12_a_write_under_a_read_scope_is_refused(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let versions = app.version_count().await;
    let token = app.clinician_token("user/*.rs", None).await;
    assert_eq!(app.get(&token, "/Observation/b-lab").await.status(), 200);
    let new = observation("n", "pa", "laboratory", None);
    app.expect(&token, Method::POST, "/Observation", Some(&new), 403)
        .await;
    app.expect(
        &token,
        Method::PUT,
        "/Observation/a-lab",
        Some(&observation("a-lab", "pa", "vital-signs", None)),
        403,
    )
    .await;
    app.expect(&token, Method::DELETE, "/Observation/a-lab", None, 403)
        .await;
    // v1 scopes: read is rs.
    let token = app.clinician_token("user/Observation.read", None).await;
    assert_eq!(app.get(&token, "/Observation?_count=1").await.status(), 200);
    app.expect(&token, Method::POST, "/Observation", Some(&new), 403)
        .await;
    assert_eq!(app.version_count().await, versions);
}

async fn attack_07_has_through_a_type_without_access_is_refused(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app
        .user_token(
            "user/*.cruds",
            Role::Receptionist,
            Some("Practitioner/dr"),
            None,
        )
        .await;
    assert_eq!(app.get(&token, "/Patient").await.status(), 200);
    // Would tell which patients have a given observation.
    app.expect(
        &token,
        Method::GET,
        "/Patient?_has:Observation:patient:code=8480-6",
        None,
        403,
    )
    .await;
    // A chain through a type without access, too.
    app.expect(
        &token,
        Method::GET,
        "/Appointment?actor:Patient._has:Observation:patient:code=8480-6",
        None,
        403,
    )
    .await;
    // Under a patient limit, `_has` from a shared type is refused.
    let token = app.patient_token("patient/*.rs", "pa").await;
    app.expect(
        &token,
        Method::GET,
        "/Practitioner?_has:Observation:performer:code=8480-6",
        None,
        403,
    )
    .await;
}

async fn attack_15_a_token_of_one_tenant_is_refused_by_another(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.app.store.create_tenant("other").await.unwrap();
    let token = app.backend_token("system/*.rs").await;
    let response = app
        .app
        .client
        .get(format!("{}/t/other/fhir/Patient", app.app.origin))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_outcome(response, 401).await;
    // A token of the other tenant, at the default tenant.
    let other_base = format!("{}/t/other/fhir", app.app.origin);
    let token = app
        .mint("system/*.rs", None, None, "other", &other_base)
        .await;
    app.expect(&token, Method::GET, "/Patient", None, 401).await;
    let response = app
        .app
        .client
        .get(format!("{other_base}/Patient"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn receptionists_see_demographics_and_schedules_not_clinical_data(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app
        .user_token(
            "user/*.cruds",
            Role::Receptionist,
            Some("Practitioner/dr"),
            None,
        )
        .await;
    assert_eq!(app.get(&token, "/Patient/pb").await.status(), 200);
    let appointment = json!({"resourceType": "Appointment", "status": "booked",
        "participant": [{"actor": {"reference": "Patient/pa"}, "status": "accepted"}]});
    assert_eq!(
        app.send(&token, Method::POST, "/Appointment", Some(&appointment))
            .await
            .status(),
        201
    );
    for path in ["/Observation/a-lab", "/Observation", "/Condition"] {
        let response = app.get(&token, path).await;
        assert_eq!(response.status(), 403, "{path}");
    }
    // $everything brings only what the role may see.
    let everything = json_body(app.get(&token, "/Patient/pa/$everything").await).await;
    assert!(
        !ids(&everything)
            .iter()
            .any(|id| id.starts_with("Observation/"))
    );
    assert!(ids(&everything).contains(&"Patient/pa".to_owned()));
    // Includes of clinical resources are dropped.
    let bundle = json_body(
        app.get(&token, "/Patient?_id=pa&_revinclude=Observation:subject")
            .await,
    )
    .await;
    assert_eq!(ids(&bundle), ["Patient/pa"]);
}

async fn clinicians_and_admins_by_the_role_matrix(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let clinician = app.clinician_token("user/*.cruds", None).await;
    assert_eq!(
        app.get(&clinician, "/Observation/b-lab").await.status(),
        200
    );
    assert_eq!(
        app.send(
            &clinician,
            Method::POST,
            "/Observation",
            Some(&observation("c", "pb", "laboratory", None))
        )
        .await
        .status(),
        201
    );
    let parameter = json!({"resourceType": "SearchParameter", "url": "http://example.org/sp", "name": "x",
        "status": "active", "description": "x", "code": "x", "base": ["Patient"], "type": "token",
        "expression": "Patient.active"});
    app.expect(
        &clinician,
        Method::POST,
        "/SearchParameter",
        Some(&parameter),
        403,
    )
    .await;
    app.expect(&clinician, Method::POST, "/$reindex", None, 403)
        .await;
    let admin = app
        .user_token("user/*.cruds", Role::Admin, None, None)
        .await;
    assert_eq!(
        app.send(&admin, Method::POST, "/SearchParameter", Some(&parameter))
            .await
            .status(),
        201
    );
    // AuditEvent is append-only: not even an admin deletes it.
    app.expect(&admin, Method::DELETE, "/AuditEvent/x", None, 403)
        .await;
}

async fn backend_services_are_held_to_their_system_scopes(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    let token = app.backend_token("system/Observation.rs").await;
    assert_eq!(
        json_body(app.get(&token, "/Observation").await).await["total"],
        4
    );
    app.expect(&token, Method::GET, "/Patient/pa", None, 403)
        .await;
    app.expect(&token, Method::DELETE, "/Observation/a-lab", None, 403)
        .await;
    // user/ and patient/ scopes mean nothing without a user.
    let token = app.backend_token("user/*.cruds patient/*.cruds").await;
    app.expect(&token, Method::GET, "/Observation", None, 403)
        .await;
}

async fn attack_14_references_to_another_tenant_are_refused_on_write(backend: Backend) {
    let app = AuthApp::spawn(backend).await;
    app.clinic().await;
    app.app.store.create_tenant("other").await.unwrap();
    let versions = app.version_count().await;
    for reference in [
        format!("{}/t/other/fhir/Patient/pa", app.app.origin),
        format!("{}/fhir/Patient/pa", app.app.origin).replace("/fhir/", "/t/default2/fhir/"),
    ] {
        let mut resource = observation("x", "pa", "laboratory", None);
        resource["subject"]["reference"] = json!(reference);
        let response = app
            .send(&app.system, Method::PUT, "/Observation/x", Some(&resource))
            .await;
        expect_outcome(response, 422).await;
    }
    // The tenant's own absolute base is fine; a relative reference stays in its tenant and
    // does not resolve to another's.
    let mut resource = observation("y", "pa", "laboratory", None);
    resource["subject"]["reference"] = json!(format!("{}/Patient/pa", app.app.base));
    assert_eq!(
        app.send(&app.system, Method::PUT, "/Observation/y", Some(&resource))
            .await
            .status(),
        201
    );
    assert_eq!(app.version_count().await, versions + 1);
    let other_base = format!("{}/t/other/fhir", app.app.origin);
    let token = app
        .mint("system/*.cruds", None, None, "other", &other_base)
        .await;
    let response = app
        .app
        .client
        .get(format!(
            "{other_base}/Observation?subject=Patient/pa&_include=Observation:subject"
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(json_body(response).await["total"], 0);
}
