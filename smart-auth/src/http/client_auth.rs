//! Client authentication at the token, introspection and revocation endpoints:
//! public clients name themselves (`client_id`), symmetric clients use `client_secret_basic`,
//! asymmetric clients `private_key_jwt` (RFC 7523 §3, as SMART Backend Services profile it).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::errors::OAuthError;
use super::{AuthRequest, Params, now_millis};
use crate::clients::{self, Client, ClientKind};
use crate::jose::{Alg, Unverified};

/// The only assertion type (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Record kind of seen assertion ids (replay protection).
const JTI_KIND: &str = "assertion_jti";
/// How far ahead an assertion's `exp` may be (SMART: at most five minutes), plus clock skew.
const MAX_ASSERTION_SECS: i64 = 300 + 30;

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A public client: `client_id` only.
    None,
    /// `client_secret_basic`.
    Basic,
    /// `private_key_jwt`.
    Assertion,
}

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub client: Client,
    pub method: Method,
}

/// The client id a request claims, before authentication (for rate limiting).
pub fn claimed_client_id(request: &AuthRequest<'_>, form: &Params) -> Option<String> {
    if let Some((id, _)) = basic_credentials(request) {
        return Some(id);
    }
    if let Some(assertion) = form.get("client_assertion") {
        return Unverified::parse(assertion)
            .ok()
            .and_then(|token| token.claim_str("iss").map(str::to_owned));
    }
    form.get("client_id").map(str::to_owned)
}

/// `(client_id, secret)` of `Authorization: Basic …` (each form-urlencoded, RFC 6749 §2.3.1).
fn basic_credentials(request: &AuthRequest<'_>) -> Option<(String, String)> {
    let value = request
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |text: &str| -> String {
        form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// `true` when the request carries `Authorization: Basic`.
pub fn uses_basic(request: &AuthRequest<'_>) -> bool {
    request
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
}

/// Authenticates the client of a request. `audiences` are the URLs an assertion may name as
/// `aud` (the token URL, and the endpoint's own URL).
pub async fn authenticate(
    request: &AuthRequest<'_>,
    form: &Params,
    audiences: &[String],
) -> Result<Authenticated, OAuthError> {
    let store = request.server.store();
    let form_client = form.get("client_id");
    if uses_basic(request) {
        let bad = || OAuthError::client("client authentication failed").with_basic(true);
        let (id, secret) = basic_credentials(request).ok_or_else(bad)?;
        if form_client.is_some_and(|c| c != id) {
            return Err(OAuthError::request(
                "client_id differs from the Basic credentials",
            ));
        }
        let client = clients::get(store, request.tenant, &id)
            .await?
            .ok_or_else(bad)?;
        if client.kind != ClientKind::ConfidentialSymmetric || !client.secret_matches(&secret) {
            return Err(bad());
        }
        return Ok(Authenticated {
            client,
            method: Method::Basic,
        });
    }
    if let Some(kind) = form.get("client_assertion_type") {
        if kind != JWT_BEARER {
            return Err(OAuthError::request(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        let assertion = form.required("client_assertion")?;
        let client = verify_assertion(request, assertion, audiences).await?;
        if form_client.is_some_and(|c| c != client.client_id) {
            return Err(OAuthError::client("client_id differs from the assertion"));
        }
        return Ok(Authenticated {
            client,
            method: Method::Assertion,
        });
    }
    if form.get("client_assertion").is_some() {
        return Err(OAuthError::request("client_assertion_type is missing"));
    }
    let Some(id) = form_client else {
        return Err(OAuthError::client("no client authentication"));
    };
    let client = clients::get(store, request.tenant, id)
        .await?
        .ok_or_else(|| OAuthError::client("unknown client"))?;
    if client.kind != ClientKind::Public {
        return Err(OAuthError::client(
            "a confidential client must authenticate",
        ));
    }
    Ok(Authenticated {
        client,
        method: Method::None,
    })
}

/// Verifies a client assertion: RS384 or ES384 by a `kid` of the client's registered JWKS,
/// `iss` = `sub` = the client, `aud` one of `audiences`, `exp` in the next five minutes, and a
/// `jti` never seen before.
async fn verify_assertion(
    request: &AuthRequest<'_>,
    assertion: &str,
    audiences: &[String],
) -> Result<Client, OAuthError> {
    let bad = |why: &str| OAuthError::client(format!("invalid client assertion: {why}"));
    let token = Unverified::parse(assertion).map_err(|e| bad(&e.to_string()))?;
    token
        .alg(&[Alg::Rs384, Alg::Es384])
        .map_err(|e| bad(&e.to_string()))?;
    let iss = token
        .claim_str("iss")
        .ok_or_else(|| bad("no iss"))?
        .to_owned();
    if token.claim_str("sub") != Some(iss.as_str()) {
        return Err(bad("sub must equal iss"));
    }
    let client = clients::get(request.server.store(), request.tenant, &iss)
        .await?
        .filter(|c| c.kind == ClientKind::ConfidentialAsymmetric)
        .ok_or_else(|| bad("unknown client"))?;
    if let Some(jku) = &token.header.jku
        && client.jwks_uri.as_deref() != Some(jku.as_str())
    {
        return Err(bad("jku is not the registered JWKS URL"));
    }
    if client.jwks.is_none() {
        // Fetching a jwks_uri would need an outbound HTTP client with SSRF guards and
        // Cache-Control handling; not implemented yet, so such clients cannot authenticate.
        return Err(bad(
            "this server does not fetch jwks_uri yet; register the JWKS inline",
        ));
    }
    let kid = token.header.kid.clone().ok_or_else(|| bad("no kid"))?;
    let key = client
        .inline_keys()
        .into_iter()
        .find(|k| k.kid() == Some(kid.as_str()))
        .ok_or_else(|| bad("kid is not in the client's JWKS"))?;
    let claims = token
        .verify(&key, &[Alg::Rs384, Alg::Es384])
        .map_err(|e| bad(&e.to_string()))?;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(aud)) => audiences.contains(aud),
        Some(Value::Array(auds)) => auds
            .iter()
            .any(|a| a.as_str().is_some_and(|a| audiences.iter().any(|x| x == a))),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("aud is not this token endpoint"));
    }
    let now = now_millis() / 1000;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("no exp"))?;
    if exp <= now {
        return Err(bad("expired"));
    }
    if exp > now + MAX_ASSERTION_SECS {
        return Err(bad("exp is more than five minutes ahead"));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("no jti"))?;
    let fresh = request
        .server
        .store()
        .record_insert(
            request.tenant,
            JTI_KIND,
            &format!("{}|{jti}", client.client_id),
            "",
            (exp + 60) * 1000,
        )
        .await
        .map_err(crate::AuthError::from)?;
    if !fresh {
        return Err(bad("jti was already used"));
    }
    Ok(client)
}
