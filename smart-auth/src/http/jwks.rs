//! `GET [base]/auth/jwks` (the tenant's public signing keys) and `GET [base]/auth/style.json`
//! (the `smart_style_url` document).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AuthRequest;
use super::errors::api_auth_error;

/// `GET [base]/auth/jwks`.
pub(super) async fn jwks(request: &AuthRequest<'_>) -> Response {
    match request
        .server
        .keys()
        .get(request.server.store(), request.tenant)
        .await
    {
        Ok(keys) => {
            let mut response = super::json(keys.jwks()).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            // Short, so that a rotation reaches clients soon.
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(error) => api_auth_error(error),
    }
}

/// `GET [base]/auth/style.json`: the SMART styling hints for embedded apps.
pub(super) fn style() -> Response {
    let mut response = (
        StatusCode::OK,
        super::json(json!({
            "color_background": "#f7f7f5",
            "color_error": "#b3261e",
            "color_highlight": "#1d6fa5",
            "color_modal_backdrop": "",
            "color_success": "#2e7d32",
            "color_text": "#1f1f1f",
            "dim_border_radius": "6px",
            "dim_font_size": "14px",
            "dim_spacing_size": "16px",
            "font_family_body": "system-ui, sans-serif",
            "font_family_heading": "system-ui, sans-serif",
        })),
    )
        .into_response();
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}
