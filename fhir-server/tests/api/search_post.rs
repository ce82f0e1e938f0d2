//! Search by POST: `Type/_search` and `_search` with a form body.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_outcome};
use crate::search_helpers::{bundle_of, get_bundle, link, match_ids, put, refs_with_mode};

crate::on_both_backends!(post_search_on_a_type, post_search_on_the_system);

async fn post_form(app: &TestApp, path: &str, form: &str) -> reqwest::Response {
    app.request(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.to_owned())
        .send()
        .await
        .unwrap()
}

async fn seed(app: &TestApp) {
    for (id, family, gender) in [
        ("a", "Alpha", "female"),
        ("b", "Albert", "male"),
        ("c", "Gamma", "female"),
    ] {
        put(
            app,
            &format!("Patient/{id}"),
            json!({"name": [{"family": family}], "gender": gender}),
        )
        .await;
    }
    put(app, "Organization/o", json!({"name": "Alpha Org"})).await;
}

async fn post_search_on_a_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let bundle = bundle_of(
        post_form(&app, "/Patient/_search", "family=al").await,
        "POST",
    )
    .await;
    assert_eq!(match_ids(&bundle), ["a", "b"]);
    // Form encoding: `+` is a space, %XX escapes, repeats are AND, commas OR.
    let bundle = bundle_of(
        post_form(&app, "/Patient/_search", "family=al&gender=female").await,
        "POST",
    )
    .await;
    assert_eq!(match_ids(&bundle), ["a"]);
    let bundle = bundle_of(
        post_form(&app, "/Patient/_search", "family=alpha,gamma").await,
        "POST",
    )
    .await;
    assert_eq!(match_ids(&bundle), ["a", "c"]);
    put(
        &app,
        "Patient/d",
        json!({"name": [{"family": "van Dijk"}], "gender": "male"}),
    )
    .await;
    let bundle = bundle_of(
        post_form(&app, "/Patient/_search", "family=van+d").await,
        "POST",
    )
    .await;
    assert_eq!(match_ids(&bundle), ["d"]);
    // Parameters in the URL and in the body are combined (AND).
    let bundle = bundle_of(
        post_form(&app, "/Patient/_search?gender=male", "family=al").await,
        "POST",
    )
    .await;
    assert_eq!(match_ids(&bundle), ["b"]);
    // An empty body: everything of the type.
    let bundle = bundle_of(post_form(&app, "/Patient/_search", "").await, "POST").await;
    assert_eq!(match_ids(&bundle), ["a", "b", "c", "d"]);
    // Paging links of a POST search can be followed with GET.
    let first = bundle_of(
        post_form(&app, "/Patient/_search", "_count=1&gender=female").await,
        "POST",
    )
    .await;
    let next = link(&first, "next").expect("next");
    let second = get_bundle(&app, &next).await;
    let mut both = match_ids(&first);
    both.extend(match_ids(&second));
    both.sort();
    assert_eq!(both, ["a", "c"]);
    assert!(link(&second, "next").is_none());
    // The body must be a form.
    let json_body = app
        .request(Method::POST, "/Patient/_search")
        .header("content-type", "application/fhir+json")
        .body(json!({"resourceType": "Parameters"}).to_string())
        .send()
        .await
        .unwrap();
    let status = json_body.status().as_u16();
    assert!(status == 400 || status == 415, "{status}");
    // Errors are reported as for GET.
    expect_outcome(
        post_form(&app, "/Patient/_search", "birthdate=notadate").await,
        400,
    )
    .await;
}

async fn post_search_on_the_system(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    seed(&app).await;
    let bundle = bundle_of(
        post_form(&app, "/_search", "_type=Patient,Organization&_id=a,o").await,
        "POST",
    )
    .await;
    assert_eq!(
        refs_with_mode(&bundle, "match"),
        ["Organization/o", "Patient/a"]
    );
    let bundle = bundle_of(post_form(&app, "/_search", "_id=c").await, "POST").await;
    assert_eq!(refs_with_mode(&bundle, "match"), ["Patient/c"]);
}
