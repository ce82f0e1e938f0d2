//! Conditional create (`If-None-Exist`), update (`PUT Type?params`) and delete
//! (`DELETE Type?params`), and concurrent conditional creates.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, expect_outcome, header, json_body};
use crate::search_helpers::{put, search_ids};

crate::on_both_backends!(
    conditional_create,
    conditional_update,
    conditional_delete,
    concurrent_conditional_creates_make_one_resource,
    concurrent_conditional_updates_make_one_resource,
);

fn with_identifier(value: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://acme.org/mrn", "value": value}]
    })
}

async fn create_if_none_exist(app: &TestApp, body: &Value, condition: &str) -> reqwest::Response {
    app.request(Method::POST, "/Patient")
        .header("content-type", "application/fhir+json")
        .header("if-none-exist", condition)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn conditional_create(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let condition = "identifier=http://acme.org/mrn|c1";
    // No match: created.
    let first = create_if_none_exist(&app, &with_identifier("c1"), condition).await;
    assert_eq!(first.status(), 201);
    let created = json_body(first).await;
    let id = created["id"].as_str().unwrap().to_owned();
    // One match: 200 with the existing resource, nothing stored.
    let before = app.version_count().await;
    let second = create_if_none_exist(&app, &with_identifier("c1"), condition).await;
    assert_eq!(second.status(), 200);
    let existing = json_body(second).await;
    assert_eq!(existing["id"], id.as_str());
    assert_eq!(existing["meta"]["versionId"], "1");
    assert_eq!(app.version_count().await, before);
    assert_eq!(
        search_ids(&app, "Patient?identifier=http://acme.org/mrn|c1").await,
        [id.as_str()]
    );
    // Two matches: 412, nothing stored.
    let mut other = with_identifier("c1");
    other["id"] = json!("dup");
    put(&app, "Patient/dup", other).await;
    let before = app.version_count().await;
    let third = create_if_none_exist(&app, &with_identifier("c1"), condition).await;
    expect_outcome(third, 412).await;
    assert_eq!(app.version_count().await, before);
    // A condition that matches nothing else creates even if other patients exist.
    let fourth = create_if_none_exist(
        &app,
        &with_identifier("c2"),
        "identifier=http://acme.org/mrn|c2",
    )
    .await;
    assert_eq!(fourth.status(), 201);
    // Deleted resources do not count as matches.
    let c3 = create_if_none_exist(
        &app,
        &with_identifier("c3"),
        "identifier=http://acme.org/mrn|c3",
    )
    .await;
    let c3_id = json_body(c3).await["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/Patient/{c3_id}")).await;
    let again = create_if_none_exist(
        &app,
        &with_identifier("c3"),
        "identifier=http://acme.org/mrn|c3",
    )
    .await;
    assert_eq!(again.status(), 201);
    // A malformed condition is refused.
    let bad = create_if_none_exist(&app, &with_identifier("c4"), "birthdate=notadate").await;
    expect_outcome(bad, 400).await;
}

async fn conditional_update(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |query: &'static str, body: Value| {
        app.request(Method::PUT, query)
            .header("content-type", "application/fhir+json")
            .body(body.to_string())
            .send()
    };
    // No match: created with a server-assigned id.
    let mut body = with_identifier("u1");
    body["gender"] = json!("male");
    let created = send("/Patient?identifier=http://acme.org/mrn|u1", body.clone())
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = header(&created, "location");
    let id = json_body(created).await["id"].as_str().unwrap().to_owned();
    assert!(
        location.contains(&format!("/Patient/{id}/_history/1")),
        "{location}"
    );
    // One match: that resource is updated (version 2).
    body["gender"] = json!("female");
    let updated = send("/Patient?identifier=http://acme.org/mrn|u1", body.clone())
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated = json_body(updated).await;
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["meta"]["versionId"], "2");
    assert_eq!(updated["gender"], "female");
    // A body id that is not the matched resource's is refused.
    let mut wrong = body.clone();
    wrong["id"] = json!("someone-else");
    expect_outcome(
        send("/Patient?identifier=http://acme.org/mrn|u1", wrong)
            .await
            .unwrap(),
        400,
    )
    .await;
    // Two matches: 412, nothing changed.
    let mut second = with_identifier("u1");
    second["gender"] = json!("other");
    put(&app, "Patient/u1-dup", second).await;
    let before = app.version_count().await;
    expect_outcome(
        send("/Patient?identifier=http://acme.org/mrn|u1", body.clone())
            .await
            .unwrap(),
        412,
    )
    .await;
    assert_eq!(app.version_count().await, before);
    let mut ids = search_ids(&app, "Patient?identifier=http://acme.org/mrn|u1").await;
    ids.sort();
    let mut expected = vec![id.clone(), "u1-dup".to_owned()];
    expected.sort();
    assert_eq!(ids, expected);
}

