//! Tenant isolation over HTTP, on both backends; on PostgreSQL also with a pool of one
//! connection alternating tenants, and with the application's tenant filter switched off so
//! that row-level security alone has to hold.

use serde_json::json;

use crate::helpers::{Backend, Options, TestApp, expect_outcome, json_body, patient};

crate::on_both_backends!(tenants_are_isolated, unknown_tenants_are_404);

async fn tenants_are_isolated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    check_isolation(&app).await;
}

async fn unknown_tenants_are_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in [
        "/t/nobody/fhir/metadata",
        "/t/Not_Valid/fhir/Patient/1",
        "/t/nobody/fhir/Patient/1",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.origin))
            .send()
            .await
            .unwrap();
        expect_outcome(response, 404).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pool_of_one_connection_alternating_tenants() {
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            max_connections: 1,
            ..Options::default()
        },
    )
    .await;
    check_isolation(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_alone_isolates_tenants() {
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            max_connections: 2,
            tenant_filter: false,
            ..Options::default()
        },
    )
    .await;
    check_isolation(&app).await;
}

/// Writes the same ids into two tenants, alternating, and checks that neither sees the other.
async fn check_isolation(app: &TestApp) {
    app.store.create_tenant("clinic-a").await.unwrap();
    app.store.create_tenant("clinic-b").await.unwrap();
    let base = |tenant: &str| format!("{}/t/{tenant}/fhir", app.origin);
    for round in 0..5 {
        for tenant in ["clinic-a", "clinic-b"] {
            let mut resource = patient(tenant);
            resource["id"] = json!(format!("p{round}"));
            let response = app
                .client
                .put(format!("{}/Patient/p{round}", base(tenant)))
                .header("content-type", "application/fhir+json")
                .body(resource.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
        }
    }
    let only_a = json!({"resourceType": "Patient", "id": "only-a"});
    app.client
        .put(format!("{}/Patient/only-a", base("clinic-a")))
        .header("content-type", "application/fhir+json")
        .body(only_a.to_string())
        .send()
        .await
        .unwrap();
    for round in 0..5 {
        for tenant in ["clinic-a", "clinic-b"] {
            let read = json_body(
                app.client
                    .get(format!("{}/Patient/p{round}", base(tenant)))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(read["name"][0]["family"], tenant);
            assert_eq!(read["meta"]["versionId"], "1");
        }
    }
    let missing = app
        .client
        .get(format!("{}/Patient/only-a", base("clinic-b")))
        .send()
        .await
        .unwrap();
    expect_outcome(missing, 404).await;
    expect_outcome(app.get("/Patient/only-a").await, 404).await;
    let history_b = json_body(
        app.client
            .get(format!("{}/_history", base("clinic-b")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(history_b["total"], 5);
    let history_a = json_body(
        app.client
            .get(format!("{}/_history", base("clinic-a")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(history_a["total"], 6);
    assert_eq!(
        app.version_count().await,
        0,
        "the default tenant saw another tenant's writes"
    );
    // Deleting in one tenant leaves the other alone.
    app.client
        .delete(format!("{}/Patient/p0", base("clinic-a")))
        .send()
        .await
        .unwrap();
    let still = app
        .client
        .get(format!("{}/Patient/p0", base("clinic-b")))
        .send()
        .await
        .unwrap();
    assert_eq!(still.status(), 200);
}
