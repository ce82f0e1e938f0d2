//! A search sees every write acknowledged before it: creates, updates (old values gone) and
//! deletes, many times in a row and under concurrent writes.

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use crate::search_helpers::{expect_ids, post, put, search, search_ids};

crate::on_both_backends!(
    creates_are_visible_at_once,
    updates_replace_old_values,
    deletes_remove_from_results,
    concurrent_writes_are_all_visible,
);

async fn creates_are_visible_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..30 {
        let family = format!("Ryw{i}x");
        let id = post(
            &app,
            json!({"resourceType": "Patient", "name": [{"family": family}]}),
        )
        .await;
        expect_ids(&app, &format!("Patient?family={family}"), &[&id]).await;
        expect_ids(&app, &format!("Patient?_id={id}"), &[&id]).await;
        // And through a reference, right away.
        put(
            &app,
            &format!("Observation/o{i}"),
            json!({
                "status": "final",
                "code": {"text": "x"},
                "subject": {"reference": format!("Patient/{id}")}
            }),
        )
        .await;
        expect_ids(
            &app,
            &format!("Observation?subject:Patient.name={family}"),
            &[&format!("o{i}")],
        )
        .await;
    }
    let total = search(&app, "Patient?_total=accurate").await;
    assert_eq!(total["total"], 30);
}

async fn updates_replace_old_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut previous: Option<String> = None;
    for i in 0..15 {
        let family = format!("Name{i}v");
        let stored = put(
            &app,
            "Patient/moving",
            json!({
                "name": [{"family": family}],
                "identifier": [{"system": "http://acme.org", "value": format!("id-{i}")}]
            }),
        )
        .await;
        assert_eq!(stored["meta"]["versionId"], (i + 1).to_string());
        expect_ids(&app, &format!("Patient?family={family}"), &["moving"]).await;
        expect_ids(
            &app,
            &format!("Patient?identifier=http://acme.org|id-{i}"),
            &["moving"],
        )
        .await;
        if let Some(old) = &previous {
            // The previous version's values no longer match.
            expect_ids(&app, &format!("Patient?family={old}"), &[]).await;
            expect_ids(
                &app,
                &format!("Patient?identifier=http://acme.org|id-{}", i - 1),
                &[],
            )
            .await;
        }
        // The entry is the current version.
        let bundle = search(&app, "Patient?_id=moving").await;
        assert_eq!(
            bundle["entry"][0]["resource"]["meta"]["versionId"],
            (i + 1).to_string()
        );
        previous = Some(family);
    }
    // A value removed by an update no longer matches :missing=false.
    put(&app, "Patient/moving", json!({"gender": "male"})).await;
    expect_ids(&app, "Patient?name:missing=true", &["moving"]).await;
    expect_ids(&app, "Patient?identifier:missing=false", &[]).await;
}

async fn deletes_remove_from_results(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for i in 0..10 {
        let id = format!("gone{i}");
        put(
            &app,
            &format!("Patient/{id}"),
            json!({"name": [{"family": "Transient"}]}),
        )
        .await;
        expect_ids(&app, &format!("Patient?_id={id}"), &[&id]).await;
        assert_eq!(app.delete(&format!("/Patient/{id}")).await.status(), 204);
        expect_ids(&app, &format!("Patient?_id={id}"), &[]).await;
        expect_ids(&app, "Patient?family=transient", &[]).await;
    }
    // Brought back by a PUT, it is found again, with its new values only.
    put(
        &app,
        "Patient/gone3",
        json!({"name": [{"family": "Returned"}]}),
    )
    .await;
    expect_ids(&app, "Patient?family=returned", &["gone3"]).await;
    expect_ids(&app, "Patient?family=transient", &[]).await;
    // Deleted resources are not counted, not included, not reverse-chained.
    put(
        &app,
        "Observation/obs",
        json!({"status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/gone3"}}),
    )
    .await;
    expect_ids(
        &app,
        "Patient?_has:Observation:subject:status=final",
        &["gone3"],
    )
    .await;
    app.delete("/Observation/obs").await;
    expect_ids(&app, "Patient?_has:Observation:subject:status=final", &[]).await;
    let bundle = search(
        &app,
        "Patient?_revinclude=Observation:subject&_total=accurate",
    )
    .await;
    assert_eq!(bundle["total"], 1);
    assert_eq!(bundle["entry"].as_array().unwrap().len(), 1, "{bundle}");
}

async fn concurrent_writes_are_all_visible(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tasks = Vec::new();
    for task in 0..4 {
        let client = app.client.clone();
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let body = json!({
                    "resourceType": "Patient",
                    "id": format!("c{task}-{i}"),
                    "meta": {"tag": [{"code": "concurrent"}]}
                });
                let response = client
                    .put(format!("{base}/Patient/c{task}-{i}"))
                    .header("content-type", "application/fhir+json")
                    .body(body.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
                // Each writer sees its own write at once.
                let found = client
                    .get(format!("{base}/Patient?_id=c{task}-{i}"))
                    .send()
                    .await
                    .unwrap();
                let bundle: serde_json::Value =
                    serde_json::from_str(&found.text().await.unwrap()).unwrap();
                assert_eq!(
                    bundle["entry"].as_array().map(Vec::len),
                    Some(1),
                    "{bundle}"
                );
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let ids = search_ids(&app, "Patient?_tag=concurrent&_count=100").await;
    assert_eq!(ids.len(), 40);
}
