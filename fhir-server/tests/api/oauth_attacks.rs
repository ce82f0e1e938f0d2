//! The attacks of the security reference (section 5, 15 and 17–26) and the negative tests of
//! the ONC g10 kit, against the authorization server.

use serde_json::{Value, json};
use smart_auth::Role;
use smart_auth::clients::ClientKind;

use crate::helpers::{Backend, Options, TestApp, header};
use crate::oauth_flow::staff_token;
use crate::oauth_helpers::*;

crate::on_both_backends!(
    g10_invalid_aud_gets_no_code,
    g10_bad_code_and_bad_basic_client_are_refused,
    g10_pkce_verifier_missing_blank_wrong_or_equal_to_the_challenge_is_refused,
    g10_random_refresh_token_is_refused,
    attack_15_a_token_or_launch_of_tenant_a_is_refused_at_tenant_b,
    attack_17_reusing_a_code_revokes_its_tokens,
    attack_18_redirect_uri_variants_get_an_error_page_not_a_redirect,
    attack_19_pkce_missing_or_plain_or_malformed_at_authorize_is_refused,
    attack_20_aud_missing_wrong_or_different_only_in_path_is_refused,
    attack_21_expired_unsigned_confused_unknown_kid_or_tampered_tokens_get_401,
    attack_22_refresh_refused_after_rotation_for_another_client_or_wider_scope,
    attack_22_refresh_refused_after_password_change_or_logout,
    attack_23_client_assertion_replay_far_exp_wrong_aud_and_jku_are_refused,
    attack_24_failed_logins_and_token_requests_are_limited_and_lock_out,
    attack_25_csrf_is_checked_and_the_session_id_changes_at_login,
    attack_25_session_cookie_is_secure_behind_an_https_base,
    attack_26_introspecting_another_clients_or_tenants_token_is_inactive,
);

const SCOPE: &str = "launch/patient offline_access patient/*.rs";

/// A patient user and a public client with [`SCOPE`].
async fn setup(app: &TestApp) -> TestClient {
    patient_user(app).await;
    register(app, "default", ClientKind::Public, SCOPE).await
}

/// The Location of a redirect, asserting there is no code in it.
fn error_redirect(response: &reqwest::Response, error: &str) -> String {
    assert_eq!(response.status(), 303);
    let location = header(response, "location");
    assert!(location.starts_with(REDIRECT), "{location}");
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some(error),
        "{location}"
    );
    assert!(query_param(&location, "code").is_none());
    location
}

async fn g10_invalid_aud_gets_no_code(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    flow.aud = "https://inferno.healthit.gov/invalid_aud".into();
    let params = flow.params();
    let response = flow.authorize_with(&params).await;
    let location = error_redirect(&response, "invalid_request");
    assert_eq!(query_param(&location, "state"), Some(flow.state.clone()));
}

async fn g10_bad_code_and_bad_basic_client_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let client = register(&app, "default", ClientKind::ConfidentialSymmetric, SCOPE).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let code = flow.code("pat", None).await;
    let response = flow.exchange("BAD_CODE", &client).await;
    expect_oauth_error(response, &[400], Some("invalid_grant")).await;
    let bad_client = TestClient {
        client_id: "BAD_CLIENT_ID".into(),
        secret: client.secret.clone(),
        key: None,
    };
    let response = flow.exchange(&code, &bad_client).await;
    assert_eq!(
        header(&response, "www-authenticate"),
        "Basic realm=\"token\""
    );
    expect_oauth_error(response, &[400, 401], Some("invalid_client")).await;
    let wrong_secret = TestClient {
        client_id: client.client_id.clone(),
        secret: Some("wrong".into()),
        key: None,
    };
    expect_oauth_error(
        flow.exchange(&code, &wrong_secret).await,
        &[401],
        Some("invalid_client"),
    )
    .await;
    // The code is still good for the real client (client authentication comes first).
    assert_eq!(flow.exchange(&code, &client).await.status(), 200);
}

