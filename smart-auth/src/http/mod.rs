//! The HTTP endpoints of the authorization server, under each tenant's FHIR base:
//! `[base]/.well-known/smart-configuration`, `[base]/.well-known/openid-configuration`,
//! `[base]/auth/…` (authorize, login, consent, token, introspect, revoke, jwks, launch, logout,
//! admin).
//!
//! One file per endpoint; this module routes and holds what they share: the parsed request
//! ([`AuthRequest`]), parameters that refuse duplicates and oversized values ([`Params`]),
//! cookies and the JSON helpers.

mod admin;
mod authorize;
mod client_auth;
mod consent;
mod discovery;
pub mod errors;
mod introspect;
mod jwks;
mod launch;
mod login;
mod pages;
pub mod ratelimit;
mod revoke;
mod session;
mod token;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::AuthServer;
use errors::OAuthError;

pub use discovery::capability_security;

/// The largest body read by an authorization endpoint.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// The largest parameter value (`state`, `scope`, tokens…).
pub const MAX_PARAM_BYTES: usize = 4096;

/// What every endpoint receives.
pub(crate) struct AuthRequest<'a> {
    pub server: &'a AuthServer,
    pub tenant: &'a str,
    /// The tenant's absolute FHIR base.
    pub base: &'a str,
    pub method: Method,
    pub headers: HeaderMap,
    /// The raw query string.
    pub query: String,
    /// The body (at most [`MAX_BODY_BYTES`]).
    pub body: axum::body::Bytes,
    /// The peer address, when the server records it (connect info).
    pub peer: Option<std::net::IpAddr>,
}

impl AuthRequest<'_> {
    /// The absolute URL of an endpoint: `endpoint("token")` → `[base]/auth/token`.
    pub fn endpoint(&self, name: &str) -> String {
        format!("{}/auth/{name}", self.base)
    }

    /// The path of the tenant's base (`/fhir`, `/t/b/fhir`): the cookie path.
    pub fn base_path(&self) -> &str {
        let after_scheme = self.base.split_once("://").map_or(self.base, |(_, r)| r);
        after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
    }

    /// `true` when the body is a form (`application/x-www-form-urlencoded`).
    pub fn is_form(&self) -> bool {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
    }

    /// The form body, refusing other content types.
    pub fn form(&self) -> Result<Params, OAuthError> {
        if !self.is_form() {
            return Err(OAuthError::request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Params::parse(&self.body)
    }

    /// The JSON body, refusing other content types: the error is a status and a message.
    pub fn json(&self) -> Result<Value, (StatusCode, String)> {
        let is_json = self
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if !is_json {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the body must be application/json".into(),
            ));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
    }

    /// The bearer token of `Authorization: Bearer …`.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }
}

/// Form or query parameters, in order.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; values over [`MAX_PARAM_BYTES`] are
    /// refused.
    pub fn parse(bytes: &[u8]) -> Result<Params, OAuthError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
        if let Some((name, _)) = pairs
            .iter()
            .find(|(k, v)| v.len() > MAX_PARAM_BYTES || k.len() > 64)
        {
            return Err(OAuthError::request(format!(
                "parameter '{}' is too long (at most {MAX_PARAM_BYTES} bytes)",
                name.chars().take(64).collect::<String>()
            )));
        }
        Ok(Params(pairs))
    }

    /// Refuses any parameter given twice (RFC 6749 §3.1: parameters MUST NOT repeat).
    pub fn unique(self) -> Result<Params, OAuthError> {
        for (i, (name, _)) in self.0.iter().enumerate() {
            if self.0[..i].iter().any(|(other, _)| other == name) {
                return Err(OAuthError::request(format!(
                    "parameter '{name}' is repeated"
                )));
            }
        }
        Ok(self)
    }

    /// A parameter's value (the first).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A required, non-empty parameter.
    pub fn required(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| OAuthError::request(format!("missing parameter '{name}'")))
    }
}

