//! The login page, `POST [base]/auth/login` and `[base]/auth/logout`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::authorize::{pending, server_error};
use super::pages::{error_page, escape, hidden, page};
use super::ratelimit::{LOGIN_FAILURES_PER_IP, LOGIN_FAILURES_PER_USER};
use super::session::{self, Session};
use super::{AuthRequest, Params, now_millis};
use crate::users;

/// The login form.
pub(super) fn login_page(
    request: &AuthRequest<'_>,
    client_name: &str,
    csrf: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    let body = format!(
        "<p><strong>{}</strong> asks to access your health record.</p>{error}\
<form method=\"post\" action=\"{}\">{}\
<label>User name <input type=\"text\" name=\"username\" autocomplete=\"username\" required></label>\
<label>Password <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required></label>\
<button type=\"submit\">Sign in</button></form>",
        escape(client_name),
        escape(&request.endpoint("login")),
        hidden("csrf", csrf),
    );
    page(status, "Sign in", &body)
}

/// `POST [base]/auth/login`: checks the CSRF token and the password, then replaces the
/// pre-login session with a new one and shows the consent page.
pub(super) async fn login(request: &AuthRequest<'_>) -> Response {
    let form = match request.form().and_then(Params::unique) {
        Ok(form) => form,
        Err(error) => return error_page(StatusCode::BAD_REQUEST, &error.description),
    };
    let (old_key, old) = match session::load(request).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Your session has expired. Start again from the app.",
            );
        }
        Err(error) => return server_error(error),
    };
    if !session::csrf_ok(&old, &form) {
        return error_page(StatusCode::FORBIDDEN, "The form is stale or forged (CSRF).");
    }
    let pending = match pending(request, &old).await {
        Ok(Some((_, pending))) => pending,
        Ok(None) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The authorization request has expired. Start again from the app.",
            );
        }
        Err(error) => return server_error(error),
    };
    let client =
        match crate::clients::get(request.server.store(), request.tenant, &pending.client_id).await
        {
            Ok(Some(client)) => client,
            Ok(None) => {
                return error_page(StatusCode::BAD_REQUEST, "The app is no longer registered.");
            }
            Err(error) => return server_error(error),
        };
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let mut keys = vec![(
        format!("user:{}:{username}", request.tenant),
        LOGIN_FAILURES_PER_USER,
    )];
    if let Some(ip) = request.peer {
        keys.push((format!("ip:{ip}"), LOGIN_FAILURES_PER_IP));
    }
    let limiter = request.server.limiter();
    if let Err(retry_after) = limiter.check_all(&keys) {
        let mut response = login_page(
            request,
            &client.name,
            &old.csrf,
            Some("Too many failed sign-ins. Wait a minute and try again."),
            StatusCode::TOO_MANY_REQUESTS,
        );
        if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    let outcome = if users::valid_username(username) && !password.is_empty() {
        users::login(request.server.store(), request.tenant, username, password).await
    } else {
        Ok(Err(users::LoginFailure::BadCredentials))
    };
    let user = match outcome {
        Ok(Ok(user)) => user,
        Ok(Err(failure)) => {
            limiter.fail_all(&keys);
            tracing::info!(
                tenant = request.tenant,
                user = username,
                ?failure,
                "login failed"
            );
            return login_page(
                request,
                &client.name,
                &old.csrf,
                Some("Wrong user name or password, or the account is locked for a while."),
                StatusCode::UNAUTHORIZED,
            );
        }
        Err(error) => return server_error(error),
    };
    tracing::info!(tenant = request.tenant, user = username, "login");
    // A new session id at login: a fixated pre-login id is worth nothing.
    if let Err(error) = session::delete(request, &old_key).await {
        return server_error(error);
    }
    let hours = request.server.settings().online_hours;
    let new = Session {
        csrf: session::new_csrf(),
        request: old.request.clone(),
        user: Some(user.username.clone()),
        expires_at: now_millis() + hours * 3600 * 1000,
        epoch: user.credentials_epoch,
    };
    let cookie = match session::create(request, &new).await {
        Ok((_, cookie)) => cookie,
        Err(error) => return server_error(error),
    };
    let mut response =
        super::consent::consent_page(request, &client, &pending, &user, &new.csrf, None).await;
    session::set_cookie(&mut response, &cookie);
    response
}

/// `GET [base]/auth/logout`: a form to sign out (it needs the session's CSRF token).
pub(super) async fn logout_page(request: &AuthRequest<'_>) -> Response {
    match session::load(request).await {
        Ok(Some((_, session))) => page(
            StatusCode::OK,
            "Sign out",
            &logout_form(request, &session.csrf),
        ),
        Ok(None) => page(
            StatusCode::OK,
            "Signed out",
            "<p>You are not signed in.</p>",
        ),
        Err(error) => server_error(error),
    }
}

/// The sign-out form, also shown on the consent page.
pub(super) fn logout_form(request: &AuthRequest<'_>, csrf: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\">{}<button type=\"submit\">Sign out</button></form>",
        escape(&request.endpoint("logout")),
        hidden("csrf", csrf)
    )
}

/// `POST [base]/auth/logout`: ends the session; online refresh tokens of it stop working.
pub(super) async fn logout(request: &AuthRequest<'_>) -> Response {
    let form = match request.form().and_then(Params::unique) {
        Ok(form) => form,
        Err(error) => return error_page(StatusCode::BAD_REQUEST, &error.description),
    };
    let (key, session) = match session::load(request).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return page(
                StatusCode::OK,
                "Signed out",
                "<p>You are not signed in.</p>",
            );
        }
        Err(error) => return server_error(error),
    };
    if !session::csrf_ok(&session, &form) {
        return error_page(StatusCode::FORBIDDEN, "The form is stale or forged (CSRF).");
    }
    if let Err(error) = session::delete(request, &key).await {
        return server_error(error);
    }
    let mut response =
        page(StatusCode::OK, "Signed out", "<p>You are signed out.</p>").into_response();
    session::set_cookie(&mut response, &session::clear_cookie(request));
    response
}
