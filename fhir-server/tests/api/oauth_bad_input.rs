//! Bad input on every authorization endpoint: missing and repeated parameters, oversized
//! values, wrong content types and methods. Never a panic, never a redirect to an unchecked
//! URI, always a well-formed page or JSON error.

use serde_json::{Value, json};
use smart_auth::Role;
use smart_auth::clients::ClientKind;

use crate::helpers::{Backend, TestApp, header};
use crate::oauth_flow::staff_token;
use crate::oauth_helpers::*;

crate::on_both_backends!(
    token_endpoint_refuses_bad_forms_with_rfc6749_errors,
    authorize_refuses_repeated_oversized_or_misencoded_parameters_with_a_page,
    authorize_by_post_works_and_state_round_trips_exactly,
    login_consent_and_logout_without_a_session_get_error_pages,
    introspect_and_revoke_refuse_bad_forms,
    launch_and_admin_refuse_bad_json,
    unknown_endpoints_and_methods_get_json_errors,
);

const SCOPE: &str = "launch/patient patient/*.rs";

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: String,
) -> reqwest::Response {
    no_redirects()
        .post(format!("{}{path}", app.base))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

fn assert_page(text: &str) {
    assert!(
        text.starts_with("<!DOCTYPE html>") && text.ends_with("</html>"),
        "{text}"
    );
}

async fn token_endpoint_refuses_bad_forms_with_rfc6749_errors(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(&app, "default", ClientKind::Public, SCOPE).await;
    let id = &client.client_id;
    let big = "a".repeat(5000);
    let cases = [
        (
            "application/json",
            json!({"grant_type": "authorization_code"}).to_string(),
            "invalid_request",
        ),
        (
            "text/plain",
            "grant_type=authorization_code".to_owned(),
            "invalid_request",
        ),
        (FORM, String::new(), "invalid_request"),
        (
            FORM,
            format!("grant_type=authorization_code&grant_type=refresh_token&client_id={id}"),
            "invalid_request",
        ),
        (
            FORM,
            format!(
                "grant_type=authorization_code&client_id={id}&client_id={id}&code=x&redirect_uri=y"
            ),
            "invalid_request",
        ),
        (
            FORM,
            format!("grant_type=authorization_code&client_id={id}&redirect_uri={REDIRECT}"),
            "invalid_request",
        ),
        (
            FORM,
            format!(
                "grant_type=authorization_code&client_id={id}&code={big}&redirect_uri={REDIRECT}"
            ),
            "invalid_request",
        ),
        (
            FORM,
            format!("grant_type=refresh_token&client_id={id}"),
            "invalid_request",
        ),
        (
            FORM,
            format!("grant_type=client_credentials&client_id={id}&scope=system/*.rs"),
            "invalid_request",
        ),
        (
            FORM,
            format!("grant_type=implicit&client_id={id}"),
            "unsupported_grant_type",
        ),
        (
            FORM,
            format!(
                "grant_type=authorization_code&client_assertion=x&code=c&redirect_uri={REDIRECT}"
            ),
            "invalid_request",
        ),
        (
            FORM,
            "grant_type=%FF%FE&x".to_owned(),
            "unsupported_grant_type",
        ),
    ];
    for (content_type, body, error) in cases {
        let response = post_raw(&app, "/auth/token", content_type, body.clone()).await;
        assert_eq!(header(&response, "cache-control"), "no-store");
        expect_oauth_error(response, &[400], Some(error)).await;
    }
    let huge = format!("grant_type=authorization_code&pad={}", "b".repeat(100_000));
    expect_oauth_error(
        post_raw(&app, "/auth/token", FORM, huge).await,
        &[400, 413],
        None,
    )
    .await;
    // Garbage Basic credentials.
    for value in ["Basic !!!", "Basic ", "Basic Og==", "Basic bm9jb2xvbg=="] {
        let response = no_redirects()
            .post(format!("{}/auth/token", app.base))
            .header("content-type", FORM)
            .header("authorization", value)
            .body("grant_type=authorization_code&code=x&redirect_uri=y")
            .send()
            .await
            .unwrap();
        expect_oauth_error(response, &[400, 401], Some("invalid_client")).await;
    }
}

async fn authorize_refuses_repeated_oversized_or_misencoded_parameters_with_a_page(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let client = register(&app, "default", ClientKind::Public, SCOPE).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let base_params = flow.params();
    let mut repeated = base_params.clone();
    repeated.push(("redirect_uri".into(), "https://evil.example/".into()));
    let mut repeated_state = base_params.clone();
    repeated_state.push(("state".into(), "again".into()));
    let mut oversized = base_params.clone();
    oversized.push(("junk".into(), "x".repeat(5000)));
    let missing_client: Vec<(String, String)> = base_params
        .iter()
        .filter(|(k, _)| k != "client_id")
        .cloned()
        .collect();
    for params in [repeated, repeated_state, oversized, missing_client] {
        let response = flow.authorize_with(&params).await;
        assert_eq!(response.status(), 400);
        assert!(header(&response, "location").is_empty());
        assert_page(&response.text().await.unwrap());
    }
    // A scope missing or a response type other than code: an error redirect.
    for (name, value) in [("scope", ""), ("response_type", "token")] {
        let params: Vec<(String, String)> = base_params
            .iter()
            .map(|(k, v)| {
                if k == name {
                    (k.clone(), value.to_owned())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect();
        let response = flow.authorize_with(&params).await;
        assert_eq!(response.status(), 303);
        assert!(query_param(&header(&response, "location"), "error").is_some());
    }
    // POST with a JSON body.
    let response = post_raw(&app, "/auth/authorize", "application/json", "{}".into()).await;
    assert_eq!(response.status(), 400);
    assert_page(&response.text().await.unwrap());
}

async fn authorize_by_post_works_and_state_round_trips_exactly(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let client = register(&app, "default", ClientKind::Public, SCOPE).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    flow.state = "a b&c<d>\"é'=+%".into();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(flow.params())
        .finish();
    let response = post_raw(&app, "/auth/authorize", FORM, body).await;
    assert_eq!(response.status(), 200);
    flow.browser.absorb(&response);
    let page = response.text().await.unwrap();
    assert_page(&page);
    let consent = flow
        .login(&page, "pat", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert_page(&consent);
    let response = flow
        .approve(&consent, &["launch/patient", "patient/*.rs"], None)
        .await;
    let location = header(&response, "location");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(flow.state.as_str())
    );
    // Deny: access_denied, state again.
    let mut denied = Flow::new(&app.base, &client.client_id, SCOPE);
    let page = denied.authorize().await;
    let consent = denied
        .login(&page, "pat", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&consent);
    let response = denied
        .post_form("/auth/consent", &[("csrf", &csrf), ("decision", "deny")])
        .await;
    let location = header(&response, "location");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&location, "state"), Some(denied.state.clone()));
}

async fn login_consent_and_logout_without_a_session_get_error_pages(backend: Backend) {
    let app = spawn(backend).await;
    for path in ["/auth/login", "/auth/consent", "/auth/logout"] {
        let response = post_raw(&app, path, FORM, "csrf=x&username=a&password=b".into()).await;
        assert!(
            response.status() == 400 || response.status() == 200,
            "{path}"
        );
        assert_page(&response.text().await.unwrap());
        let response = post_raw(&app, path, "application/json", "{}".into()).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_page(&response.text().await.unwrap());
    }
    // A forged cookie.
    let response = no_redirects()
        .post(format!("{}/auth/login", app.base))
        .header("content-type", FORM)
        .header("cookie", format!("smart_session={}", "A".repeat(43)))
        .body("csrf=x&username=a&password=b")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_page(&response.text().await.unwrap());
}

async fn introspect_and_revoke_refuse_bad_forms(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(&app, "default", ClientKind::ConfidentialSymmetric, SCOPE).await;
    let http = no_redirects();
    for endpoint in ["introspect", "revoke"] {
        let url = format!("{}/auth/{endpoint}", app.base);
        let response = post_form(&http, &url, &[], basic_of(&client)).await;
        expect_oauth_error(response, &[400], Some("invalid_request")).await;
        let twice = [("token", "a".to_owned()), ("token", "b".to_owned())];
        expect_oauth_error(
            post_form(&http, &url, &twice, basic_of(&client)).await,
            &[400],
            Some("invalid_request"),
        )
        .await;
        let response = http
            .post(&url)
            .basic_auth(&client.client_id, client.secret.clone())
            .header("content-type", "application/json")
            .body("{\"token\":\"a\"}")
            .send()
            .await
            .unwrap();
        expect_oauth_error(response, &[400], Some("invalid_request")).await;
        let response = post_form(&http, &url, &[("token", "a".to_owned())], None).await;
        expect_oauth_error(response, &[401], Some("invalid_client")).await;
    }
}

async fn launch_and_admin_refuse_bad_json(backend: Backend) {
    let app = spawn(backend).await;
    let token = staff_token(&app, "default", &app.base, Role::Admin).await;
    let send = |path: &str, content_type: &str, body: &str| {
        app.client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
    };
    let cases: [(&str, &str, &str, u16); 8] = [
        ("/auth/launch", "application/json", "{", 400),
        ("/auth/launch", "text/plain", "{}", 415),
        ("/auth/launch", "application/json", "{}", 400),
        (
            "/auth/launch",
            "application/json",
            r#"{"patient": "nobody"}"#,
            400,
        ),
        ("/auth/launch", "application/json", r#"{"patient": 7}"#, 400),
        (
            "/auth/admin/users",
            "application/json",
            r#"{"username": "x"}"#,
            400,
        ),
        (
            "/auth/admin/users",
            "application/json",
            r#"{"username": "<b>", "password": "long enough password", "role": "admin"}"#,
            400,
        ),
        (
            "/auth/admin/clients",
            "application/json",
            r#"{"name": "x", "kind": "public", "scope": "system/*.rs"}"#,
            400,
        ),
    ];
    for (path, content_type, body, status) in cases {
        let response = send(path, content_type, body).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {body}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].is_string());
    }
    let response = app
        .client
        .post(format!("{}/auth/launch", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

async fn unknown_endpoints_and_methods_get_json_errors(backend: Backend) {
    let app = spawn(backend).await;
    for (method, path, status) in [
        (reqwest::Method::GET, "/auth/token", 405),
        (reqwest::Method::DELETE, "/auth/authorize", 405),
        (reqwest::Method::GET, "/auth/nothing", 404),
        (reqwest::Method::GET, "/.well-known/other", 404),
        (reqwest::Method::GET, "/auth/admin/clients", 401),
    ] {
        let response = app
            .client
            .request(method, format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error"].is_string());
    }
}

/// Odd bytes on every endpoint and method: never a server error, always a body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_endpoint_fails_on_odd_input() {
    let app = spawn(Backend::Sqlite).await;
    register(&app, "default", ClientKind::ConfidentialSymmetric, SCOPE).await;
    let paths = [
        "/.well-known/smart-configuration",
        "/.well-known/openid-configuration",
        "/auth/jwks",
        "/auth/style.json",
        "/auth/authorize",
        "/auth/login",
        "/auth/consent",
        "/auth/logout",
        "/auth/token",
        "/auth/introspect",
        "/auth/revoke",
        "/auth/launch",
        "/auth/admin/clients",
        "/auth/admin/users/x/password",
        "/auth",
    ];
    let bodies: [&[u8]; 5] = [
        b"",
        b"\xff\xfe\x00=\x00&&==&%zz=%",
        b"grant_type=authorization_code&code=%00&redirect_uri=%0d%0aLocation:%20x",
        b"{\"patient\": {\"a\": [1, 2]}}",
        b"token=a.b.c&token_type_hint=refresh_token",
    ];
    let http = no_redirects();
    for path in paths {
        for method in [
            reqwest::Method::GET,
            reqwest::Method::POST,
            reqwest::Method::PUT,
        ] {
            for (index, body) in bodies.iter().enumerate() {
                let content_type = if index == 3 { "application/json" } else { FORM };
                let response = http
                    .request(method.clone(), format!("{}{path}?a=%ff&a=%00&x", app.base))
                    .header("content-type", content_type)
                    .header(
                        "cookie",
                        reqwest::header::HeaderValue::from_bytes(b"smart_session=\xe9\xff; x")
                            .unwrap(),
                    )
                    .header(
                        "authorization",
                        reqwest::header::HeaderValue::from_bytes(b"Bearer \xe9.\xff").unwrap(),
                    )
                    .body(body.to_vec())
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                assert!(status < 500, "{method} {path}: {status}");
                assert!(
                    !response.bytes().await.unwrap().is_empty() || status == 200 || status == 303
                );
            }
        }
    }
}
