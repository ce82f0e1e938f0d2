//! The admin API of a tenant (bearer token of a user with role admin), JSON in and out:
//! `GET|POST /auth/admin/clients`, `DELETE /auth/admin/clients/{id}`,
//! `GET|POST /auth/admin/users`, `POST /auth/admin/users/{name}/password`,
//! `POST /auth/admin/keys/rotate`.

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AuthRequest;
use super::errors::{api_auth_error, api_error};
use crate::clients::{self, Client, NewClient};
use crate::users::{self, User};
use crate::{AuthError, Role};

/// Routes `rest` (`/auth/admin/…`).
pub(super) async fn admin(request: &AuthRequest<'_>, rest: &str) -> Response {
    let Some(token) = request.bearer() else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "an admin's bearer token is required",
        );
    };
    match request
        .server
        .verify_access_token(request.tenant, request.base, token)
        .await
    {
        Ok(access) if access.role() == Some(Role::Admin) => {}
        Ok(_) => return api_error(StatusCode::FORBIDDEN, "only admins use this API"),
        Err(error) => return api_error(StatusCode::UNAUTHORIZED, error.to_string()),
    }
    let path = rest.trim_start_matches("/auth/admin/");
    let segments: Vec<&str> = path.split('/').collect();
    let result = match (&request.method, segments.as_slice()) {
        (&Method::GET, ["clients"]) => list_clients(request).await,
        (&Method::POST, ["clients"]) => create_client(request).await,
        (&Method::DELETE, ["clients", id]) => delete_client(request, id).await,
        (&Method::GET, ["users"]) => list_users(request).await,
        (&Method::POST, ["users"]) => create_user(request).await,
        (&Method::POST, ["users", name, "password"]) => set_password(request, name).await,
        (&Method::POST, ["keys", "rotate"]) => rotate(request).await,
        _ => return api_error(StatusCode::NOT_FOUND, format!("no admin endpoint {rest}")),
    };
    match result {
        Ok(response) => response,
        Err(Failure::Auth(error)) => api_auth_error(error),
        Err(Failure::Status(status, message)) => api_error(status, message),
    }
}

enum Failure {
    Auth(AuthError),
    Status(StatusCode, String),
}

impl From<AuthError> for Failure {
    fn from(error: AuthError) -> Failure {
        Failure::Auth(error)
    }
}

/// A client without its secret's hash.
fn client_json(client: &Client) -> Value {
    let mut value = serde_json::to_value(client).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("secret_sha256");
    }
    value
}

/// A user without the password hash.
fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "username": user.username,
        "role": user.role.as_str(),
        "fhirUser": user.fhir_user,
        "locked": user.locked_until > super::now_millis(),
    })
}

fn body(request: &AuthRequest<'_>) -> Result<Value, Failure> {
    request
        .json()
        .map_err(|(status, message)| Failure::Status(status, message))
}

async fn list_clients(request: &AuthRequest<'_>) -> Result<Response, Failure> {
    let clients = clients::list(request.server.store(), request.tenant).await?;
    Ok(super::json(clients.iter().map(client_json).collect::<Vec<_>>()).into_response())
}

async fn create_client(request: &AuthRequest<'_>) -> Result<Response, Failure> {
    let new: NewClient = serde_json::from_value(body(request)?)
        .map_err(|e| AuthError::Invalid(format!("bad client: {e}")))?;
    let (client, secret) = clients::create(request.server.store(), request.tenant, new).await?;
    let mut answer = client_json(&client);
    if let Some(secret) = secret {
        answer["client_secret"] = secret.into();
    }
    Ok((StatusCode::CREATED, super::json(answer)).into_response())
}

async fn delete_client(request: &AuthRequest<'_>, id: &str) -> Result<Response, Failure> {
    if clients::delete(request.server.store(), request.tenant, id).await? {
        // Its tokens end with it.
        request
            .server
            .revoke_grants_where(request.tenant, |grant| grant.client_id == id)
            .await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AuthError::NotFound(format!("no client '{id}'")).into())
    }
}

async fn list_users(request: &AuthRequest<'_>) -> Result<Response, Failure> {
    let users = users::list(request.server.store(), request.tenant).await?;
    Ok(super::json(users.iter().map(user_json).collect::<Vec<_>>()).into_response())
}

async fn create_user(request: &AuthRequest<'_>) -> Result<Response, Failure> {
    let body = body(request)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let (Some(username), Some(password), Some(role)) =
        (text("username"), text("password"), text("role"))
    else {
        return Err(AuthError::Invalid("username, password and role are required".into()).into());
    };
    let role: Role = role.parse().map_err(AuthError::Invalid)?;
    let user = users::create(
        request.server.store(),
        request.tenant,
        username,
        password,
        role,
        text("fhirUser"),
    )
    .await?;
    Ok((StatusCode::CREATED, super::json(user_json(&user))).into_response())
}

async fn set_password(request: &AuthRequest<'_>, name: &str) -> Result<Response, Failure> {
    let body = body(request)?;
    let Some(password) = body.get("password").and_then(Value::as_str) else {
        return Err(AuthError::Invalid("password is required".into()).into());
    };
    users::set_password(request.server.store(), request.tenant, name, password).await?;
    // A new password ends the sessions of the old one: every token of the user, not only the
    // refresh tokens (which the credentials epoch already stops).
    request
        .server
        .revoke_grants_where(request.tenant, |grant| {
            grant
                .user
                .as_ref()
                .is_some_and(|user| user.username == name)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn rotate(request: &AuthRequest<'_>) -> Result<Response, Failure> {
    let kid = request
        .server
        .keys()
        .rotate(request.server.store(), request.tenant)
        .await?;
    Ok(super::json(json!({"kid": kid})).into_response())
}
