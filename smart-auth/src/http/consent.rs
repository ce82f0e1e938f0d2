//! The consent page and `POST [base]/auth/consent`: the user picks which of the offered scopes
//! to grant (and, for staff in a standalone launch, the patient); the answer is a code.
//!
//! Offered = requested ∩ what the client is registered for ∩ what the user's role can ever
//! use; unknown scopes and `system/` scopes are never offered to a user.

use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::authorize::{PENDING_KIND, Pending, pending, server_error};
use super::pages::{error_page, escape, hidden, page};
use super::session;
use super::{AuthRequest, Params, now_millis, redirect, with_query};
use crate::clients::Client;
use crate::jose::{b64, random_token, sha256};
use crate::scopes::{Context, Op, ResourceScope, Scopes};
use crate::users::{self, User};
use crate::{AuthError, Role};

/// Record kind of authorization codes (keyed by the code's SHA-256).
pub const CODE_KIND: &str = "code";

/// What a code stands for, until it is exchanged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeRecord {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub username: String,
    pub scope: String,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub nonce: Option<String>,
    /// The login session (store key), for `online_access`.
    pub session: String,
}

/// `true` when the client's registration covers `scope` (same context, a type it covers, no
/// more operations, and no constraint it does not have).
pub(super) fn covered(scope: &ResourceScope, max: &Scopes) -> bool {
    max.resources.iter().any(|m| {
        m.context == scope.context
            && (m.resource_type.is_none() || m.resource_type == scope.resource_type)
            && scope.ops.and(m.ops) == scope.ops
            && (m.constraints.is_empty() || m.constraints == scope.constraints)
    })
}

/// `true` when the role can use `scope` at all.
fn role_can_use(role: Role, scope: &ResourceScope) -> bool {
    if scope.context == Context::System {
        return false;
    }
    match &scope.resource_type {
        None => true,
        Some(resource_type) => [Op::Create, Op::Read, Op::Update, Op::Delete, Op::Search]
            .into_iter()
            .any(|op| scope.ops.contains(op) && role.allows(resource_type, op)),
    }
}

/// The scopes offered to `user` for `requested` by `client`.
pub fn offered(requested: &str, client: &Client, user: &User) -> Scopes {
    let requested = Scopes::parse(requested);
    let max = client.max_scopes();
    Scopes {
        resources: requested
            .resources
            .into_iter()
            .filter(|r| {
                covered(r, &max) && role_can_use(user.role, r) && crate::granular::enforceable(r)
            })
            .collect(),
        others: requested
            .others
            .into_iter()
            .filter(|o| max.has(o))
            .collect(),
        unknown: Vec::new(),
    }
}

/// `true` when the consent page needs a patient picker.
fn needs_picker(pending: &Pending, user: &User, offered: &Scopes) -> bool {
    pending.launch.is_none()
        && user.role.is_staff()
        && (offered.has("launch/patient") || offered.has_context(Context::Patient))
}

/// The consent form.
pub(super) async fn consent_page(
    request: &AuthRequest<'_>,
    client: &Client,
    pending: &Pending,
    user: &User,
    csrf: &str,
    error: Option<(StatusCode, &str)>,
) -> Response {
    let offered = offered(&pending.scope, client, user);
    let mut items = String::new();
    for scope in offered.to_string().split(' ').filter(|s| !s.is_empty()) {
        items.push_str(&format!(
            "<li><label><input type=\"checkbox\" name=\"scope\" value=\"{0}\" checked> {0}</label></li>",
            escape(scope)
        ));
    }
    let picker = if needs_picker(pending, user, &offered) {
        patient_picker(request).await
    } else {
        String::new()
    };
    let (status, error) = match error {
        Some((status, text)) => (status, format!("<p class=\"error\">{}</p>", escape(text))),
        None => (StatusCode::OK, String::new()),
    };
    let body = format!(
        "<p>Signed in as <strong>{}</strong>.</p><p><strong>{}</strong> asks for:</p>{error}\
<form method=\"post\" action=\"{}\">{}<ul>{items}</ul>{picker}\
<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>{}",
        escape(&user.username),
        escape(&client.name),
        escape(&request.endpoint("consent")),
        hidden("csrf", csrf),
        super::login::logout_form(request, csrf),
    );
    page(status, "Allow access?", &body)
}

