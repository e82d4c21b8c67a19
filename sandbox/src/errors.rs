//! Refusals in Gladly's error form: `{"errors": [{"attr", "code", "detail"}]}`.

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

pub(crate) fn not_exist() -> Response {
    error(
        StatusCode::NOT_FOUND,
        None,
        "not_exist",
        "resource does not exist",
    )
}
