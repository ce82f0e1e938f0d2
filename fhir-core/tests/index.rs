//! The search index as derived data: it catches up with writes made while it was closed, is
//! rebuilt from the store when damaged or missing, and never shows another tenant's resources.
//! On SQLite and on PostgreSQL (where it reads through the `fhir_indexer` role).

use std::sync::Arc;

use fhir_core::ResourceStore;
use fhir_core::index::{IndexLocation, SearchIndex, SearchOptions};
use fhir_core::search::params::Registry;
use fhir_core::search::query::parse;
use serde_json::{Value, json};

async fn sqlite() -> (Arc<dyn ResourceStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("fhir.db").display());
    (fhir_core::store::open(&url).await.unwrap(), dir)
}

async fn postgres() -> (Arc<dyn ResourceStore>, tempfile::TempDir) {
    let url = fhir_core::testing::postgres_url().await;
    (
        fhir_core::store::open(&url).await.unwrap(),
        tempfile::tempdir().unwrap(),
    )
}

async fn put_patient(store: &dyn ResourceStore, tenant: &str, id: &str, family: &str) {
    let patient = json!({"resourceType": "Patient", "id": id, "name": [{"family": family}]});
    store
        .update(tenant, "Patient", id, patient, None)
        .await
        .unwrap();
}

async fn ids(index: &Arc<SearchIndex>, tenant: &str, query: &[(&str, &str)]) -> Vec<String> {
    let params: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let parsed = parse(&["Patient".to_owned()], &params, Registry::r4());
    assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
    let page = index
        .search(tenant, parsed.request, SearchOptions::default())
        .await
        .unwrap();
    let mut ids: Vec<String> = page.matches.into_iter().map(|h| h.id).collect();
    ids.sort();
    ids
}

