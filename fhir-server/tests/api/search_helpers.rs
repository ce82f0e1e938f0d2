//! Helpers shared by the search tests: writing test data by PUT/POST and reading search
//! Bundles (ids of `match` entries, links, paging).

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

/// The largest page size the server is expected to hand out (`_count` above it is clamped,
/// not refused). The implementation must not answer with more entries than this on one page.
pub const MAX_PAGE_SIZE: usize = 1000;

/// PUTs `resource` at `path` (`Patient/a`): fills in `resourceType` and `id` from the path,
/// asserts 200 or 201, returns the stored resource.
pub async fn put(app: &TestApp, path: &str, mut resource: Value) -> Value {
    let (resource_type, id) = path.split_once('/').expect("Type/id");
    resource["resourceType"] = Value::from(resource_type);
    resource["id"] = Value::from(id);
    let response = app
        .send_json(Method::PUT, &format!("/{path}"), &resource)
        .await;
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    assert!(
        status == 200 || status == 201,
        "PUT {path}: {status} {body}"
    );
    serde_json::from_str(&body).expect("JSON")
}

/// POSTs `resource` (its `resourceType` chooses the type); asserts 201; returns the new id.
pub async fn post(app: &TestApp, resource: Value) -> String {
    let response = app.create(&resource).await;
    let status = response.status().as_u16();
    let body = response.text().await.expect("body");
    assert_eq!(status, 201, "POST: {body}");
    let created: Value = serde_json::from_str(&body).expect("JSON");
    created["id"].as_str().expect("id").to_owned()
}

/// GET `[base]/{query}` (`Patient?name=x`), asserts 200 and a `searchset` Bundle; returns it.
pub async fn search(app: &TestApp, query: &str) -> Value {
    // A system search (`?_type=…`) goes to the base itself, without a slash.
    let url = if query.starts_with('?') {
        format!("{}{query}", app.base)
    } else {
        format!("{}/{query}", app.base)
    };
    get_bundle(app, &url).await
}

/// GET an absolute URL (a page link), asserts 200 and a `searchset` Bundle; returns it.
pub async fn get_bundle(app: &TestApp, url: &str) -> Value {
    let response = app.client.get(url).send().await.expect("GET");
    bundle_of(response, url).await
}

/// Asserts a search answer is 200 with a `searchset` Bundle; returns it.
pub async fn bundle_of(response: reqwest::Response, what: &str) -> Value {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(status, 200, "{what}: {text}");
    let bundle: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(bundle["resourceType"], "Bundle", "{what}: {bundle}");
    assert_eq!(bundle["type"], "searchset", "{what}: {bundle}");
    bundle
}

/// The entries of a Bundle with `search.mode` = `mode`.
pub fn entries_with_mode<'a>(bundle: &'a Value, mode: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|entry| entry["search"]["mode"] == mode)
        .collect()
}

/// The ids of the `match` entries, sorted.
pub fn match_ids(bundle: &Value) -> Vec<String> {
    let mut ids: Vec<String> = entries_with_mode(bundle, "match")
        .iter()
        .map(|entry| entry["resource"]["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// The ids of the `match` entries, in the order of the Bundle.
pub fn match_ids_in_order(bundle: &Value) -> Vec<String> {
    entries_with_mode(bundle, "match")
        .iter()
        .map(|entry| entry["resource"]["id"].as_str().expect("id").to_owned())
        .collect()
}

/// `Type/id` of the entries with `search.mode` = `mode`, sorted.
pub fn refs_with_mode(bundle: &Value, mode: &str) -> Vec<String> {
    let mut refs: Vec<String> = entries_with_mode(bundle, mode)
        .iter()
        .map(|entry| {
            format!(
                "{}/{}",
                entry["resource"]["resourceType"].as_str().expect("type"),
                entry["resource"]["id"].as_str().expect("id")
            )
        })
        .collect();
    refs.sort();
    refs
}

/// The sorted ids of the resources matching `query`.
pub async fn search_ids(app: &TestApp, query: &str) -> Vec<String> {
    match_ids(&search(app, query).await)
}

/// Asserts that `query` matches exactly the resources with ids `expected` (in any order).
pub async fn expect_ids(app: &TestApp, query: &str, expected: &[&str]) {
    let mut wanted: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    wanted.sort();
    let got = search_ids(app, query).await;
    assert_eq!(got, wanted, "ids matched by {query}");
}

/// Asserts that `query` matches exactly the resources `expected` (`Type/id`, any order).
pub async fn expect_refs(app: &TestApp, query: &str, expected: &[&str]) {
    let mut wanted: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    wanted.sort();
    let got = refs_with_mode(&search(app, query).await, "match");
    assert_eq!(got, wanted, "resources matched by {query}");
}

/// The URL of the link with relation `relation`, if any.
pub fn link(bundle: &Value, relation: &str) -> Option<String> {
    bundle["link"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|l| l["relation"] == relation)
        .map(|l| l["url"].as_str().expect("link url").to_owned())
}

/// Follows `next` links from the first page of `query`; returns the `match` ids of every page
/// in order (duplicates kept, so that callers can check there are none) and the page count.
pub async fn all_pages(app: &TestApp, query: &str) -> (Vec<String>, usize) {
    let mut bundle = search(app, query).await;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages < 1000, "paging does not end");
        ids.extend(match_ids_in_order(&bundle));
        match link(&bundle, "next") {
            Some(next) => bundle = get_bundle(app, &next).await,
            None => break,
        }
    }
    (ids, pages)
}