async fn g10_pkce_verifier_missing_blank_wrong_or_equal_to_the_challenge_is_refused(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let wrong = "wrong".repeat(10);
    for verifier in [None, Some(""), Some("   "), Some(wrong.as_str())] {
        let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
        let code = flow.code("pat", None).await;
        let verifier = verifier.map(str::to_owned);
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT.to_owned()),
            ("client_id", client.client_id.clone()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier));
        }
        let response = token_request(&flow.http, &app.base, &form, &client).await;
        expect_oauth_error(response, &[400, 401], Some("invalid_grant")).await;
    }
    // The verifier equal to the challenge.
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let code = flow.code("pat", None).await;
    flow.pkce.verifier = flow.pkce.challenge.clone();
    expect_oauth_error(
        flow.exchange(&code, &client).await,
        &[400, 401],
        Some("invalid_grant"),
    )
    .await;
}

async fn g10_random_refresh_token_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let http = no_redirects();
    for token in ["random", "abc.def", ".", "x.y.z", &"a".repeat(300)] {
        let response = refresh(&http, &app.base, &client, token, None).await;
        expect_oauth_error(response, &[400, 401], Some("invalid_grant")).await;
    }
}

async fn attack_15_a_token_or_launch_of_tenant_a_is_refused_at_tenant_b(backend: Backend) {
    let app = spawn(backend).await;
    app.store.create_tenant("b").await.unwrap();
    let base_b = format!("{}/t/b/fhir", app.origin);
    let token_a = staff_token(&app, "default", &app.base, Role::Clinician).await;
    let (status, challenge) = read_with(&app, &base_b, &token_a).await;
    assert_eq!(status, 401);
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let token_b = staff_token(&app, "b", &base_b, Role::Clinician).await;
    assert_ne!(read_with(&app, &base_b, &token_b).await.0, 401);
    assert_eq!(read_with(&app, &app.base, &token_b).await.0, 401);
    // A launch of tenant A is unknown at tenant B.
    patient(&app, "default", "p1").await;
    let launch: Value = app
        .client
        .post(format!("{}/auth/launch", app.base))
        .bearer_auth(&token_a)
        .header("content-type", "application/json")
        .body(json!({"patient": "p1"}).to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_b = register(&app, "b", ClientKind::Public, "launch patient/*.rs").await;
    let mut flow = Flow::new(&base_b, &client_b.client_id, "launch patient/*.rs");
    flow.launch = launch["launch"].as_str().map(str::to_owned);
    let params = flow.params();
    let response = flow.authorize_with(&params).await;
    error_redirect(&response, "invalid_request");
}

async fn attack_17_reusing_a_code_revokes_its_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let code = flow.code("pat", None).await;
    let first = flow.exchange(&code, &client).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_ne!(read_with(&app, &app.base, access).await.0, 401);
    let again = flow.exchange(&code, &client).await;
    expect_oauth_error(again, &[400], Some("invalid_grant")).await;
    assert_eq!(
        read_with(&app, &app.base, access).await.0,
        401,
        "revoked by the reuse"
    );
    let response = refresh(
        &flow.http,
        &app.base,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    expect_oauth_error(response, &[400], Some("invalid_grant")).await;
}

async fn attack_18_redirect_uri_variants_get_an_error_page_not_a_redirect(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    for variant in [
        format!("{REDIRECT}/extra"),
        format!("{REDIRECT}?x=1"),
        format!("{REDIRECT}#frag"),
        REDIRECT.to_uppercase(),
        "https://APP.example/callback".to_owned(),
        "https://evil.example/callback".to_owned(),
        String::new(),
    ] {
        let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
        flow.redirect_uri = variant.clone();
        let params = flow.params();
        let response = flow.authorize_with(&params).await;
        assert_eq!(response.status(), 400, "{variant}");
        assert!(header(&response, "location").is_empty());
        assert!(header(&response, "content-type").starts_with("text/html"));
        let page = response.text().await.unwrap();
        assert!(page.starts_with("<!DOCTYPE html>") && page.ends_with("</html>"));
    }
    // An unknown client: an error page too.
    let mut flow = Flow::new(&app.base, "<script>alert(1)</script>", SCOPE);
    let params = flow.params();
    let response = flow.authorize_with(&params).await;
    assert_eq!(response.status(), 400);
    assert!(!response.text().await.unwrap().contains("<script>"));
}

async fn attack_19_pkce_missing_or_plain_or_malformed_at_authorize_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let cases: [(&str, Option<&str>, Option<&str>); 4] = [
        ("missing", None, None),
        ("plain", Some("plain"), None),
        ("no method", None, Some("keep")),
        ("short", Some("S256"), Some("abc")),
    ];
    for (name, method, challenge) in cases {
        let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
        let keep = flow.pkce.challenge.clone();
        let params: Vec<(String, String)> = flow
            .params()
            .into_iter()
            .filter(|(k, _)| k != "code_challenge" && k != "code_challenge_method")
            .chain(method.map(|m| ("code_challenge_method".to_owned(), m.to_owned())))
            .chain(challenge.map(|c| {
                let value = if c == "keep" {
                    keep.clone()
                } else {
                    c.to_owned()
                };
                ("code_challenge".to_owned(), value)
            }))
            .collect();
        let response = flow.authorize_with(&params).await;
        assert_eq!(response.status(), 303, "{name}");
        error_redirect(&response, "invalid_request");
    }
}

