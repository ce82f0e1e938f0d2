//! History of instances, types and the whole tenant, with `_since`, `_at`, `_count` and paging.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_outcome, json_body, patient};

crate::on_both_backends!(
    history_lists_versions_newest_first_with_paging,
    history_filters_by_since_and_at
);

async fn history_lists_versions_newest_first_with_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = patient("Hist");
    resource["id"] = json!("h1");
    for gender in ["male", "female", "other"] {
        resource["gender"] = json!(gender);
        app.put(&resource).await;
    }
    app.delete("/Patient/h1").await;
    app.create(&json!({"resourceType": "Organization", "name": "Org"}))
        .await;

    let instance = json_body(app.get("/Patient/h1/_history").await).await;
    assert_eq!(instance["type"], "history");
    assert_eq!(instance["total"], 4);
    let entries = instance["entry"].as_array().unwrap();
    let methods: Vec<&str> = entries
        .iter()
        .map(|e| e["request"]["method"].as_str().unwrap())
        .collect();
    assert_eq!(methods, ["DELETE", "PUT", "PUT", "POST"]);
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[1]["resource"]["gender"], "other");
    assert_eq!(entries[1]["response"]["etag"], "W/\"3\"");
    assert_eq!(entries[1]["fullUrl"], format!("{}/Patient/h1", app.base));

    let types = json_body(app.get("/Patient/_history").await).await;
    assert_eq!(types["total"], 4);
    let system = json_body(app.get("/_history").await).await;
    assert_eq!(system["total"], 5);
    assert_eq!(
        system["entry"][0]["resource"]["resourceType"],
        "Organization"
    );

    // Paging: three pages of two, two and one, following the next links.
    let mut url = format!("{}/_history?_count=2", app.base);
    let mut seen = Vec::new();
    loop {
        let page: Value = json_body(app.client.get(&url).send().await.unwrap()).await;
        assert_eq!(page["total"], 5);
        for entry in page["entry"].as_array().into_iter().flatten() {
            seen.push(
                entry["response"]["etag"].as_str().unwrap().to_owned()
                    + entry["fullUrl"].as_str().unwrap(),
            );
        }
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next");
        match next {
            Some(link) => url = link["url"].as_str().unwrap().to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "pages overlap");
    expect_outcome(app.get("/Patient/nobody/_history").await, 404).await;
    expect_outcome(app.get("/_history?_count=x").await, 400).await;
    expect_outcome(app.get("/_history?_since=yesterday").await, 400).await;
}

async fn history_filters_by_since_and_at(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = patient("Since");
    resource["id"] = json!("s1");
    let first = json_body(app.put(&resource).await).await;
    let first_time = first["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    resource["gender"] = json!("male");
    let second = json_body(app.put(&resource).await).await;
    let second_time = second["meta"]["lastUpdated"].as_str().unwrap().to_owned();
    assert!(second_time > first_time);

    let since = json_body(
        app.get(&format!(
            "/Patient/s1/_history?_since={}",
            second_time.replace('+', "%2B")
        ))
        .await,
    )
    .await;
    assert_eq!(since["total"], 1);
    assert_eq!(since["entry"][0]["resource"]["meta"]["versionId"], "2");
    // At the first version's instant only version 1 was current.
    let at_first = json_body(
        app.get(&format!("/Patient/s1/_history?_at={first_time}"))
            .await,
    )
    .await;
    assert_eq!(at_first["total"], 1);
    assert_eq!(at_first["entry"][0]["resource"]["meta"]["versionId"], "1");
    // Over the whole year both were current at some time.
    let year = &first_time[..4];
    let at_year = json_body(app.get(&format!("/Patient/s1/_history?_at={year}")).await).await;
    assert_eq!(at_year["total"], 2);
    let before_all = json_body(app.get("/Patient/s1/_history?_at=2001").await).await;
    assert_eq!(before_all["total"], 0);
}
