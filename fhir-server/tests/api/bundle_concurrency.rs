//! Concurrent transactions over real HTTP: no lost update, no duplicate from `ifNoneExist`, no
//! deadlock between transactions that search the same types in another order.

use serde_json::{Value, json};

use crate::bundle_helpers::{join_all, located, post_bundle, transaction};
use crate::helpers::{Backend, TestApp, json_body};
use crate::search_helpers::{put, search};

crate::on_both_backends!(
    concurrent_if_none_exist_transactions_make_one_resource,
    concurrent_updates_of_one_version_let_one_win,
    transactions_searching_types_in_opposite_orders_do_not_deadlock,
);

async fn concurrent_if_none_exist_transactions_make_one_resource(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let patient = "urn:uuid:6c6d6e6f-7a7b-4c7d-8e7f-8a8b8c8d8e8f";
    let bundle = |n: usize| {
        transaction(vec![
            json!({
                "fullUrl": patient,
                "resource": {"resourceType": "Patient",
                             "identifier": [{"system": "http://example.org/once", "value": "1"}]},
                "request": {"method": "POST", "url": "Patient",
                            "ifNoneExist": "identifier=http://example.org/once|1"}
            }),
            json!({
                "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "once"},
                             "valueInteger": n, "subject": {"reference": patient}},
                "request": {"method": "POST", "url": "Observation"}
            }),
        ])
    };
    let answers = join_all((0..8).map(|n| {
        let app = &app;
        let bundle = bundle(n);
        async move { json_body(post_bundle(app, &bundle).await).await }
    }))
    .await;
    let mut created = 0;
    let mut patients = Vec::new();
    for answer in &answers {
        assert_eq!(answer["type"], "transaction-response", "{answer}");
        match answer["entry"][0]["response"]["status"].as_str() {
            Some("201 Created") => created += 1,
            Some("200 OK") => {}
            other => panic!("unexpected {other:?}: {answer}"),
        }
        patients.push(located(answer, 0));
    }
    assert_eq!(created, 1, "{answers:?}");
    patients.dedup();
    assert_eq!(patients.len(), 1, "{patients:?}");
    let found = search(
        &app,
        "Patient?identifier=http://example.org/once|1&_summary=count",
    )
    .await;
    assert_eq!(found["total"], 1);
    let observations = search(
        &app,
        &format!("Observation?subject={}&_summary=count", patients[0]),
    )
    .await;
    assert_eq!(observations["total"], 8);
}

async fn concurrent_updates_of_one_version_let_one_win(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    put(
        &app,
        "Patient/contended",
        json!({"resourceType": "Patient", "active": true}),
    )
    .await;
    let before = app.version_count().await;
    let bundle = |n: usize| {
        transaction(vec![
            json!({
                "resource": {"resourceType": "Patient", "id": "contended", "name": [{"family": format!("Writer{n}")}]},
                "request": {"method": "PUT", "url": "Patient/contended", "ifMatch": "W/\"1\""}
            }),
            json!({
                "resource": {"resourceType": "Patient", "name": [{"family": "Marker"}],
                             "identifier": [{"system": "http://example.org/marker", "value": n.to_string()}]},
                "request": {"method": "POST", "url": "Patient"}
            }),
        ])
    };
    let answers: Vec<(usize, u16, Value)> = join_all((0..8).map(|n| {
        let app = &app;
        let bundle = bundle(n);
        async move {
            let response = post_bundle(app, &bundle).await;
            let code = response.status().as_u16();
            (n, code, json_body(response).await)
        }
    }))
    .await;
    let winners: Vec<usize> = answers
        .iter()
        .filter(|(_, code, _)| *code == 200)
        .map(|(n, _, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for (_, code, body) in &answers {
        assert!(matches!(code, 200 | 409 | 412), "{code}: {body}");
        if *code != 200 {
            assert_eq!(body["resourceType"], "OperationOutcome");
        }
    }
    let current = json_body(app.get("/Patient/contended").await).await;
    assert_eq!(current["meta"]["versionId"], "2");
    assert_eq!(
        current["name"][0]["family"],
        json!(format!("Writer{}", winners[0]))
    );
    // Only the winner's marker exists: the losers stored nothing.
    let markers = search(&app, "Patient?family=marker").await;
    assert_eq!(markers["total"], 1);
    assert_eq!(
        markers["entry"][0]["resource"]["identifier"][0]["value"],
        json!(winners[0].to_string())
    );
    assert_eq!(app.version_count().await, before + 2);
}

async fn transactions_searching_types_in_opposite_orders_do_not_deadlock(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let patient = json!({
        "resource": {"resourceType": "Patient", "identifier": [{"system": "http://example.org/dl", "value": "p"}]},
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://example.org/dl|p"}
    });
    let organization = json!({
        "resource": {"resourceType": "Organization", "identifier": [{"system": "http://example.org/dl", "value": "o"}]},
        "request": {"method": "POST", "url": "Organization", "ifNoneExist": "identifier=http://example.org/dl|o"}
    });
    let group = json!({
        "resource": {"resourceType": "Group", "type": "person", "actual": true,
                     "identifier": [{"system": "http://example.org/dl", "value": "g"}]},
        "request": {"method": "PUT", "url": "Group?identifier=http://example.org/dl|g"}
    });
    let bundles: Vec<Value> = (0..8)
        .map(|n| match n % 3 {
            0 => transaction(vec![patient.clone(), organization.clone(), group.clone()]),
            1 => transaction(vec![group.clone(), organization.clone(), patient.clone()]),
            _ => transaction(vec![organization.clone(), patient.clone()]),
        })
        .collect();
    let run = join_all(bundles.iter().map(|bundle| {
        let app = &app;
        async move { post_bundle(app, bundle).await.status().as_u16() }
    }));
    let codes = tokio::time::timeout(std::time::Duration::from_secs(60), run)
        .await
        .expect("the transactions finished (no deadlock)");
    assert!(codes.iter().all(|code| *code == 200), "{codes:?}");
    for (resource_type, value) in [("Patient", "p"), ("Organization", "o"), ("Group", "g")] {
        let found = search(
            &app,
            &format!("{resource_type}?identifier=http://example.org/dl|{value}&_summary=count"),
        )
        .await;
        assert_eq!(found["total"], 1, "{resource_type}");
    }
}