async fn lifecycle(store: Arc<dyn ResourceStore>, dir: tempfile::TempDir) {
    let location = IndexLocation::Directory(dir.path().join("index"));
    store.create_tenant("other").await.unwrap();
    put_patient(store.as_ref(), "default", "a", "Smith").await;
    put_patient(store.as_ref(), "other", "o", "Smith").await;
    let index = SearchIndex::open(location.clone(), store.clone())
        .await
        .unwrap();
    assert_eq!(index.visible_seq(), store.head_seq().await.unwrap());
    assert_eq!(ids(&index, "default", &[("family", "smith")]).await, ["a"]);
    assert_eq!(ids(&index, "other", &[("family", "smith")]).await, ["o"]);
    drop(index);

    // Writes while the index is closed are caught up at the next open.
    put_patient(store.as_ref(), "default", "b", "Smithson").await;
    put_patient(store.as_ref(), "default", "a", "Jones").await;
    let index = SearchIndex::open(location.clone(), store.clone())
        .await
        .unwrap();
    assert_eq!(ids(&index, "default", &[("family", "smith")]).await, ["b"]);
    assert_eq!(ids(&index, "default", &[("family", "jones")]).await, ["a"]);
    // Read-your-writes without the follower: a search refreshes first.
    store.delete("default", "Patient", "b", None).await.unwrap();
    assert!(
        ids(&index, "default", &[("family", "smith")])
            .await
            .is_empty()
    );
    drop(index);

    // A damaged index is rebuilt from the store.
    let meta = dir.path().join("index").join("meta.json");
    std::fs::write(&meta, b"{ not json").unwrap();
    let index = SearchIndex::open(location.clone(), store.clone())
        .await
        .unwrap();
    assert_eq!(ids(&index, "default", &[("family", "jones")]).await, ["a"]);
    assert_eq!(ids(&index, "other", &[("family", "smith")]).await, ["o"]);
    drop(index);

    // A missing index too.
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let index = SearchIndex::open(location, store.clone()).await.unwrap();
    assert_eq!(ids(&index, "default", &[("family", "jones")]).await, ["a"]);
    assert!(index.size_on_disk() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_and_is_rebuilt_on_sqlite() {
    let (store, dir) = sqlite().await;
    lifecycle(store, dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_follows_and_is_rebuilt_on_postgres() {
    let (store, dir) = postgres().await;
    lifecycle(store, dir).await;
}

/// A chain whose inner search matches more than the limit is refused, not truncated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_too_costly_chain_is_refused() {
    let (store, _dir) = sqlite().await;
    for i in 0..3 {
        put_patient(store.as_ref(), "default", &format!("p{i}"), "Costly").await;
        let observation = json!({
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": format!("Patient/p{i}")}
        });
        store
            .update(
                "default",
                "Observation",
                &format!("o{i}"),
                observation,
                None,
            )
            .await
            .unwrap();
    }
    let index = SearchIndex::open(IndexLocation::Memory, store.clone())
        .await
        .unwrap();
    let params = vec![("subject:Patient.family".to_owned(), "costly".to_owned())];
    let search = |limit: usize| {
        let parsed = parse(&["Observation".to_owned()], &params, Registry::r4());
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        let index = index.clone();
        async move {
            index
                .search(
                    "default",
                    parsed.request,
                    SearchOptions {
                        max_chain_matches: limit,
                        ..SearchOptions::default()
                    },
                )
                .await
        }
    };
    assert_eq!(search(3).await.unwrap().matches.len(), 3);
    let refused = search(2).await.unwrap_err();
    assert!(
        matches!(refused, fhir_core::index::SearchError::TooCostly(_)),
        "{refused:?}"
    );
}

/// FHIRPath `resolve()` through the store: the index resolver finds the current version of a
/// referenced resource of the same tenant, and nothing of another tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fhirpath_resolves_references_through_the_index() {
    use fhir_core::fhirpath::{Environment, Expression};
    let (store, _dir) = sqlite().await;
    store.create_tenant("other").await.unwrap();
    put_patient(store.as_ref(), "default", "p", "Lovelace").await;
    put_patient(store.as_ref(), "other", "q", "Hidden").await;
    let index = SearchIndex::open(IndexLocation::Memory, store.clone())
        .await
        .unwrap();
    let observation = json!({
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/p"},
        "performer": [{"reference": "Patient/q"}]
    });
    let resolver = index.resolver("default");
    let env = Environment::new().with_resolver(&resolver);
    let family = Expression::parse("Observation.subject.resolve().name.family").unwrap();
    let found: Vec<Value> = family
        .evaluate(&observation, &env)
        .unwrap()
        .iter()
        .map(|item| item.to_json())
        .collect();
    assert_eq!(found, [json!("Lovelace")]);
    let other = Expression::parse("Observation.performer.resolve()").unwrap();
    assert!(other.evaluate(&observation, &env).unwrap().is_empty());
}

/// Every page of a search, following `next` cursors, then back from the last page following
/// `previous` cursors: (forward order, backward order).
async fn walk(index: &Arc<SearchIndex>, sort: &str) -> (Vec<String>, Vec<String>) {
    let search = |cursor: Option<String>| {
        let index = index.clone();
        let sort = sort.to_owned();
        async move {
            let params = vec![
                ("_sort".to_owned(), sort),
                ("_count".to_owned(), "3".to_owned()),
            ];
            let mut request = parse(&["Patient".to_owned()], &params, Registry::r4()).request;
            request.cursor = cursor;
            index
                .search("default", request, SearchOptions::default())
                .await
                .unwrap()
        }
    };
    let mut forward = Vec::new();
    let mut page = search(None).await;
    loop {
        forward.extend(page.matches.iter().map(|h| h.id.clone()));
        match page.next.clone() {
            Some(next) => {
                let last = page.clone();
                page = search(Some(next.encode())).await;
                if page.matches.is_empty() {
                    page = last;
                    break;
                }
            }
            None => break,
        }
    }
    let mut backward: Vec<String> = page.matches.iter().rev().map(|h| h.id.clone()).collect();
    while let Some(previous) = page.previous.clone() {
        page = search(Some(previous.encode())).await;
        backward.extend(page.matches.iter().rev().map(|h| h.id.clone()));
    }
    (forward, backward)
}

/// `_sort=_lastUpdated` alone takes a path of its own (the fast field, without reading every
/// match's id): its pages, forward and backward, are those of the general order (the same key
/// then `_id`), ties of lastUpdated included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_by_last_updated_pages_like_the_general_order() {
    let (store, _dir) = sqlite().await;
    // Concurrent writes share group commits, so some share a lastUpdated.
    let mut writes = Vec::new();
    for i in 0..14 {
        let store = store.clone();
        writes.push(tokio::spawn(async move {
            put_patient(store.as_ref(), "default", &format!("p{i:02}"), "Smith").await;
        }));
    }
    for write in writes {
        write.await.unwrap();
    }
    let index = SearchIndex::open(IndexLocation::Memory, store.clone())
        .await
        .unwrap();
    for (fast, general) in [
        ("_lastUpdated", "_lastUpdated,_id"),
        ("-_lastUpdated", "-_lastUpdated,_id"),
    ] {
        let (forward, backward) = walk(&index, fast).await;
        let (expected, _) = walk(&index, general).await;
        assert_eq!(forward.len(), 14, "{fast}");
        assert_eq!(forward, expected, "{fast}");
        let mut reversed = backward.clone();
        reversed.reverse();
        assert_eq!(reversed, expected, "{fast} backward");
    }
}