async fn attack_20_aud_missing_wrong_or_different_only_in_path_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    for aud in [
        None,
        Some(format!("{}/t/other/fhir", app.origin)),
        Some(format!("{}/", app.base)),
        Some(app.base.replace("/fhir", "/FHIR")),
        Some("https://attacker.example/fhir".to_owned()),
    ] {
        let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
        let params: Vec<(String, String)> = flow
            .params()
            .into_iter()
            .filter(|(k, _)| k != "aud")
            .chain(aud.clone().map(|a| ("aud".to_owned(), a)))
            .collect();
        let response = flow.authorize_with(&params).await;
        error_redirect(&response, "invalid_request");
    }
    // `resource` is a synonym.
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let params: Vec<(String, String)> = flow
        .params()
        .into_iter()
        .map(|(k, v)| {
            if k == "aud" {
                ("resource".to_owned(), v)
            } else {
                (k, v)
            }
        })
        .collect();
    assert_eq!(flow.authorize_with(&params).await.status(), 200);
}

async fn attack_21_expired_unsigned_confused_unknown_kid_or_tampered_tokens_get_401(
    backend: Backend,
) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = spawn(backend).await;
    let valid = staff_token(&app, "default", &app.base, Role::Clinician).await;
    assert_ne!(read_with(&app, &app.base, &valid).await.0, 401);
    let parts: Vec<&str> = valid.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let keys = auth_server(&app)
        .keys()
        .get(app.store.as_ref(), "default")
        .await
        .unwrap();
    let kid = keys.signing().kid().to_owned();
    // Expired, signed by the real key.
    let mut expired = claims.clone();
    expired["exp"] = json!(fhir_core::time::now_millis() / 1000 - 10);
    let expired = keys.signing().sign(&expired).unwrap();
    // alg=none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    // HS256 keyed with our public key (algorithm confusion).
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#));
    let input = format!("{header}.{}", parts[1]);
    let public = keys.jwks().to_string();
    let mac = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public.as_bytes()),
        input.as_bytes(),
    );
    let confused = format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
    // Signed by a key that is not ours.
    let stranger = smart_auth::jose::SigningKey::generate("stranger".into()).unwrap();
    let unknown_kid = stranger.sign(&claims).unwrap();
    let same_kid = smart_auth::jose::SigningKey::generate(kid.clone())
        .unwrap()
        .sign(&claims)
        .unwrap();
    // Tampered: wider scope, same signature.
    claims["scope"] = json!("system/*.cruds");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    for (name, token) in [
        ("expired", expired),
        ("alg none", none),
        ("HS256 with the public key", confused),
        ("unknown kid", unknown_kid),
        ("our kid, another key", same_kid),
        ("tampered", tampered),
        ("garbage", "a.b.c".to_owned()),
    ] {
        let (status, challenge) = read_with(&app, &app.base, &token).await;
        assert_eq!(status, 401, "{name}");
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{name}: {challenge}"
        );
    }
}