/// JSON with `Cache-Control: no-store` and `Pragma: no-cache` (tokens and their errors).
pub(crate) fn no_store_json(body: Value) -> Response {
    let mut response = json(body);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `uri` with query parameters appended (after `&` when it already has a query).
pub(crate) fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{}", query.finish())
}

/// A `303 See Other` to `location`.
pub(crate) fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => pages::error_page(StatusCode::BAD_REQUEST, "The redirect URI is not valid."),
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    fhir_core::time::now_millis()
}

/// Serves one request to an authorization endpoint of `tenant`, whose FHIR base is `base`;
/// `rest` is the path after the base (`/auth/token`, `/.well-known/smart-configuration`).
pub async fn serve(
    server: &AuthServer,
    tenant: &str,
    base: &str,
    rest: &str,
    request: Request,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => return OAuthError::request("the body is too large").into_response(),
    };
    let request = AuthRequest {
        server,
        tenant,
        base,
        method: parts.method.clone(),
        headers: parts.headers,
        query: parts.uri.query().unwrap_or_default().to_owned(),
        body,
        peer,
    };
    let method = &parts.method;
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    match rest {
        "/.well-known/smart-configuration" if get => discovery::smart_configuration(&request),
        "/.well-known/openid-configuration" if get => discovery::openid_configuration(&request),
        "/auth/jwks" if get => jwks::jwks(&request).await,
        "/auth/style.json" if get => jwks::style(),
        "/auth/authorize" if get || post => authorize::authorize(&request).await,
        "/auth/login" if post => login::login(&request).await,
        "/auth/consent" if post => consent::consent(&request).await,
        "/auth/logout" if get => login::logout_page(&request).await,
        "/auth/logout" if post => login::logout(&request).await,
        "/auth/token" if post => token::token(&request).await,
        "/auth/introspect" if post => introspect::introspect(&request).await,
        "/auth/revoke" if post => revoke::revoke(&request).await,
        "/auth/launch" if post => launch::launch(&request).await,
        _ if rest.starts_with("/auth/admin/") => admin::admin(&request, rest).await,
        "/.well-known/smart-configuration"
        | "/.well-known/openid-configuration"
        | "/auth/jwks"
        | "/auth/style.json"
        | "/auth/authorize"
        | "/auth/login"
        | "/auth/consent"
        | "/auth/logout"
        | "/auth/token"
        | "/auth/introspect"
        | "/auth/revoke"
        | "/auth/launch" => errors::api_error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {rest}"),
        ),
        _ => errors::api_error(StatusCode::NOT_FOUND, format!("no endpoint {rest}")),
    }
}

/// A JSON response (`application/json`).
pub(crate) fn json(body: impl serde::Serialize) -> Response {
    match serde_json::to_vec(&body) {
        Ok(bytes) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_queries_are_appended_and_encoded() {
        assert_eq!(
            with_query("https://a.example/cb", &[("code", "x y"), ("state", "a&b")]),
            "https://a.example/cb?code=x+y&state=a%26b"
        );
        assert_eq!(
            with_query("https://a.example/cb?app=1", &[("code", "c")]),
            "https://a.example/cb?app=1&code=c"
        );
    }

    #[test]
    fn parameters_refuse_repeats_and_oversized_values() {
        assert!(Params::parse(b"a=1&b=2").unwrap().unique().is_ok());
        assert!(Params::parse(b"a=1&a=1").unwrap().unique().is_err());
        let long = format!("a={}", "x".repeat(MAX_PARAM_BYTES + 1));
        assert!(Params::parse(long.as_bytes()).is_err());
        let params = Params::parse(b"scope=a&scope=b&empty=").unwrap();
        assert_eq!(params.all("scope"), ["a", "b"]);
        assert!(params.required("empty").is_err());
        assert!(params.required("missing").is_err());
    }
}
