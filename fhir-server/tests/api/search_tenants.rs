//! Search never crosses tenants: plain parameters, chains, `_has`, includes, system search,
//! paging links; on PostgreSQL also with row-level security alone. And search results in XML.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, Options, TestApp};
use crate::search_helpers::{get_bundle, link, match_ids, refs_with_mode};

crate::on_both_backends!(search_stays_in_its_tenant, search_results_in_xml);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_alone_isolates_search() {
    let app = TestApp::spawn_with(
        Backend::Postgres,
        Options {
            max_connections: 2,
            tenant_filter: false,
            ..Options::default()
        },
    )
    .await;
    check_search_isolation(&app).await;
}

async fn search_stays_in_its_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    check_search_isolation(&app).await;
}

async fn put_in(app: &TestApp, tenant_base: &str, path: &str, mut resource: Value) {
    let (resource_type, id) = path.split_once('/').unwrap();
    resource["resourceType"] = json!(resource_type);
    resource["id"] = json!(id);
    let response = app
        .client
        .request(Method::PUT, format!("{tenant_base}/{path}"))
        .header("content-type", "application/fhir+json")
        .body(resource.to_string())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// The same ids in clinic-a and clinic-b, with different values; the default tenant has its
/// own patient too.
async fn check_search_isolation(app: &TestApp) {
    app.store.create_tenant("clinic-a").await.unwrap();
    app.store.create_tenant("clinic-b").await.unwrap();
    let base = |tenant: &str| format!("{}/t/{tenant}/fhir", app.origin);
    for tenant in ["clinic-a", "clinic-b"] {
        let family = if tenant == "clinic-a" {
            "Anders"
        } else {
            "Berger"
        };
        for i in 0..3 {
            put_in(
                app,
                &base(tenant),
                &format!("Patient/p{i}"),
                json!({"name": [{"family": family}], "gender": "female"}),
            )
            .await;
        }
        put_in(
            app,
            &base(tenant),
            "Observation/o1",
            json!({
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "subject": {"reference": "Patient/p0"}
            }),
        )
        .await;
    }
    // Only clinic-b has an Observation about p1.
    put_in(
        app,
        &base("clinic-b"),
        "Observation/o2",
        json!({
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
            "subject": {"reference": "Patient/p1"}
        }),
    )
    .await;
    put_in(
        app,
        &app.base,
        "Patient/p0",
        json!({"name": [{"family": "Anders"}], "gender": "female"}),
    )
    .await;

    let get = |tenant: &str, query: &str| {
        let url = format!("{}/{query}", base(tenant));
        async move { get_bundle(app, &url).await }
    };
    assert_eq!(
        match_ids(&get("clinic-a", "Patient?family=anders").await),
        ["p0", "p1", "p2"]
    );
    assert!(match_ids(&get("clinic-a", "Patient?family=berger").await).is_empty());
    assert!(match_ids(&get("clinic-b", "Patient?family=anders").await).is_empty());
    // The default tenant sees its own p0 only.
    let default = get_bundle(app, &format!("{}/Patient?family=anders", app.base)).await;
    assert_eq!(match_ids(&default), ["p0"]);
    // Totals count one tenant.
    let total = get("clinic-a", "Patient?_total=accurate").await;
    assert_eq!(total["total"], 3);
    // Chains and _has resolve inside the tenant.
    assert_eq!(
        match_ids(&get("clinic-a", "Observation?subject:Patient.name=anders").await),
        ["o1"]
    );
    assert!(
        match_ids(&get("clinic-a", "Observation?subject:Patient.name=berger").await).is_empty()
    );
    assert!(
        match_ids(&get("clinic-a", "Patient?_has:Observation:subject:code=8310-5").await)
            .is_empty()
    );
    assert_eq!(
        match_ids(&get("clinic-b", "Patient?_has:Observation:subject:code=8310-5").await),
        ["p1"]
    );
    // Includes come from the same tenant.
    let included = get("clinic-a", "Observation?_include=Observation:subject").await;
    let patient = included["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "include")
        .expect("included patient");
    assert_eq!(patient["resource"]["name"][0]["family"], "Anders");
    assert_eq!(
        patient["fullUrl"],
        format!("{}/Patient/p0", base("clinic-a"))
    );
    // System search.
    assert_eq!(
        refs_with_mode(&get("clinic-b", "?_id=o2").await, "match"),
        ["Observation/o2"]
    );
    assert!(refs_with_mode(&get("clinic-a", "?_id=o2").await, "match").is_empty());
    // Paging links stay in the tenant.
    let page = get("clinic-b", "Patient?_count=1").await;
    let next = link(&page, "next").expect("next");
    assert!(next.starts_with(&base("clinic-b")), "{next}");
    let second = get_bundle(app, &next).await;
    assert_eq!(
        second["entry"][0]["resource"]["name"][0]["family"],
        "Berger"
    );
    // A cursor of one tenant is not valid in another.
    let cursor = next
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("_cursor="))
        .unwrap()
        .to_owned();
    let response = app
        .client
        .get(format!(
            "{}/Patient?_count=1&_cursor={cursor}",
            base("clinic-a")
        ))
        .send()
        .await
        .unwrap();
    crate::helpers::expect_outcome(response, 400).await;
}

async fn search_results_in_xml(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    crate::search_helpers::put(&app, "Patient/x1", json!({"name": [{"family": "Xml"}]})).await;
    let response = app.get("/Patient?family=xml&_format=xml").await;
    assert_eq!(response.status(), 200);
    let content_type = crate::helpers::header(&response, "content-type");
    assert!(
        content_type.starts_with("application/fhir+xml"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("<Bundle xmlns=\"http://hl7.org/fhir\">"),
        "{text}"
    );
    assert!(text.contains("<type value=\"searchset\"/>"), "{text}");
    assert!(text.contains("<mode value=\"match\"/>"), "{text}");
    assert!(text.contains("<family value=\"Xml\"/>"), "{text}");
    // The page links keep the format.
    let response = app
        .request(Method::GET, "/Patient?_count=1")
        .header("accept", "application/fhir+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(crate::helpers::header(&response, "content-type").starts_with("application/fhir+xml"));
    crate::search_helpers::put(&app, "Patient/x2", json!({"name": [{"family": "Xml"}]})).await;
    let page = app.get("/Patient?_count=1&_format=json").await;
    let bundle = crate::helpers::json_body(page).await;
    let next = link(&bundle, "next").expect("next");
    assert!(next.contains("_format=json"), "{next}");
}