/// The most patients the picker lists.
const PICKER_SIZE: usize = 50;

/// The patient picker: a select of the most recently changed patients (at most
/// [`PICKER_SIZE`]), or a text field for an id when there are none to list or the list fails.
async fn patient_picker(request: &AuthRequest<'_>) -> String {
    let text_field =
        "<label>Patient id <input type=\"text\" name=\"patient\" required></label>".to_owned();
    let query = fhir_core::store::HistoryQuery {
        resource_type: Some("Patient".into()),
        count: PICKER_SIZE * 4,
        ..Default::default()
    };
    let Ok(page) = request.server.store().history(request.tenant, &query).await else {
        return text_field;
    };
    let mut seen = std::collections::HashSet::new();
    let mut options = String::new();
    let mut listed = 0;
    // Newest version first: the first one seen of each id is its current state.
    for version in page.entries {
        if !seen.insert(version.id.clone()) || version.deleted {
            continue;
        }
        options.push_str(&format!(
            "<option value=\"{}\">{}</option>",
            escape(&version.id),
            escape(&patient_label(&version.id, &version.body))
        ));
        listed += 1;
        if listed == PICKER_SIZE {
            break;
        }
    }
    if listed == 0 {
        return text_field;
    }
    format!("<label>Patient <select name=\"patient\" required>{options}</select></label>")
}

/// "Family, Given (birth date) – id" of a Patient's JSON.
fn patient_label(id: &str, body: &str) -> String {
    let Ok(patient) = serde_json::from_str::<serde_json::Value>(body) else {
        return id.to_owned();
    };
    let name = &patient["name"][0];
    let family = name["family"].as_str().unwrap_or_default();
    let given: Vec<&str> = name["given"]
        .as_array()
        .map(|g| g.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let birth = patient["birthDate"].as_str().unwrap_or_default();
    format!("{family}, {} ({birth}) - {id}", given.join(" "))
}

/// `POST [base]/auth/consent`.
pub(super) async fn consent(request: &AuthRequest<'_>) -> Response {
    let form = match request.form() {
        Ok(form) => form,
        Err(error) => return error_page(StatusCode::BAD_REQUEST, &error.description),
    };
    if ["csrf", "decision", "patient"]
        .iter()
        .any(|name| form.all(name).len() > 1)
    {
        return error_page(StatusCode::BAD_REQUEST, "A parameter is repeated.");
    }
    match decide(request, &form).await {
        Ok(response) => response,
        Err(error) => server_error(error),
    }
}

async fn decide(request: &AuthRequest<'_>, form: &Params) -> Result<Response, AuthError> {
    let store = request.server.store();
    let Some((session_key, session)) = session::load(request).await? else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "Your session has expired. Start again from the app.",
        ));
    };
    if !session::csrf_ok(&session, form) {
        return Ok(error_page(
            StatusCode::FORBIDDEN,
            "The form is stale or forged (CSRF).",
        ));
    }
    let Some(username) = &session.user else {
        return Ok(error_page(StatusCode::FORBIDDEN, "Sign in first."));
    };
    let Some((pending_key, pending)) = pending(request, &session).await? else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The authorization request has expired or was answered. Start again from the app.",
        ));
    };
    let (Some(client), Some(user)) = (
        crate::clients::get(store, request.tenant, &pending.client_id).await?,
        users::get(store, request.tenant, username).await?,
    ) else {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "The app or the user no longer exists.",
        ));
    };
    let redirect_with = |pairs: &[(&str, &str)]| {
        let mut pairs = pairs.to_vec();
        if let Some(state) = &pending.state {
            pairs.push(("state", state.as_str()));
        }
        redirect(&with_query(&pending.redirect_uri, &pairs))
    };
    if form.get("decision") != Some("approve") {
        store
            .record_delete(request.tenant, PENDING_KIND, &pending_key)
            .await?;
        return Ok(redirect_with(&[
            ("error", "access_denied"),
            ("error_description", "the user denied access"),
        ]));
    }
    let offered = offered(&pending.scope, &client, &user);
    let chosen = Scopes::parse(&form.all("scope").join(" "));
    let granted = offered.intersect(&chosen);
    if granted.resources.is_empty() && granted.others.is_empty() {
        return Ok(consent_page(
            request,
            &client,
            &pending,
            &user,
            &session.csrf,
            Some((
                StatusCode::BAD_REQUEST,
                "Choose at least one permission, or deny.",
            )),
        )
        .await);
    }
    let wants_patient = granted.has("launch/patient") || granted.has_context(Context::Patient);
    let (patient, encounter) = if let Some(launch) = &pending.launch {
        (Some(launch.patient.clone()), launch.encounter.clone())
    } else if user.role == Role::Patient {
        (user.patient_id().map(str::to_owned), None)
    } else if wants_patient {
        let id = form.get("patient").unwrap_or_default().trim();
        if !patient_exists(request, id).await? {
            return Ok(consent_page(
                request,
                &client,
                &pending,
                &user,
                &session.csrf,
                Some((StatusCode::BAD_REQUEST, "There is no patient with this id.")),
            )
            .await);
        }
        (Some(id.to_owned()), None)
    } else {
        (None, None)
    };
    if granted.has_context(Context::Patient) && patient.is_none() {
        return Ok(consent_page(
            request,
            &client,
            &pending,
            &user,
            &session.csrf,
            Some((
                StatusCode::BAD_REQUEST,
                "patient/ scopes need a patient in context.",
            )),
        )
        .await);
    }
    // The request is answered once: a second submission of the form (or a race) finds nothing.
    if store
        .record_take(request.tenant, PENDING_KIND, &pending_key)
        .await?
        .is_none()
    {
        return Ok(error_page(
            StatusCode::BAD_REQUEST,
            "This authorization request was already answered.",
        ));
    }
    let code = random_token(32);
    let record = CodeRecord {
        client_id: client.client_id.clone(),
        redirect_uri: pending.redirect_uri.clone(),
        code_challenge: pending.code_challenge.clone(),
        username: user.username.clone(),
        scope: granted.to_string(),
        patient,
        encounter,
        nonce: pending.nonce.clone(),
        session: session_key,
    };
    let value = serde_json::to_string(&record).map_err(|e| AuthError::Internal(e.to_string()))?;
    let expires_at = now_millis() + request.server.settings().code_secs * 1000;
    store
        .record_put(
            request.tenant,
            CODE_KIND,
            &b64(&sha256(code.as_bytes())),
            &value,
            expires_at,
        )
        .await?;
    Ok(redirect_with(&[("code", code.as_str())]))
}

