//! Drives the SMART authorization server like an app and a browser would: clients and users
//! registered straight in the store, the code flow over HTTP with redirects off and the
//! session cookie carried by hand, client assertions signed with `jsonwebtoken` (an
//! independent JOSE implementation).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use smart_auth::clients::{ClientKind, NewClient};
use smart_auth::{AuthServer, Role};

use crate::helpers::{Backend, Options, TestApp};

pub const REDIRECT: &str = "https://app.example/callback";
pub const PASSWORD: &str = "correct horse battery staple";

/// A server with authorization on.
pub async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            auth: true,
            ..Options::default()
        },
    )
    .await
}

/// An HTTP client that never follows redirects.
pub fn no_redirects() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// An authorization server over the test's store (same keys, same records).
pub fn auth_server(app: &TestApp) -> AuthServer {
    AuthServer::new(app.store.clone(), Default::default())
}

/// A registered client.
pub struct TestClient {
    pub client_id: String,
    pub secret: Option<String>,
    pub key: Option<TestKey>,
}

/// Registers a client of `kind` in `tenant` allowed `scope`.
pub async fn register(app: &TestApp, tenant: &str, kind: ClientKind, scope: &str) -> TestClient {
    let key = (kind == ClientKind::ConfidentialAsymmetric).then(TestKey::es384);
    register_with(app, tenant, kind, scope, key).await
}

/// Registers a client with a given key (asymmetric).
pub async fn register_with(
    app: &TestApp,
    tenant: &str,
    kind: ClientKind,
    scope: &str,
    key: Option<TestKey>,
) -> TestClient {
    let new = NewClient {
        name: format!("{kind:?} app"),
        kind: Some(kind),
        redirect_uris: vec![REDIRECT.to_owned()],
        scope: scope.to_owned(),
        jwks: key.as_ref().map(|k| json!({"keys": [k.jwk.clone()]})),
        jwks_uri: None,
        client_id: None,
    };
    let (client, secret) = smart_auth::clients::create(app.store.as_ref(), tenant, new)
        .await
        .expect("register client");
    TestClient {
        client_id: client.client_id,
        secret,
        key,
    }
}

/// Creates a user with [`PASSWORD`].
pub async fn user(app: &TestApp, tenant: &str, name: &str, role: Role, fhir_user: Option<&str>) {
    smart_auth::users::create(app.store.as_ref(), tenant, name, PASSWORD, role, fhir_user)
        .await
        .expect("create user");
}

/// Stores a Patient with a chosen id.
pub async fn patient(app: &TestApp, tenant: &str, id: &str) {
    app.store
        .create(tenant, "Patient", id, crate::helpers::patient("Lovelace"))
        .await
        .expect("create patient");
}

/// A patient user `pat` (Patient `p1`) and the Patient.
pub async fn patient_user(app: &TestApp) {
    patient(app, "default", "p1").await;
    user(app, "default", "pat", Role::Patient, Some("Patient/p1")).await;
}

/// A private key of a backend client, with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub kid: String,
    pub algorithm: jsonwebtoken::Algorithm,
    pub encoding: jsonwebtoken::EncodingKey,
    pub jwk: Value,
}