async fn attack_22_refresh_refused_after_rotation_for_another_client_or_wider_scope(
    backend: Backend,
) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let other = register(&app, "default", ClientKind::Public, SCOPE).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let tokens = flow.tokens(&client, "pat").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    // Another client, and a wider scope: refused, the token stays usable.
    expect_oauth_error(
        refresh(&flow.http, &app.base, &other, first, None).await,
        &[400],
        Some("invalid_grant"),
    )
    .await;
    expect_oauth_error(
        refresh(
            &flow.http,
            &app.base,
            &client,
            first,
            Some("patient/*.cruds"),
        )
        .await,
        &[400],
        Some("invalid_scope"),
    )
    .await;
    expect_oauth_error(
        refresh(&flow.http, &app.base, &client, first, Some("user/*.rs")).await,
        &[400],
        Some("invalid_scope"),
    )
    .await;
    let rotated: Value = refresh(&flow.http, &app.base, &client, first, None)
        .await
        .json()
        .await
        .unwrap();
    let second = rotated["refresh_token"].as_str().unwrap();
    let access = rotated["access_token"].as_str().unwrap();
    // The old one again: reuse, the family is revoked.
    expect_oauth_error(
        refresh(&flow.http, &app.base, &client, first, None).await,
        &[400],
        Some("invalid_grant"),
    )
    .await;
    expect_oauth_error(
        refresh(&flow.http, &app.base, &client, second, None).await,
        &[400],
        Some("invalid_grant"),
    )
    .await;
    assert_eq!(read_with(&app, &app.base, access).await.0, 401);
}

async fn attack_22_refresh_refused_after_password_change_or_logout(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let scope = "launch/patient online_access patient/*.rs";
    let client = register(
        &app,
        "default",
        ClientKind::Public,
        "launch/patient online_access offline_access patient/*.rs",
    )
    .await;
    // Password change.
    let mut flow = Flow::new(
        &app.base,
        &client.client_id,
        "launch/patient offline_access patient/*.rs",
    );
    let tokens = flow.tokens(&client, "pat").await;
    smart_auth::users::set_password(app.store.as_ref(), "default", "pat", PASSWORD)
        .await
        .unwrap();
    let response = refresh(
        &flow.http,
        &app.base,
        &client,
        tokens["refresh_token"].as_str().unwrap(),
        None,
    )
    .await;
    expect_oauth_error(response, &[400], Some("invalid_grant")).await;
    // The browser's sign-on ended with the old password: the login page again.
    let params = flow.params();
    let page = flow.authorize_with(&params).await.text().await.unwrap();
    assert!(page.contains("<title>Sign in</title>"), "{page}");
    // Logout ends online_access.
    let mut flow = Flow::new(&app.base, &client.client_id, scope);
    let tokens = flow.tokens(&client, "pat").await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let rotated: Value = refresh(&flow.http, &app.base, &client, first, None)
        .await
        .json()
        .await
        .unwrap();
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    let page = flow
        .http
        .get(format!("{}/auth/logout", app.base))
        .header("cookie", flow.browser.cookie.clone().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    // Without the CSRF token: refused, the session lives on.
    assert_eq!(
        flow.post_form("/auth/logout", &[("csrf", "forged")])
            .await
            .status(),
        403
    );
    let response = flow.post_form("/auth/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), 200);
    let response = refresh(&flow.http, &app.base, &client, &second, None).await;
    expect_oauth_error(response, &[400], Some("invalid_grant")).await;
    // Two apps in one signed-in browser: the second goes straight to consent, in the same
    // session, and one logout ends the online grants of both.
    let mut first_app = Flow::new(&app.base, &client.client_id, scope);
    let first_tokens = first_app.tokens(&client, "pat").await;
    let mut second_app = Flow::new(&app.base, &client.client_id, scope);
    second_app.browser.cookie = first_app.browser.cookie.clone();
    let params = second_app.params();
    let consent = second_app
        .authorize_with(&params)
        .await
        .text()
        .await
        .unwrap();
    assert!(consent.contains("Allow access?"), "{consent}");
    assert_eq!(
        second_app.browser.cookie, first_app.browser.cookie,
        "the same session"
    );
    let response = second_app
        .approve(&consent, &scope.split(' ').collect::<Vec<_>>(), None)
        .await;
    let code = query_param(&header(&response, "location"), "code").unwrap();
    let second_tokens: Value = second_app
        .exchange(&code, &client)
        .await
        .json()
        .await
        .unwrap();
    let csrf = csrf_of(&consent);
    assert_eq!(
        second_app
            .post_form("/auth/logout", &[("csrf", &csrf)])
            .await
            .status(),
        200
    );
    for tokens in [first_tokens, second_tokens] {
        let token = tokens["refresh_token"].as_str().unwrap();
        let response = refresh(&flow.http, &app.base, &client, token, None).await;
        expect_oauth_error(response, &[400], Some("invalid_grant")).await;
    }
}

async fn attack_23_client_assertion_replay_far_exp_wrong_aud_and_jku_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let client = register(
        &app,
        "default",
        ClientKind::ConfidentialAsymmetric,
        "system/Patient.rs",
    )
    .await;
    let key = client.key.clone().unwrap();
    let http = no_redirects();
    let token_url = format!("{}/auth/token", app.base);
    let post = |assertion: String| {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", "system/Patient.rs".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion),
        ];
        let (http, url) = (http.clone(), token_url.clone());
        async move { post_form(&http, &url, &form, None).await }
    };
    let claims = assertion_claims(&client.client_id, &token_url, 240);
    let assertion = key.sign(&claims, None);
    assert_eq!(post(assertion.clone()).await.status(), 200);
    expect_oauth_error(post(assertion).await, &[401], Some("invalid_client")).await;
    let far = assertion_claims(&client.client_id, &token_url, 600);
    expect_oauth_error(
        post(key.sign(&far, None)).await,
        &[401],
        Some("invalid_client"),
    )
    .await;
    let expired = assertion_claims(&client.client_id, &token_url, -10);
    expect_oauth_error(
        post(key.sign(&expired, None)).await,
        &[401],
        Some("invalid_client"),
    )
    .await;
    for aud in [
        app.base.clone(),
        format!("{}/auth/token", app.origin),
        format!("{token_url}/"),
    ] {
        let wrong = assertion_claims(&client.client_id, &aud, 240);
        expect_oauth_error(
            post(key.sign(&wrong, None)).await,
            &[401],
            Some("invalid_client"),
        )
        .await;
    }
    let fresh = assertion_claims(&client.client_id, &token_url, 240);
    expect_oauth_error(
        post(key.sign(&fresh, Some("https://attacker.example/jwks.json"))).await,
        &[401],
        Some("invalid_client"),
    )
    .await;
    // Another key with the registered kid, and a missing jti.
    let mut impostor = TestKey::es384();
    impostor.kid = key.kid.clone();
    let fresh = assertion_claims(&client.client_id, &token_url, 240);
    expect_oauth_error(
        post(impostor.sign(&fresh, None)).await,
        &[401],
        Some("invalid_client"),
    )
    .await;
    let mut no_jti = assertion_claims(&client.client_id, &token_url, 240);
    no_jti.as_object_mut().unwrap().remove("jti");
    expect_oauth_error(
        post(key.sign(&no_jti, None)).await,
        &[401],
        Some("invalid_client"),
    )
    .await;
}

