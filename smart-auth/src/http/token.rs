//! `POST [base]/auth/token`: the `authorization_code`, `refresh_token` and
//! `client_credentials` grants.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::client_auth::{self, Authenticated, Method};
use super::consent::{CODE_KIND, CodeRecord};
use super::errors::OAuthError;
use super::ratelimit::TOKEN_FAILURES;
use super::{AuthRequest, Params, no_store_json, now_millis, session};
use crate::clients::ClientKind;
use crate::jose::{b64, constant_time_eq, random_token, sha256};
use crate::scopes::{Context, Scopes};
use crate::tokens::{Grant, GrantUser};
use crate::{AuthError, users};

/// Record kind of exchanged codes: code hash → the grant it made (to revoke it on reuse).
const USED_CODE_KIND: &str = "code_used";

/// `POST [base]/auth/token`.
pub(super) async fn token(request: &AuthRequest<'_>) -> Response {
    let form = match request.form().and_then(Params::unique) {
        Ok(form) => form,
        Err(error) => return error.into_response(),
    };
    let mut keys = Vec::new();
    if let Some(client) = client_auth::claimed_client_id(request, &form) {
        keys.push((
            format!(
                "client:{}:{}",
                request.tenant,
                client.chars().take(128).collect::<String>()
            ),
            TOKEN_FAILURES,
        ));
    }
    if let Some(ip) = request.peer {
        keys.push((format!("ip:{ip}"), TOKEN_FAILURES * 5));
    }
    let limiter = request.server.limiter();
    if let Err(retry_after) = limiter.check_all(&keys) {
        return OAuthError::too_many(retry_after).into_response();
    }
    let result = match form.get("grant_type") {
        Some("authorization_code") => authorization_code(request, &form).await,
        Some("refresh_token") => refresh(request, &form).await,
        Some("client_credentials") => client_credentials(request, &form).await,
        Some(_) => Err(OAuthError::grant_type(
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )),
        None => Err(OAuthError::request("missing parameter 'grant_type'")),
    };
    match result {
        Ok(body) => no_store_json(body),
        Err(error) => {
            limiter.fail_all(&keys);
            let basic = client_auth::uses_basic(request);
            error.with_basic(basic).into_response()
        }
    }
}

/// The URLs a client assertion may name as `aud` here.
fn audiences(request: &AuthRequest<'_>) -> Vec<String> {
    vec![request.endpoint("token")]
}