impl TestKey {
    /// A P-384 key for ES384.
    pub fn es384() -> TestKey {
        let pair = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        )
        .expect("ec key");
        let der = pair.to_pkcs8v1().expect("pkcs8");
        let point = pair.public_key().as_ref().to_vec();
        let kid = format!("es-{}", smart_auth::jose::random_token(6));
        TestKey {
            jwk: json!({
                "kty": "EC", "crv": "P-384", "kid": kid, "alg": "ES384",
                "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
                "y": URL_SAFE_NO_PAD.encode(&point[49..]),
            }),
            kid,
            algorithm: jsonwebtoken::Algorithm::ES384,
            encoding: jsonwebtoken::EncodingKey::from_ec_der(der.as_ref()),
        }
    }

    /// A 2048-bit RSA key for RS384.
    pub fn rs384() -> TestKey {
        let pair =
            aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa key");
        let pkcs8 = pair.as_der().expect("pkcs8");
        let public = pair.public_key();
        let kid = format!("rs-{}", smart_auth::jose::random_token(6));
        TestKey {
            jwk: json!({
                "kty": "RSA", "kid": kid, "alg": "RS384",
                "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
            }),
            kid,
            algorithm: jsonwebtoken::Algorithm::RS384,
            encoding: jsonwebtoken::EncodingKey::from_rsa_der(&pkcs1_of_pkcs8(pkcs8.as_ref())),
        }
    }

    /// A client assertion with these claims and the header's `kid` (and `jku` if given).
    pub fn sign(&self, claims: &Value, jku: Option<&str>) -> String {
        let mut header = jsonwebtoken::Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        header.jku = jku.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign")
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 v1 `PrivateKeyInfo` (jsonwebtoken's aws-lc
/// backend reads PKCS#1): SEQUENCE { INTEGER, SEQUENCE, OCTET STRING { key } }.
fn pkcs1_of_pkcs8(der: &[u8]) -> Vec<u8> {
    /// (header length, content length) of the DER element at `at`.
    fn element(der: &[u8], at: usize) -> (usize, usize) {
        let first = der[at + 1] as usize;
        if first < 0x80 {
            return (2, first);
        }
        let count = first & 0x7f;
        let length = der[at + 2..at + 2 + count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (2 + count, length)
    }
    let (outer_header, _) = element(der, 0);
    let mut at = outer_header;
    for _ in 0..2 {
        let (header, length) = element(der, at);
        at += header + length;
    }
    let (header, length) = element(der, at);
    der[at + header..at + header + length].to_vec()
}

/// Claims of a client assertion for `client_id` at `token_url`, expiring in `exp_in` seconds.
pub fn assertion_claims(client_id: &str, token_url: &str, exp_in: i64) -> Value {
    let now = fhir_core::time::now_millis() / 1000;
    json!({
        "iss": client_id, "sub": client_id, "aud": token_url,
        "exp": now + exp_in, "jti": smart_auth::jose::random_token(12),
    })
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Pkce {
        let verifier = smart_auth::jose::random_token(32);
        let challenge = URL_SAFE_NO_PAD.encode(smart_auth::jose::sha256(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// A browser: one cookie, carried by hand.
#[derive(Default)]
pub struct Browser {
    pub cookie: Option<String>,
}

impl Browser {
    /// Keeps the session cookie a response sets.
    pub fn absorb(&mut self, response: &Response) {
        for value in response.headers().get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            if let Some(pair) = text.split(';').next() {
                self.cookie = Some(pair.to_owned());
            }
        }
    }

    fn with_cookie(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => builder.header("cookie", cookie),
            None => builder,
        }
    }
}

/// The hidden CSRF token of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf in {html}"))
        + marker.len();
    html[start..start + html[start..].find('"').expect("end")].to_owned()
}

/// A query parameter of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// One authorization: the request's parameters and the browser that carries it out.
pub struct Flow {
    pub base: String,
    pub client_id: String,
    pub scope: String,
    pub state: String,
    pub nonce: String,
    pub pkce: Pkce,
    pub aud: String,
    pub redirect_uri: String,
    pub launch: Option<String>,
    pub browser: Browser,
    pub http: Client,
}

impl Flow {
    pub fn new(base: &str, client_id: &str, scope: &str) -> Flow {
        Flow {
            base: base.to_owned(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            state: smart_auth::jose::random_token(12),
            nonce: smart_auth::jose::random_token(12),
            pkce: Pkce::new(),
            aud: base.to_owned(),
            redirect_uri: REDIRECT.to_owned(),
            launch: None,
            browser: Browser::default(),
            http: no_redirects(),
        }
    }

    /// The authorization request's parameters.
    pub fn params(&self) -> Vec<(String, String)> {
        let mut params = vec![
            ("response_type", "code".to_owned()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("scope", self.scope.clone()),
            ("state", self.state.clone()),
            ("nonce", self.nonce.clone()),
            ("aud", self.aud.clone()),
            ("code_challenge", self.pkce.challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        if let Some(launch) = &self.launch {
            params.push(("launch", launch.clone()));
        }
        params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// `GET [base]/auth/authorize` with `params`.
    pub async fn authorize_with(&mut self, params: &[(String, String)]) -> Response {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let response = self
            .browser
            .with_cookie(
                self.http
                    .get(format!("{}/auth/authorize?{query}", self.base)),
            )
            .send()
            .await
            .expect("authorize");
        self.browser.absorb(&response);
        response
    }

    /// The login page of this flow's request.
    pub async fn authorize(&mut self) -> String {
        let params = self.params();
        let response = self.authorize_with(&params).await;
        assert_eq!(response.status(), 200, "authorize");
        response.text().await.expect("login page")
    }

    /// Posts a form with the browser's cookie.
    pub async fn post_form(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .browser
            .with_cookie(self.http.post(format!("{}{path}", self.base)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("post form");
        self.browser.absorb(&response);
        response
    }

    /// Signs in on the login page; returns the response (the consent page on success).
    pub async fn login(&mut self, login_page: &str, username: &str, password: &str) -> Response {
        let csrf = csrf_of(login_page);
        self.post_form(
            "/auth/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Approves `scopes` on the consent page (and a patient, for staff); returns the redirect.
    pub async fn approve(
        &mut self,
        consent_page: &str,
        scopes: &[&str],
        patient: Option<&str>,
    ) -> Response {
        let csrf = csrf_of(consent_page);
        let mut form: Vec<(&str, &str)> = vec![("csrf", &csrf), ("decision", "approve")];
        for scope in scopes {
            form.push(("scope", scope));
        }
        if let Some(patient) = patient {
            form.push(("patient", patient));
        }
        self.post_form("/auth/consent", &form).await
    }

    /// The whole front channel: authorize, login, consent to every requested scope; returns the
    /// code (after checking that `state` came back).
    pub async fn code(&mut self, username: &str, patient: Option<&str>) -> String {
        let login_page = self.authorize().await;
        let consent = self.login(&login_page, username, PASSWORD).await;
        assert_eq!(consent.status(), 200, "login");
        let consent = consent.text().await.expect("consent page");
        let scope = self.scope.clone();
        let scopes: Vec<&str> = scope.split(' ').collect();
        let response = self.approve(&consent, &scopes, patient).await;
        assert_eq!(response.status(), 303, "consent");
        let location = crate::helpers::header(&response, "location");
        assert!(location.starts_with(REDIRECT), "{location}");
        assert_eq!(
            query_param(&location, "state").as_deref(),
            Some(self.state.as_str())
        );
        query_param(&location, "code").unwrap_or_else(|| panic!("no code in {location}"))
    }

    /// Exchanges a code: the token request's response.
    pub async fn exchange(&self, code: &str, client: &TestClient) -> Response {
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("code_verifier", self.pkce.verifier.clone()),
        ];
        form.extend(client_credentials_form(&self.base, client));
        token_request(&self.http, &self.base, &form, client).await
    }

    /// The whole flow, then the token response (asserted 200) as JSON.
    pub async fn tokens(&mut self, client: &TestClient, username: &str) -> Value {
        let code = self.code(username, None).await;
        let response = self.exchange(&code, client).await;
        assert_eq!(response.status(), 200, "token");
        response.json().await.expect("token JSON")
    }
}

/// The form fields a client adds to authenticate (public: client_id; asymmetric: assertion).
pub fn client_credentials_form(base: &str, client: &TestClient) -> Vec<(&'static str, String)> {
    match (&client.secret, &client.key) {
        (Some(_), _) => Vec::new(),
        (None, Some(key)) => vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            (
                "client_assertion",
                key.sign(
                    &assertion_claims(&client.client_id, &format!("{base}/auth/token"), 240),
                    None,
                ),
            ),
        ],
        (None, None) => vec![("client_id", client.client_id.clone())],
    }
}

/// Posts to the token endpoint, with Basic for a symmetric client.
pub async fn token_request(
    http: &Client,
    base: &str,
    form: &[(&str, String)],
    client: &TestClient,
) -> Response {
    post_form(http, &format!("{base}/auth/token"), form, basic_of(client)).await
}

/// `(client_id, secret)` of a symmetric client.
pub fn basic_of(client: &TestClient) -> Option<(String, String)> {
    client
        .secret
        .as_ref()
        .map(|secret| (client.client_id.clone(), secret.clone()))
}

/// Posts a form, optionally with HTTP Basic.
pub async fn post_form(
    http: &Client,
    url: &str,
    form: &[(&str, String)],
    basic: Option<(String, String)>,
) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
        .finish();
    let mut request = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.expect("post")
}

/// Refreshes: the response.
pub async fn refresh(
    http: &Client,
    base: &str,
    client: &TestClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> Response {
    let mut form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.to_owned()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_owned()));
    }
    form.extend(client_credentials_form(base, client));
    token_request(http, base, &form, client).await
}

/// Asserts an OAuth error response: status, JSON with `error`.
pub async fn expect_oauth_error(
    response: Response,
    statuses: &[u16],
    error: Option<&str>,
) -> Value {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert!(statuses.contains(&status), "status {status}: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(body["error"].is_string(), "{body}");
    if let Some(error) = error {
        assert_eq!(body["error"], error, "{body}");
    }
    body
}

/// `GET [base]/Patient` with a bearer token: the status and `WWW-Authenticate`.
pub async fn read_with(app: &TestApp, base: &str, token: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("{base}/Patient"))
        .bearer_auth(token)
        .send()
        .await
        .expect("read");
    (
        response.status().as_u16(),
        crate::helpers::header(&response, "www-authenticate"),
    )
}
