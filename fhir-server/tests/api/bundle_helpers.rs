//! Helpers of the Bundle tests: building and sending Bundles, and a snapshot of what is stored
//! to prove that a refused Bundle changed nothing.

use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_body};

pub fn transaction(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

pub fn batch(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "batch", "entry": entries})
}

pub async fn post_bundle(app: &TestApp, bundle: &Value) -> reqwest::Response {
    app.send_json(Method::POST, "", bundle).await
}

/// Posts a Bundle with `Prefer: return=…`.
pub async fn post_bundle_prefer(app: &TestApp, bundle: &Value, prefer: &str) -> reqwest::Response {
    app.request(Method::POST, "")
        .header("content-type", "application/fhir+json")
        .header("prefer", prefer)
        .body(bundle.to_string())
        .send()
        .await
        .expect("POST bundle")
}

/// Posts a Bundle that must succeed; returns the response Bundle.
pub async fn commit(app: &TestApp, bundle: &Value) -> Value {
    let response = post_bundle(app, bundle).await;
    let status = response.status();
    let body = json_body(response).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The status of a response entry.
pub fn status(answer: &Value, index: usize) -> &str {
    answer["entry"][index]["response"]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("entry {index} has no status: {answer}"))
}

/// The `Type/id` of a response entry's location.
pub fn located(answer: &Value, index: usize) -> String {
    let location = answer["entry"][index]["response"]["location"]
        .as_str()
        .unwrap_or_else(|| panic!("entry {index} has no location: {answer}"));
    let parts: Vec<&str> = location.rsplitn(4, '/').collect();
    format!("{}/{}", parts[3].rsplit('/').next().unwrap(), parts[2])
}

/// A JSON Patch as a Bundle entry's Binary.
pub fn json_patch_binary(operations: Value) -> Value {
    json!({
        "resourceType": "Binary",
        "contentType": "application/json-patch+json",
        "data": base64::engine::general_purpose::STANDARD.encode(operations.to_string()),
    })
}

/// What is stored in the default tenant: every version (type, id, version, deletion) in the
/// system history, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    versions: u64,
    history: Vec<String>,
}

pub async fn snapshot(app: &TestApp) -> Snapshot {
    let bundle = json_body(app.get("/_history?_count=1000").await).await;
    let history = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            format!(
                "{} {} {}",
                entry["request"]["method"],
                entry["fullUrl"],
                entry["resource"]["meta"]["versionId"]
            )
        })
        .collect();
    Snapshot {
        versions: app.version_count().await,
        history,
    }
}

/// Asserts that the response is an OperationOutcome of this status and that nothing changed.
pub async fn refused(
    app: &TestApp,
    before: &Snapshot,
    response: reqwest::Response,
    code: u16,
) -> Value {
    let outcome = crate::helpers::expect_outcome(response, code).await;
    assert_eq!(&snapshot(app).await, before, "{outcome}");
    outcome
}

/// Runs futures concurrently on this task (tokio tasks need `'static`; these borrow the app).
pub async fn join_all<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