async fn authorization_code(request: &AuthRequest<'_>, form: &Params) -> Result<Value, OAuthError> {
    let store = request.server.store();
    let code = form.required("code")?;
    let redirect_uri = form.required("redirect_uri")?;
    let caller = client_auth::authenticate(request, form, &audiences(request)).await?;
    let hash = b64(&sha256(code.as_bytes()));
    let Some(value) = store.record_take(request.tenant, CODE_KIND, &hash).await? else {
        // A code used twice: revoke what its first use issued (ASVS 10.4.2).
        if let Some(grant_id) = store
            .record_get(request.tenant, USED_CODE_KIND, &hash)
            .await?
        {
            request
                .server
                .revoke_grant(request.tenant, &grant_id)
                .await?;
            tracing::warn!(
                tenant = request.tenant,
                grant = grant_id,
                "code reused: grant revoked"
            );
        }
        return Err(OAuthError::grant("unknown, expired or used code"));
    };
    let record: CodeRecord =
        serde_json::from_str(&value).map_err(|e| AuthError::Internal(e.to_string()))?;
    if record.client_id != caller.client.client_id {
        return Err(OAuthError::grant("the code was issued to another client"));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    let verifier = form.get("code_verifier").unwrap_or_default();
    let verified = super::authorize::pkce_text_ok(verifier)
        && verifier != record.code_challenge
        && constant_time_eq(
            b64(&sha256(verifier.as_bytes())).as_bytes(),
            record.code_challenge.as_bytes(),
        );
    if !verified {
        return Err(OAuthError::grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let user = users::get(store, request.tenant, &record.username)
        .await?
        .ok_or_else(|| OAuthError::grant("the user no longer exists"))?;
    let scopes = Scopes::parse(&record.scope);
    let settings = request.server.settings();
    let now = now_millis();
    let (expires_at, session, refresh) = if scopes.has("offline_access") {
        (now + settings.offline_days * 86_400_000, None, true)
    } else if scopes.has("online_access") {
        (
            now + settings.online_hours * 3_600_000,
            Some(record.session.clone()),
            true,
        )
    } else {
        (now + settings.access_token_secs * 1000, None, false)
    };
    let secret = refresh.then(|| random_token(32));
    let grant = Grant {
        id: random_token(16),
        client_id: caller.client.client_id.clone(),
        user: Some(GrantUser {
            id: user.id.clone(),
            username: user.username.clone(),
            role: user.role,
            fhir_user: user.fhir_user.clone(),
            credentials_epoch: user.credentials_epoch,
        }),
        scope: record.scope.clone(),
        patient: record.patient.clone(),
        encounter: record.encounter.clone(),
        created_at: now,
        expires_at,
        refresh_sha256: secret.as_ref().map(|s| b64(&sha256(s.as_bytes()))),
        session,
    };
    store
        .record_put(request.tenant, USED_CODE_KIND, &hash, &grant.id, expires_at)
        .await?;
    request.server.save_grant(request.tenant, &grant).await?;
    let mut body = token_body(request, &grant, &grant.scope, secret.as_deref()).await?;
    if scopes.has("openid") {
        body["id_token"] = id_token(request, &grant, &scopes, record.nonce.as_deref())
            .await?
            .into();
    }
    Ok(body)
}

/// The token response of a grant: an access token with `scope`, and its context.
async fn token_body(
    request: &AuthRequest<'_>,
    grant: &Grant,
    scope: &str,
    refresh_secret: Option<&str>,
) -> Result<Value, OAuthError> {
    let lifetime = if grant.user.is_some() {
        request.server.settings().access_token_secs
    } else {
        request.server.settings().backend_token_secs
    };
    let mut narrowed = grant.clone();
    narrowed.scope = scope.to_owned();
    let (access_token, expires_in) = request
        .server
        .issue_access_token(request.tenant, request.base, &narrowed, lifetime)
        .await?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    });
    if let Some(secret) = refresh_secret {
        body["refresh_token"] = format!("{}.{secret}", grant.id).into();
    }
    if let Some(patient) = &grant.patient {
        body["patient"] = patient.as_str().into();
        body["need_patient_banner"] = true.into();
    } else if grant.user.is_some() {
        body["need_patient_banner"] = false.into();
    }
    if let Some(encounter) = &grant.encounter {
        body["encounter"] = encounter.as_str().into();
    }
    if grant.user.is_some() {
        body["smart_style_url"] = request.endpoint("style.json").into();
    }
    Ok(body)
}

/// An OpenID Connect id_token (RS256 with `kid`, `aud` = the client).
async fn id_token(
    request: &AuthRequest<'_>,
    grant: &Grant,
    scopes: &Scopes,
    nonce: Option<&str>,
) -> Result<String, OAuthError> {
    let user = grant
        .user
        .as_ref()
        .ok_or_else(|| OAuthError::server("an id_token needs a user"))?;
    let now = now_millis() / 1000;
    let mut claims = json!({
        "iss": request.base,
        "sub": user.id,
        "aud": grant.client_id,
        "iat": now,
        "exp": now + request.server.settings().access_token_secs,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    if scopes.has("fhirUser")
        && let Some(fhir_user) = &user.fhir_user
    {
        claims["fhirUser"] = format!("{}/{fhir_user}", request.base).into();
    }
    if scopes.has("profile") {
        claims["preferred_username"] = user.username.as_str().into();
    }
    let keys = request
        .server
        .keys()
        .get(request.server.store(), request.tenant)
        .await?;
    keys.signing()
        .sign(&claims)
        .map_err(|e| OAuthError::server(e.to_string()))
}

/// Splits a refresh token `gid.secret`.
pub(super) fn split_refresh(token: &str) -> Option<(&str, &str)> {
    token
        .split_once('.')
        .filter(|(gid, secret)| !gid.is_empty() && !secret.is_empty() && !secret.contains('.'))
}

async fn refresh(request: &AuthRequest<'_>, form: &Params) -> Result<Value, OAuthError> {
    let server = request.server;
    let token = form.required("refresh_token")?;
    let caller = client_auth::authenticate(request, form, &audiences(request)).await?;
    let invalid = || OAuthError::grant("invalid refresh token");
    let (gid, secret) = split_refresh(token).ok_or_else(invalid)?;
    let grant = server
        .grant(request.tenant, gid)
        .await?
        .ok_or_else(invalid)?;
    if grant.client_id != caller.client.client_id {
        return Err(OAuthError::grant(
            "the refresh token belongs to another client",
        ));
    }
    let Some(current) = &grant.refresh_sha256 else {
        return Err(invalid());
    };
    if !constant_time_eq(
        current.as_bytes(),
        b64(&sha256(secret.as_bytes())).as_bytes(),
    ) {
        // An old token of the family: stolen or replayed. End the family (ASVS 10.4.5).
        server.revoke_grant(request.tenant, &grant.id).await?;
        tracing::warn!(
            tenant = request.tenant,
            grant = grant.id,
            "refresh token reused: grant revoked"
        );
        return Err(invalid());
    }
    if let Some(user) = &grant.user {
        let live = users::get(server.store(), request.tenant, &user.username).await?;
        if live.is_none_or(|u| u.credentials_epoch != user.credentials_epoch || u.id != user.id) {
            server.revoke_grant(request.tenant, &grant.id).await?;
            return Err(OAuthError::grant("the password changed since the grant"));
        }
    }
    if let Some(session_key) = &grant.session
        && !session::alive(server, request.tenant, session_key).await?
    {
        server.revoke_grant(request.tenant, &grant.id).await?;
        return Err(OAuthError::grant(
            "the login session of this online grant ended",
        ));
    }
    let granted = Scopes::parse(&grant.scope);
    let scope = match form.get("scope") {
        None => grant.scope.clone(),
        Some(asked) => {
            let asked = Scopes::parse(asked);
            if !asked.is_subset_of(&granted)
                || (asked.resources.is_empty() && asked.others.is_empty())
            {
                return Err(OAuthError::scope(
                    "a refresh may only narrow the granted scopes",
                ));
            }
            asked.to_string()
        }
    };
    let new_secret = random_token(32);
    let mut rotated = grant.clone();
    rotated.refresh_sha256 = Some(b64(&sha256(new_secret.as_bytes())));
    if !server
        .replace_grant(request.tenant, &grant, &rotated)
        .await?
    {
        // Another request rotated it first with the same token: that is a reuse.
        server.revoke_grant(request.tenant, &grant.id).await?;
        return Err(invalid());
    }
    token_body(request, &rotated, &scope, Some(&new_secret)).await
}

async fn client_credentials(request: &AuthRequest<'_>, form: &Params) -> Result<Value, OAuthError> {
    if form.get("client_assertion_type").is_none() {
        return Err(OAuthError::request(
            "client_credentials needs client_assertion_type and client_assertion (private_key_jwt)",
        ));
    }
    let caller: Authenticated =
        client_auth::authenticate(request, form, &audiences(request)).await?;
    if caller.method != Method::Assertion
        || caller.client.kind != ClientKind::ConfidentialAsymmetric
    {
        return Err(OAuthError::client(
            "backend services authenticate with private_key_jwt",
        ));
    }
    let asked = Scopes::parse(form.required("scope")?);
    let max = caller.client.max_scopes();
    let granted = Scopes {
        resources: asked
            .resources
            .into_iter()
            .filter(|r| {
                r.context == Context::System
                    && super::consent::covered(r, &max)
                    && crate::granular::enforceable(r)
            })
            .collect(),
        others: Vec::new(),
        unknown: Vec::new(),
    };
    if granted.resources.is_empty() {
        return Err(OAuthError::scope(
            "none of the requested system/ scopes is registered for this client",
        ));
    }
    let now = now_millis();
    let grant = Grant {
        id: random_token(16),
        client_id: caller.client.client_id.clone(),
        user: None,
        scope: granted.to_string(),
        patient: None,
        encounter: None,
        created_at: now,
        expires_at: now + request.server.settings().backend_token_secs * 1000,
        refresh_sha256: None,
        session: None,
    };
    request.server.save_grant(request.tenant, &grant).await?;
    token_body(request, &grant, &grant.scope, None).await
}
