//! create, read, vread, update, delete with their headers and status codes.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, TestApp, expect_outcome, header, json_body, patient};

crate::on_both_backends!(
    create_assigns_an_id_and_answers_with_location_and_etag,
    read_and_vread_return_the_stored_versions,
    update_creates_new_versions_and_update_as_create_uses_the_client_id,
    if_match_guards_updates_and_deletes,
    conditional_reads_answer_not_modified,
    delete_is_versioned_and_idempotent,
    prefer_chooses_the_response_body,
    concurrent_updates_lose_nothing,
);

async fn create_assigns_an_id_and_answers_with_location_and_etag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut body = patient("Lovelace");
    body["id"] = json!("client-chosen"); // ignored on create, as the spec says
    let response = app.create(&body).await;
    assert_eq!(response.status(), 201);
    let location = header(&response, "location");
    assert_eq!(header(&response, "etag"), "W/\"1\"");
    assert!(!header(&response, "last-modified").is_empty());
    let created = json_body(response).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_ne!(id, "client-chosen");
    assert_eq!(location, format!("{}/Patient/{id}/_history/1", app.base));
    assert_eq!(created["meta"]["versionId"], "1");
    assert!(
        created["meta"]["lastUpdated"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    // Elements come back in definition order whatever order they were sent in.
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["resourceType", "id", "meta", "name", "gender", "birthDate"]
    );
}

async fn read_and_vread_return_the_stored_versions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = json_body(app.create(&patient("Read")).await).await;
    let id = created["id"].as_str().unwrap();
    let response = app.get(&format!("/Patient/{id}")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "etag"), "W/\"1\"");
    assert_eq!(json_body(response).await, created);
    let head = app
        .request(Method::HEAD, &format!("/Patient/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "etag"), "W/\"1\"");
    assert!(head.text().await.unwrap().is_empty());

    let mut changed = created.clone();
    changed["gender"] = json!("other");
    assert_eq!(app.put(&changed).await.status(), 200);
    let first = app.get(&format!("/Patient/{id}/_history/1")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(json_body(first).await["gender"], "female");
    let second = json_body(app.get(&format!("/Patient/{id}/_history/2")).await).await;
    assert_eq!(second["gender"], "other");
    expect_outcome(app.get(&format!("/Patient/{id}/_history/3")).await, 404).await;
    expect_outcome(app.get("/Patient/does-not-exist").await, 404).await;
    expect_outcome(app.get("/Patient/does-not-exist/_history/1").await, 404).await;
    expect_outcome(app.get("/NotAType/1").await, 404).await;
    expect_outcome(app.get(&format!("/Patient/{id}/_history/x")).await, 400).await;
}

async fn update_creates_new_versions_and_update_as_create_uses_the_client_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = patient("Put");
    resource["id"] = json!("pat-1");
    let created = app.put(&resource).await;
    assert_eq!(created.status(), 201);
    assert_eq!(
        header(&created, "location"),
        format!("{}/Patient/pat-1/_history/1", app.base)
    );
    resource["gender"] = json!("male");
    let updated = app.put(&resource).await;
    assert_eq!(updated.status(), 200);
    assert_eq!(header(&updated, "etag"), "W/\"2\"");
    assert_eq!(
        header(&updated, "content-location"),
        format!("{}/Patient/pat-1/_history/2", app.base)
    );
    let body = json_body(updated).await;
    assert_eq!(body["meta"]["versionId"], "2");
    assert_eq!(body["gender"], "male");
    // An update without an id, or with another id, is refused and stores nothing.
    let before = app.version_count().await;
    let mut no_id = patient("NoId");
    no_id.as_object_mut().unwrap().remove("id");
    expect_outcome(
        app.send_json(Method::PUT, "/Patient/pat-1", &no_id).await,
        400,
    )
    .await;
    let mut other_id = patient("Other");
    other_id["id"] = json!("pat-2");
    expect_outcome(
        app.send_json(Method::PUT, "/Patient/pat-1", &other_id)
            .await,
        400,
    )
    .await;
    assert_eq!(app.version_count().await, before);
}