async fn conditional_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(&app, "Patient/d1", with_identifier("d1")).await;
    put(&app, "Patient/d2a", with_identifier("d2")).await;
    put(&app, "Patient/d2b", with_identifier("d2")).await;
    put(&app, "Patient/keep", with_identifier("keep")).await;
    // One match: deleted.
    let one = app
        .delete("/Patient?identifier=http://acme.org/mrn|d1")
        .await;
    assert!(
        one.status() == 200 || one.status() == 204,
        "{}",
        one.status()
    );
    crate::helpers::expect_outcome(app.get("/Patient/d1").await, 410).await;
    // No match: nothing to do, success.
    let before = app.version_count().await;
    let none = app
        .delete("/Patient?identifier=http://acme.org/mrn|nobody")
        .await;
    assert!(
        none.status() == 200 || none.status() == 204,
        "{}",
        none.status()
    );
    assert_eq!(app.version_count().await, before);
    // Several matches: either 412 and nothing deleted, or all of them deleted.
    let several = app
        .delete("/Patient?identifier=http://acme.org/mrn|d2")
        .await;
    let status = several.status().as_u16();
    let left = search_ids(&app, "Patient?identifier=http://acme.org/mrn|d2").await;
    match status {
        412 => assert_eq!(left, ["d2a", "d2b"]),
        200 | 204 => assert!(left.is_empty(), "{left:?}"),
        other => panic!("conditional delete of several: {other}"),
    }
    // The unrelated patient is untouched.
    assert_eq!(app.get("/Patient/keep").await.status(), 200);
    // A delete without any condition on the type is not a conditional delete of everything.
    let everything = app.delete("/Patient").await;
    assert!(
        everything.status().is_client_error(),
        "{}",
        everything.status()
    );
    assert_eq!(app.get("/Patient/keep").await.status(), 200);
}

async fn concurrent_conditional_creates_make_one_resource(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for round in 0..5 {
        let value = format!("race-{round}");
        let condition = format!("identifier=http://acme.org/mrn|{value}");
        let body = with_identifier(&value).to_string();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let request = app
                .request(Method::POST, "/Patient")
                .header("content-type", "application/fhir+json")
                .header("if-none-exist", condition.clone())
                .body(body.clone());
            tasks.push(tokio::spawn(async move {
                request.send().await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.push(task.await.unwrap());
        }
        statuses.sort();
        // Exactly one create; the others found it.
        assert_eq!(statuses, [200, 200, 200, 200, 200, 201], "round {round}");
        let ids = search_ids(&app, &format!("Patient?{condition}")).await;
        assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
    }
}

async fn concurrent_conditional_updates_make_one_resource(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let condition = "identifier=http://acme.org/mrn|upd-race";
    let body = with_identifier("upd-race").to_string();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let request = app
            .request(Method::PUT, &format!("/Patient?{condition}"))
            .header("content-type", "application/fhir+json")
            .body(body.clone());
        tasks.push(tokio::spawn(async move {
            request.send().await.unwrap().status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    // The first creates, the others update what it created.
    assert_eq!(statuses, [200, 200, 200, 200, 200, 201]);
    let ids = search_ids(&app, &format!("Patient?{condition}")).await;
    assert_eq!(ids.len(), 1, "{ids:?}");
    let current = app.get(&format!("/Patient/{}", ids[0])).await;
    assert_eq!(header(&current, "etag"), "W/\"6\"");
}