async fn attack_24_failed_logins_and_token_requests_are_limited_and_lock_out(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let page = flow.authorize().await;
    for _ in 0..smart_auth::users::MAX_FAILED_LOGINS {
        assert_eq!(
            flow.login(&page, "pat", "wrong password!").await.status(),
            401
        );
    }
    // Locked: the right password fails too.
    assert_eq!(flow.login(&page, "pat", PASSWORD).await.status(), 401);
    let mut last = None;
    for _ in 0..10 {
        let response = flow.login(&page, "pat", PASSWORD).await;
        if response.status() == 429 {
            last = Some(response);
            break;
        }
    }
    let limited = last.expect("rate limited");
    assert!(header(&limited, "retry-after").parse::<u64>().unwrap() > 0);
    // Token requests: failures per client.
    let mut status = 0;
    for _ in 0..30 {
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", "BAD_CODE".to_owned()),
            ("redirect_uri", REDIRECT.to_owned()),
            ("code_verifier", flow.pkce.verifier.clone()),
            ("client_id", client.client_id.clone()),
        ];
        let response = token_request(&flow.http, &app.base, &form, &client).await;
        status = response.status().as_u16();
        if status == 429 {
            assert!(!header(&response, "retry-after").is_empty());
            break;
        }
    }
    assert_eq!(status, 429);
}