async fn if_match_guards_updates_and_deletes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = patient("Match");
    resource["id"] = json!("m1");
    app.put(&resource).await;
    let send = |etag: &'static str| {
        app.request(Method::PUT, "/Patient/m1")
            .header("content-type", "application/fhir+json")
            .header("if-match", etag)
            .body(resource.to_string())
            .send()
    };
    assert_eq!(send("W/\"1\"").await.unwrap().status(), 200);
    let stale = send("W/\"1\"").await.unwrap();
    let outcome = expect_outcome(stale, 412).await;
    assert_eq!(outcome["issue"][0]["code"], "conflict");
    expect_outcome(send("garbage").await.unwrap(), 400).await;
    // If-Match on a resource that does not exist fails too, and creates nothing.
    let missing = app
        .request(Method::PUT, "/Patient/m2")
        .header("content-type", "application/fhir+json")
        .header("if-match", "W/\"1\"")
        .body(json!({"resourceType": "Patient", "id": "m2"}).to_string())
        .send()
        .await
        .unwrap();
    expect_outcome(missing, 412).await;
    expect_outcome(app.get("/Patient/m2").await, 404).await;
    let delete_stale = app
        .request(Method::DELETE, "/Patient/m1")
        .header("if-match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    expect_outcome(delete_stale, 412).await;
    let delete = app
        .request(Method::DELETE, "/Patient/m1")
        .header("if-match", "W/\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
}

async fn conditional_reads_answer_not_modified(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = json_body(app.create(&patient("Cond")).await).await;
    let path = format!("/Patient/{}", created["id"].as_str().unwrap());
    let hit = app
        .request(Method::GET, &path)
        .header("if-none-match", "W/\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(hit.status(), 304);
    assert_eq!(header(&hit, "etag"), "W/\"1\"");
    let miss = app
        .request(Method::GET, &path)
        .header("if-none-match", "W/\"7\"")
        .send()
        .await
        .unwrap();
    assert_eq!(miss.status(), 200);
    let later =
        httpdate::fmt_http_date(std::time::SystemTime::now() + std::time::Duration::from_secs(60));
    let fresh = app
        .request(Method::GET, &path)
        .header("if-modified-since", later)
        .send()
        .await
        .unwrap();
    assert_eq!(fresh.status(), 304);
    let earlier = "Mon, 01 Jan 2001 00:00:00 GMT";
    let stale = app
        .request(Method::GET, &path)
        .header("if-modified-since", earlier)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

async fn delete_is_versioned_and_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = json_body(app.create(&patient("Gone")).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let deleted = app.delete(&format!("/Patient/{id}")).await;
    assert_eq!(deleted.status(), 204);
    assert_eq!(header(&deleted, "etag"), "W/\"2\"");
    let outcome = expect_outcome(app.get(&format!("/Patient/{id}")).await, 410).await;
    assert_eq!(outcome["issue"][0]["code"], "deleted");
    expect_outcome(app.get(&format!("/Patient/{id}/_history/2")).await, 410).await;
    assert_eq!(
        app.get(&format!("/Patient/{id}/_history/1")).await.status(),
        200
    );
    // Deleting again, or deleting what never existed, changes nothing and succeeds.
    let before = app.version_count().await;
    assert_eq!(app.delete(&format!("/Patient/{id}")).await.status(), 204);
    assert_eq!(app.delete("/Patient/never-was").await.status(), 204);
    assert_eq!(app.version_count().await, before);
    // A PUT after a delete brings the resource back as a new version.
    let mut again = created.clone();
    again["gender"] = json!("unknown");
    let revived = app.put(&again).await;
    assert_eq!(revived.status(), 201);
    assert_eq!(header(&revived, "etag"), "W/\"3\"");
}

async fn prefer_chooses_the_response_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let send = |prefer: &'static str| {
        app.request(Method::POST, "/Patient")
            .header("content-type", "application/fhir+json")
            .header("prefer", prefer)
            .body(patient("Prefer").to_string())
            .send()
    };
    let minimal = send("return=minimal").await.unwrap();
    assert_eq!(minimal.status(), 201);
    assert!(!header(&minimal, "location").is_empty());
    assert!(minimal.text().await.unwrap().is_empty());
    let outcome = json_body(send("return=OperationOutcome").await.unwrap()).await;
    assert_eq!(outcome["resourceType"], "OperationOutcome");
    assert_eq!(outcome["issue"][0]["severity"], "information");
    let representation = json_body(send("return=representation").await.unwrap()).await;
    assert_eq!(representation["resourceType"], "Patient");
}

async fn concurrent_updates_lose_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut resource = patient("Race");
    resource["id"] = json!("race");
    app.put(&resource).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = app.client.clone();
        let url = format!("{}/Patient/race", app.base);
        let body = resource.to_string();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let response = client
                    .put(&url)
                    .header("content-type", "application/fhir+json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let current = app.get("/Patient/race").await;
    assert_eq!(header(&current, "etag"), "W/\"41\"");
    let history = json_body(app.get("/Patient/race/_history?_count=100").await).await;
    assert_eq!(history["total"], 41);
}
