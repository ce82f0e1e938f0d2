//! An independent, OpenID-certified relying party (the `openidconnect` crate) against our
//! authorization server: discovery with an exact issuer, the code flow with PKCE and a nonce,
//! and the id_token verified against our JWKS.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use smart_auth::clients::ClientKind;

use crate::helpers::{Backend, header};
use crate::oauth_helpers::*;

crate::on_both_backends!(
    openidconnect_relying_party_completes_the_code_flow_and_verifies_the_id_token
);

/// `openidconnect`'s HTTP client: ours over reqwest, never following redirects (SSRF).
async fn send(
    http: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).expect("method");
    let mut builder = http.request(method, parts.uri.to_string());
    for (name, value) in &parts.headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    let response = builder.body(body).send().await?;
    let mut answer = openidconnect::http::Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        answer = answer.header(name.as_str(), value.as_bytes());
    }
    let bytes = response.bytes().await?;
    Ok(answer.body(bytes.to_vec()).expect("response"))
}

async fn openidconnect_relying_party_completes_the_code_flow_and_verifies_the_id_token(
    backend: Backend,
) {
    let app = spawn(backend).await;
    patient_user(&app).await;
    let scope = "openid fhirUser launch/patient patient/*.rs";
    let registered = register(&app, "default", ClientKind::Public, scope).await;
    let http = no_redirects();
    let http_client = move |request| send(http.clone(), request);
    let provider = CoreProviderMetadata::discover_async(
        IssuerUrl::new(app.base.clone()).unwrap(),
        &http_client,
    )
    .await
    .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(registered.client_id.clone()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("fhirUser".into()))
        .add_scope(Scope::new("launch/patient".into()))
        .add_scope(Scope::new("patient/*.rs".into()))
        .add_extra_param("aud", app.base.clone())
        .set_pkce_challenge(challenge)
        .url();
    // The browser part: the login and consent pages.
    let mut flow = Flow::new(&app.base, &registered.client_id, scope);
    let response = flow.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    flow.browser.absorb(&response);
    let page = response.text().await.unwrap();
    let consent = flow
        .login(&page, "pat", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    let scopes: Vec<&str> = scope.split(' ').collect();
    let response = flow.approve(&consent, &scopes, None).await;
    let location = header(&response, "location");
    assert_eq!(
        query_param(&location, "state").as_deref(),
        Some(state.secret().as_str())
    );
    let code = query_param(&location, "code").expect("code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .expect("token response");
    let id_token = tokens.id_token().expect("id_token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("a valid id_token");
    assert_eq!(claims.issuer().as_str(), app.base);
    assert!(!claims.subject().as_str().is_empty());
    let granted: Vec<String> = tokens
        .scopes()
        .expect("scope")
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(granted.contains(&"patient/*.rs".to_owned()), "{granted:?}");
    // A wrong nonce is refused by the relying party.
    assert!(
        id_token
            .claims(&client.id_token_verifier(), &Nonce::new("other".into()))
            .is_err()
    );
}
