//! The SMART flows that must work: discovery, the code flow with PKCE for public, symmetric and
//! asymmetric clients, refresh, backend services, introspection, revocation and EHR launch.

use serde_json::{Value, json};
use smart_auth::Role;
use smart_auth::clients::ClientKind;

use crate::helpers::{Backend, header};
use crate::oauth_helpers::*;

crate::on_both_backends!(
    discovery_documents_are_public_json_with_the_implemented_capabilities,
    public_client_code_flow_with_pkce_gives_a_working_token,
    symmetric_client_code_flow_authenticates_with_basic,
    asymmetric_client_code_flow_authenticates_with_private_key_jwt,
    refresh_without_scope_keeps_and_with_scope_narrows,
    patient_deselecting_scopes_leaves_them_out_of_the_grant,
    backend_services_get_short_system_tokens_within_their_registration,
    introspection_describes_own_tokens_and_revocation_ends_them,
    ehr_launch_puts_the_patient_in_context_once,
    staff_standalone_launch_picks_a_patient,
    admin_api_manages_clients_users_and_keys,
);

const PATIENT_SCOPE: &str = "openid fhirUser launch/patient offline_access patient/*.rs";

async fn discovery_documents_are_public_json_with_the_implemented_capabilities(backend: Backend) {
    let app = spawn(backend).await;
    let response = app
        .client
        .get(format!("{}/.well-known/smart-configuration", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("application/json"));
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], app.base.as_str());
    assert_eq!(doc["token_endpoint"], format!("{}/auth/token", app.base));
    assert_eq!(doc["jwks_uri"], format!("{}/auth/jwks", app.base));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(
            doc["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(grant))
        );
    }
    let capabilities = doc["capabilities"].as_array().unwrap();
    for capability in [
        "launch-ehr",
        "client-confidential-asymmetric",
        "sso-openid-connect",
        "permission-v2",
    ] {
        assert!(capabilities.contains(&json!(capability)), "{capability}");
    }
    assert!(!capabilities.contains(&json!("smart-app-state")));
    let openid: Value = app
        .client
        .get(format!("{}/.well-known/openid-configuration", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openid["issuer"], app.base.as_str());
    assert_eq!(
        openid["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(openid["subject_types_supported"], json!(["public"]));
    let jwks: Value = app
        .client
        .get(format!("{}/auth/jwks", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jwks["keys"][0]["kid"].is_string());
    assert!(jwks["keys"][0].get("d").is_none());
    let style = app
        .client
        .get(format!("{}/auth/style.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(style.status(), 200);
    assert!(style.json::<Value>().await.unwrap()["color_background"].is_string());
    let metadata: Value = app
        .client
        .get(format!("{}/metadata", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["rest"][0]["security"]["service"][0]["coding"][0]["code"],
        "SMART-on-FHIR"
    );
}

/// Checks a token response and that its access token opens the FHIR API.
async fn check_tokens(app: &crate::helpers::TestApp, tokens: &Value, flow: &Flow) {
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    assert_eq!(tokens["patient"], "p1");
    assert_eq!(tokens["need_patient_banner"], true);
    assert!(tokens["smart_style_url"].is_string());
    assert!(tokens["refresh_token"].is_string());
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = read_with(app, &app.base, access).await;
    assert_ne!(status, 401, "a fresh token is accepted");
    // The id_token: RS256 by a key of our JWKS, for this client, with the nonce.
    let id_token = tokens["id_token"].as_str().unwrap();
    let parsed = smart_auth::jose::Unverified::parse(id_token).unwrap();
    let kid = parsed.header.kid.clone().unwrap();
    let key = auth_server(app)
        .keys()
        .verifying(app.store.as_ref(), "default", &kid)
        .await
        .unwrap()
        .unwrap();
    let claims = parsed
        .verify(&key, &[smart_auth::jose::Alg::Rs256])
        .unwrap();
    assert_eq!(claims["aud"], flow.client_id.as_str());
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["nonce"], flow.nonce.as_str());
    assert_eq!(claims["fhirUser"], format!("{}/Patient/p1", app.base));
}

async fn public_client_code_flow_with_pkce_gives_a_working_token(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let client = register(&app, "default", ClientKind::Public, PATIENT_SCOPE).await;
    let mut flow = Flow::new(&app.base, &client.client_id, PATIENT_SCOPE);
    let code = flow.code("pat", None).await;
    let response = flow.exchange(&code, &client).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    assert_eq!(header(&response, "pragma"), "no-cache");
    let tokens: Value = response.json().await.unwrap();
    check_tokens(&app, &tokens, &flow).await;
    let granted: Vec<&str> = tokens["scope"].as_str().unwrap().split(' ').collect();
    for scope in PATIENT_SCOPE.split(' ') {
        assert!(granted.contains(&scope), "{scope} in {granted:?}");
    }
}

async fn symmetric_client_code_flow_authenticates_with_basic(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let client = register(
        &app,
        "default",
        ClientKind::ConfidentialSymmetric,
        PATIENT_SCOPE,
    )
    .await;
    let mut flow = Flow::new(&app.base, &client.client_id, PATIENT_SCOPE);
    let tokens = flow.tokens(&client, "pat").await;
    check_tokens(&app, &tokens, &flow).await;
}

async fn asymmetric_client_code_flow_authenticates_with_private_key_jwt(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let client = register_with(
        &app,
        "default",
        ClientKind::ConfidentialAsymmetric,
        PATIENT_SCOPE,
        Some(TestKey::rs384()),
    )
    .await;
    let mut flow = Flow::new(&app.base, &client.client_id, PATIENT_SCOPE);
    let tokens = flow.tokens(&client, "pat").await;
    check_tokens(&app, &tokens, &flow).await;
}

async fn refresh_without_scope_keeps_and_with_scope_narrows(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let scope = "launch/patient offline_access patient/Patient.rs patient/Observation.rs";
    let client = register(&app, "default", ClientKind::Public, scope).await;
    let mut flow = Flow::new(&app.base, &client.client_id, scope);
    let tokens = flow.tokens(&client, "pat").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let response = refresh(&flow.http, &app.base, &client, first, None).await;
    assert_eq!(response.status(), 200);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["scope"], tokens["scope"]);
    assert_eq!(again["patient"], "p1");
    let second = again["refresh_token"].as_str().unwrap();
    assert_ne!(second, first, "rotated");
    let response = refresh(
        &flow.http,
        &app.base,
        &client,
        second,
        Some("patient/Patient.rs"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let narrowed: Value = response.json().await.unwrap();
    assert_eq!(narrowed["scope"], "patient/Patient.rs");
    assert_ne!(
        read_with(&app, &app.base, narrowed["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
}

async fn patient_deselecting_scopes_leaves_them_out_of_the_grant(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let scope = "launch/patient patient/Patient.rs patient/Observation.rs patient/Condition.rs";
    let client = register(&app, "default", ClientKind::Public, scope).await;
    let mut flow = Flow::new(&app.base, &client.client_id, scope);
    let page = flow.authorize().await;
    let consent = flow
        .login(&page, "pat", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let response = flow
        .approve(&consent, &["launch/patient", "patient/Patient.rs"], None)
        .await;
    assert_eq!(response.status(), 303);
    let code = query_param(&header(&response, "location"), "code").unwrap();
    let tokens: Value = flow.exchange(&code, &client).await.json().await.unwrap();
    let granted = tokens["scope"].as_str().unwrap();
    assert!(granted.contains("patient/Patient.rs"));
    assert!(!granted.contains("Observation"), "{granted}");
    assert!(!granted.contains("Condition"), "{granted}");
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
}

async fn backend_services_get_short_system_tokens_within_their_registration(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(
        &app,
        "default",
        ClientKind::ConfidentialAsymmetric,
        "system/Patient.rs system/Observation.rs",
    )
    .await;
    let http = no_redirects();
    let token_url = format!("{}/auth/token", app.base);
    let key = client.key.clone().unwrap();
    let form = |scope: &str, assertion: String| {
        vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", scope.to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion),
        ]
    };
    let assertion = key.sign(&assertion_claims(&client.client_id, &token_url, 240), None);
    let response = post_form(
        &http,
        &token_url,
        &form("system/Patient.rs system/Encounter.rs", assertion),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["scope"], "system/Patient.rs");
    assert!(tokens["expires_in"].as_i64().unwrap() <= 300);
    assert!(tokens.get("refresh_token").is_none());
    assert_ne!(
        read_with(&app, &app.base, tokens["access_token"].as_str().unwrap())
            .await
            .0,
        401
    );
    // Nothing registered among the requested scopes.
    let assertion = key.sign(&assertion_claims(&client.client_id, &token_url, 240), None);
    let response = post_form(
        &http,
        &token_url,
        &form("system/Encounter.rs", assertion),
        None,
    )
    .await;
    expect_oauth_error(response, &[400], Some("invalid_scope")).await;
    // A bad grant type and a bad assertion type.
    let response = post_form(
        &http,
        &token_url,
        &[("grant_type", "password".to_owned())],
        None,
    )
    .await;
    expect_oauth_error(response, &[400], Some("unsupported_grant_type")).await;
    let mut bad = form(
        "system/Patient.rs",
        key.sign(&assertion_claims(&client.client_id, &token_url, 240), None),
    );
    bad[2].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".to_owned();
    expect_oauth_error(
        post_form(&http, &token_url, &bad, None).await,
        &[400, 401],
        None,
    )
    .await;
}

async fn introspection_describes_own_tokens_and_revocation_ends_them(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let client = register(
        &app,
        "default",
        ClientKind::ConfidentialSymmetric,
        PATIENT_SCOPE,
    )
    .await;
    let mut flow = Flow::new(&app.base, &client.client_id, PATIENT_SCOPE);
    let tokens = flow.tokens(&client, "pat").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let introspect = |token: &str| {
        let (http, url, basic) = (
            flow.http.clone(),
            format!("{}/auth/introspect", app.base),
            basic_of(&client),
        );
        let form = vec![("token", token.to_owned())];
        async move {
            post_form(&http, &url, &form, basic)
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let active = introspect(&access).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["client_id"], client.client_id.as_str());
    assert_eq!(active["patient"], "p1");
    assert!(active["scope"].as_str().unwrap().contains("patient/*.rs"));
    assert!(active["exp"].is_i64());
    assert_eq!(
        introspect("invalid_token_value").await,
        json!({"active": false})
    );
    // With the token itself as the caller's bearer.
    let by_bearer: Value = flow
        .http
        .post(format!("{}/auth/introspect", app.base))
        .bearer_auth(&access)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={access}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_bearer["active"], true);
    // Revocation by the refresh token ends the access token too.
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let response = post_form(
        &flow.http,
        &format!("{}/auth/revoke", app.base),
        &[("token", refresh_token.to_owned())],
        basic_of(&client),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(introspect(&access).await, json!({"active": false}));
    let (status, challenge) = read_with(&app, &app.base, &access).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let response = refresh(&flow.http, &app.base, &client, refresh_token, None).await;
    expect_oauth_error(response, &[400, 401], None).await;
    // Unknown tokens: 200 all the same.
    let response = post_form(
        &flow.http,
        &format!("{}/auth/revoke", app.base),
        &[("token", "nothing".to_owned())],
        basic_of(&client),
    )
    .await;
    assert_eq!(response.status(), 200);
}

/// An access token of a staff or admin user, minted directly.
pub async fn staff_token(
    app: &crate::helpers::TestApp,
    tenant: &str,
    base: &str,
    role: Role,
) -> String {
    let now = fhir_core::time::now_millis();
    let grant = smart_auth::Grant {
        id: smart_auth::jose::random_token(16),
        client_id: "ehr".into(),
        user: Some(smart_auth::tokens::GrantUser {
            id: "u1".into(),
            username: "staff".into(),
            role,
            fhir_user: None,
            credentials_epoch: 0,
        }),
        scope: "user/*.cruds".into(),
        patient: None,
        encounter: None,
        created_at: now,
        expires_at: now + 3_600_000,
        refresh_sha256: None,
        session: None,
    };
    let auth = auth_server(app);
    auth.save_grant(tenant, &grant).await.unwrap();
    auth.issue_access_token(tenant, base, &grant, 600)
        .await
        .unwrap()
        .0
}

async fn ehr_launch_puts_the_patient_in_context_once(backend: Backend) {
    let app = spawn(backend).await;
    patient(&app, "default", "p7").await;
    user(
        &app,
        "default",
        "doc",
        Role::Clinician,
        Some("Practitioner/d1"),
    )
    .await;
    let scope = "launch openid fhirUser patient/*.rs";
    let client = register(&app, "default", ClientKind::Public, scope).await;
    let ehr = staff_token(&app, "default", &app.base, Role::Clinician).await;
    let response = app
        .client
        .post(format!("{}/auth/launch", app.base))
        .bearer_auth(&ehr)
        .header("content-type", "application/json")
        .body(json!({"patient": "p7"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let launch = response.json::<Value>().await.unwrap()["launch"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut flow = Flow::new(&app.base, &client.client_id, scope);
    flow.launch = Some(launch.clone());
    let code = flow.code("doc", None).await;
    let tokens: Value = flow.exchange(&code, &client).await.json().await.unwrap();
    assert_eq!(tokens["patient"], "p7");
    // Used once: a second authorization with the same launch fails.
    let mut again = Flow::new(&app.base, &client.client_id, scope);
    again.launch = Some(launch);
    let params = again.params();
    let response = again.authorize_with(&params).await;
    assert_eq!(response.status(), 303);
    let location = header(&response, "location");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert!(query_param(&location, "code").is_none());
    // A patient's token cannot launch.
    let patient_token = staff_token(&app, "default", &app.base, Role::Patient).await;
    let response = app
        .client
        .post(format!("{}/auth/launch", app.base))
        .bearer_auth(&patient_token)
        .header("content-type", "application/json")
        .body(json!({"patient": "p7"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

async fn staff_standalone_launch_picks_a_patient(backend: Backend) {
    let app = spawn(backend).await;
    patient(&app, "default", "p9").await;
    user(&app, "default", "doc", Role::Clinician, None).await;
    let scope = "launch/patient patient/*.rs user/Patient.rs system/Patient.rs";
    let client = register(
        &app,
        "default",
        ClientKind::Public,
        "launch/patient patient/*.rs user/Patient.rs",
    )
    .await;
    let mut flow = Flow::new(&app.base, &client.client_id, scope);
    let page = flow.authorize().await;
    let consent = flow
        .login(&page, "doc", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        consent.contains("<select name=\"patient\""),
        "a patient picker"
    );
    assert!(consent.contains("<option value=\"p9\">Lovelace, Ada (1990-04-01) - p9</option>"));
    assert!(
        !consent.contains("system/"),
        "system/ scopes are never offered to users"
    );
    let response = flow
        .approve(
            &consent,
            &["launch/patient", "patient/*.rs"],
            Some("nobody"),
        )
        .await;
    assert_eq!(response.status(), 400, "unknown patient");
    let consent = response.text().await.unwrap();
    let response = flow
        .approve(&consent, &["launch/patient", "patient/*.rs"], Some("p9"))
        .await;
    assert_eq!(response.status(), 303);
    let code = query_param(&header(&response, "location"), "code").unwrap();
    let tokens: Value = flow.exchange(&code, &client).await.json().await.unwrap();
    assert_eq!(tokens["patient"], "p9");
    assert_eq!(tokens["scope"], "launch/patient patient/*.rs");
}

async fn admin_api_manages_clients_users_and_keys(backend: Backend) {
    let app = spawn(backend).await;
    let admin = staff_token(&app, "default", &app.base, Role::Admin).await;
    let clinician = staff_token(&app, "default", &app.base, Role::Clinician).await;
    let url = |path: &str| format!("{}/auth/admin/{path}", app.base);
    let response = app
        .client
        .get(url("clients"))
        .bearer_auth(&clinician)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let response = app.client.get(url("clients")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = app
        .client
        .post(url("clients"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(json!({"name": "Chart", "kind": "confidential-symmetric", "redirect_uris": [REDIRECT], "scope": "user/*.rs"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(created["client_secret"].is_string());
    assert!(created.get("secret_sha256").is_none());
    let id = created["client_id"].as_str().unwrap();
    let listed: Value = app
        .client
        .get(url("clients"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id)
    );
    // A token of the client, then the client deleted: the token ends with it.
    let client_token = {
        let now = fhir_core::time::now_millis();
        let grant = smart_auth::Grant {
            id: smart_auth::jose::random_token(16),
            client_id: id.to_owned(),
            user: None,
            scope: "system/*.rs".into(),
            patient: None,
            encounter: None,
            created_at: now,
            expires_at: now + 600_000,
            refresh_sha256: None,
            session: None,
        };
        let auth = auth_server(&app);
        auth.save_grant("default", &grant).await.unwrap();
        auth.issue_access_token("default", &app.base, &grant, 600)
            .await
            .unwrap()
            .0
    };
    assert_ne!(read_with(&app, &app.base, &client_token).await.0, 401);
    let response = app
        .client
        .delete(url(&format!("clients/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(read_with(&app, &app.base, &client_token).await.0, 401);
    let response = app
        .client
        .post(url("users"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(json!({"username": "nurse", "password": PASSWORD, "role": "clinician"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let users: Value = app
        .client
        .get(url("users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(users.to_string().contains("nurse"));
    assert!(!users.to_string().contains("argon2"));
    let response = app
        .client
        .post(url("users"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(json!({"username": "nurse", "password": PASSWORD, "role": "clinician"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = app
        .client
        .post(url("users/nurse/password"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body(json!({"password": "another long password"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app
        .client
        .post(url("keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Tokens signed before the rotation still verify.
    assert_ne!(read_with(&app, &app.base, &admin).await.0, 401);
    let response = app
        .client
        .post(url("users"))
        .bearer_auth(&admin)
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}