/// `true` when `id` is a live Patient of the tenant.
pub(super) async fn patient_exists(request: &AuthRequest<'_>, id: &str) -> Result<bool, AuthError> {
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !id_ok {
        return Ok(false);
    }
    Ok(request
        .server
        .store()
        .read(request.tenant, "Patient", id)
        .await?
        .is_some_and(|stored| !stored.deleted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientKind;

    fn client(scope: &str) -> Client {
        Client {
            client_id: "c".into(),
            name: "App".into(),
            kind: ClientKind::Public,
            redirect_uris: Vec::new(),
            scope: scope.into(),
            secret_sha256: None,
            jwks: None,
            jwks_uri: None,
            created_at: 0,
        }
    }

    fn user(role: Role) -> User {
        User {
            id: "u".into(),
            username: "u".into(),
            password_hash: String::new(),
            role,
            fhir_user: None,
            failed_logins: 0,
            locked_until: 0,
            credentials_epoch: 0,
        }
    }

    #[test]
    fn offered_is_requested_within_the_client_and_the_role() {
        let client = client("openid launch/patient patient/*.rs user/*.cruds system/*.rs");
        let requested = "openid offline_access patient/Observation.rs patient/*.cruds \
                         user/Observation.rs user/Patient.r system/Patient.rs made/up";
        let offered = offered(requested, &client, &user(Role::Receptionist));
        // offline_access: not registered; patient/*.cruds: more than registered; system/: never
        // for users; Observation: not for a receptionist; made/up: unknown.
        assert_eq!(offered.to_string(), "openid user/Patient.r");
        let offered = offered_for_clinician(&client, requested);
        assert_eq!(
            offered.to_string(),
            "openid patient/Observation.rs user/Observation.rs user/Patient.r"
        );
    }

    fn offered_for_clinician(client: &Client, requested: &str) -> Scopes {
        offered(requested, client, &user(Role::Clinician))
    }
}