async fn attack_25_csrf_is_checked_and_the_session_id_changes_at_login(backend: Backend) {
    let app = spawn(backend).await;
    let client = setup(&app).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    let page = flow.authorize().await;
    let pre_login = flow.browser.cookie.clone().unwrap();
    let set_cookie = {
        let params = Flow::new(&app.base, &client.client_id, SCOPE).params();
        let mut probe = Flow::new(&app.base, &client.client_id, SCOPE);
        let response = probe.authorize_with(&params).await;
        header(&response, "set-cookie")
    };
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/fhir"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "http base: no Secure");
    for csrf in [None, Some("forged")] {
        let mut form = vec![("username", "pat"), ("password", PASSWORD)];
        if let Some(csrf) = csrf {
            form.push(("csrf", csrf));
        }
        assert_eq!(flow.post_form("/auth/login", &form).await.status(), 403);
    }
    let consent = flow.login(&page, "pat", PASSWORD).await;
    assert_eq!(consent.status(), 200);
    let consent = consent.text().await.unwrap();
    let post_login = flow.browser.cookie.clone().unwrap();
    assert_ne!(pre_login, post_login, "a new session id at login");
    // The consent form: no CSRF token, a wrong one, or the pre-login session.
    for csrf in ["", "forged"] {
        let response = flow
            .post_form(
                "/auth/consent",
                &[
                    ("csrf", csrf),
                    ("decision", "approve"),
                    ("scope", "patient/*.rs"),
                ],
            )
            .await;
        assert_eq!(response.status(), 403);
    }
    flow.browser.cookie = Some(pre_login);
    let response = flow.approve(&consent, &["patient/*.rs"], None).await;
    assert!(response.status() == 400 || response.status() == 403);
    flow.browser.cookie = Some(post_login);
    let response = flow
        .approve(&consent, &["launch/patient", "patient/*.rs"], None)
        .await;
    assert_eq!(response.status(), 303);
    let location = header(&response, "location");
    assert_eq!(query_param(&location, "state"), Some(flow.state.clone()));
    assert!(query_param(&location, "code").is_some());
    // The same consent again: answered once only.
    let response = flow
        .approve(&consent, &["launch/patient", "patient/*.rs"], None)
        .await;
    assert_eq!(response.status(), 400);
    assert!(header(&response, "location").is_empty());
}

async fn attack_26_introspecting_another_clients_or_tenants_token_is_inactive(backend: Backend) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let owner = register(&app, "default", ClientKind::ConfidentialSymmetric, SCOPE).await;
    let stranger = register(&app, "default", ClientKind::ConfidentialSymmetric, SCOPE).await;
    let mut flow = Flow::new(&app.base, &owner.client_id, SCOPE);
    let tokens = flow.tokens(&owner, "pat").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let url = format!("{}/auth/introspect", app.base);
    let introspect = |caller: &TestClient, token: &str| {
        let (http, url, basic) = (flow.http.clone(), url.clone(), basic_of(caller));
        let form = vec![("token", token.to_owned())];
        async move {
            post_form(&http, &url, &form, basic)
                .await
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(&stranger, &access).await, r#"{"active":false}"#);
    app.store.create_tenant("b").await.unwrap();
    let base_b = format!("{}/t/b/fhir", app.origin);
    let foreign = staff_token(&app, "b", &base_b, Role::Clinician).await;
    assert_eq!(introspect(&owner, &foreign).await, r#"{"active":false}"#);
    // A bearer caller of client "ehr" in the default tenant, asking about "ehr"'s token of b.
    let caller = staff_token(&app, "default", &app.base, Role::Clinician).await;
    let text = flow
        .http
        .post(&url)
        .bearer_auth(&caller)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={foreign}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, r#"{"active":false}"#);
    // A public client cannot introspect at all.
    let public = register(&app, "default", ClientKind::Public, SCOPE).await;
    let response = post_form(
        &flow.http,
        &url,
        &[
            ("token", access.clone()),
            ("client_id", public.client_id.clone()),
        ],
        None,
    )
    .await;
    expect_oauth_error(response, &[401], Some("invalid_client")).await;
}

async fn attack_25_session_cookie_is_secure_behind_an_https_base(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            auth: true,
            base_url: Some("https://fhir.example".into()),
            ..Options::default()
        },
    )
    .await;
    let client = register(&app, "default", ClientKind::Public, SCOPE).await;
    let mut flow = Flow::new(&app.base, &client.client_id, SCOPE);
    flow.aud = "https://fhir.example/fhir".into();
    let params = flow.params();
    let response = flow.authorize_with(&params).await;
    assert_eq!(response.status(), 200);
    let cookie = header(&response, "set-cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/fhir"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let page = response.text().await.unwrap();
    assert!(page.contains("action=\"https://fhir.example/fhir/auth/login\""));
}
