//! Refusals in Gladly's error form: `{"errors": [{"attr", "code", "detail"}]}`,
//! or, where the public spec publishes it so, `{"errors": {...}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, json};

pub(crate) fn error(status: StatusCode, attr: Option<&str>, code: &str, detail: &str) -> Response {
    let mut e = Map::new();
    if let Some(attr) = attr {
        e.insert("attr".into(), json!(attr));
    }
    e.insert("code".into(), json!(code));
    e.insert("detail".into(), json!(detail));
    (status, axum::Json(json!({ "errors": [e] }))).into_response()
}

/// 404 with `errors` a single object, not a list: the form of the public
/// spec's published call-recorder example, which a client must read too.
pub(crate) fn not_exist_single() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errors": {"code": "not_exist", "detail": "resource does not exist"}})),
    )
        .into_response()
}

pub(crate) fn not_exist() -> Response {
    error(
        StatusCode::NOT_FOUND,
        None,
        "not_exist",
        "resource does not exist",
    )
}
