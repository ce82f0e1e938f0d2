//! Tests of the resource store, the same scenarios on SQLite and on PostgreSQL (see
//! `fhir_core::testing` for where the PostgreSQL server comes from).

use std::sync::Arc;
use std::time::Duration;

use fhir_core::store::postgres::{PostgresOptions, PostgresStore};
use fhir_core::store::sqlite::SqliteStore;
use fhir_core::store::{
    DEFAULT_TENANT, HistoryQuery, ResourceStore, StoreError, StoredResource, WriteKind,
};
use serde_json::{Value, json};
use sqlx::{Connection, Row};

const T: &str = DEFAULT_TENANT;

/// A store under test and a way to read its commit counter.
struct Subject {
    store: Arc<dyn ResourceStore>,
    commits: Box<dyn Fn() -> u64 + Send + Sync>,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite_subject() -> Subject {
    let dir = tempfile::tempdir().unwrap();
    // A parent directory that does not exist yet: open creates it.
    let url = format!("sqlite:{}/nested/dir/fhir.db", dir.path().display());
    let store = Arc::new(SqliteStore::open(&url).await.unwrap());
    let counter = store.clone();
    Subject {
        store,
        commits: Box::new(move || counter.commit_count()),
        _dir: Some(dir),
    }
}

async fn postgres_subject() -> Subject {
    let url = fhir_core::testing::postgres_url().await;
    let store = Arc::new(PostgresStore::open(&url).await.unwrap());
    let counter = store.clone();
    Subject {
        store,
        commits: Box::new(move || counter.commit_count()),
        _dir: None,
    }
}

/// Runs a scenario (`async fn(&Subject)`) on both backends: `<scenario>::sqlite` and
/// `<scenario>::postgres`.
macro_rules! both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let subject = super::sqlite_subject().await;
                super::$scenario(&subject).await;
                subject.store.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let subject = super::postgres_subject().await;
                super::$scenario(&subject).await;
                subject.store.close().await;
            }
        }
    )*};
}

both_backends!(
    crud_and_tombstones,
    update_as_create_and_if_match,
    invalid_writes_change_nothing,
    history_filters_and_paging,
    change_sequence,
    concurrent_updates_lose_nothing,
    group_commit_batches,
    tenant_isolation,
    transactions_are_all_or_nothing,
    records_expire_are_single_use_and_isolated,
);

/// Auth records: compare-and-set operations, single use under concurrency, expiry, tenants.
async fn records_expire_are_single_use_and_isolated(subject: &Subject) {
    use fhir_core::store::records::NEVER;
    let store = subject.store.as_ref();
    store.create_tenant("rec-b").await.ok();
    let now = fhir_core::time::now_millis();
    assert!(
        store
            .record_insert(T, "code", "k", "v1", NEVER)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_insert(T, "code", "k", "v2", NEVER)
            .await
            .unwrap()
    );
    assert_eq!(
        store.record_get(T, "code", "k").await.unwrap().as_deref(),
        Some("v1")
    );
    // Another tenant sees nothing and may use the same key.
    assert_eq!(store.record_get("rec-b", "code", "k").await.unwrap(), None);
    assert!(
        store
            .record_insert("rec-b", "code", "k", "b", NEVER)
            .await
            .unwrap()
    );
    // Compare-and-set.
    assert!(
        !store
            .record_replace(T, "code", "k", "v0", "v3", NEVER)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_replace(T, "code", "k", "v1", "v3", NEVER)
            .await
            .unwrap()
    );
    assert_eq!(
        store.record_get(T, "code", "k").await.unwrap().as_deref(),
        Some("v3")
    );
    // Single use: of many concurrent takers, exactly one gets the value.
    let takers = (0..8).map(|_| store.record_take(T, "code", "k"));
    let taken: Vec<_> = futures_join_all(takers).await;
    assert_eq!(
        taken
            .iter()
            .filter(|t| t.as_ref().unwrap().is_some())
            .count(),
        1
    );
    assert_eq!(
        store
            .record_get("rec-b", "code", "k")
            .await
            .unwrap()
            .as_deref(),
        Some("b")
    );
    // Expired records do not exist, can be replaced by an insert, and are purged.
    store
        .record_put(T, "jti", "old", "x", now - 1)
        .await
        .unwrap();
    assert_eq!(store.record_get(T, "jti", "old").await.unwrap(), None);
    assert_eq!(store.record_take(T, "jti", "old").await.unwrap(), None);
    assert!(!store.record_delete(T, "jti", "old").await.unwrap());
    assert!(store.record_list(T, "jti").await.unwrap().is_empty());
    store
        .record_put(T, "jti", "old", "x", now - 1)
        .await
        .unwrap();
    assert_eq!(store.record_purge_expired(T).await.unwrap(), 1);
    assert!(
        store
            .record_insert(T, "jti", "old", "y", NEVER)
            .await
            .unwrap()
    );
    store.record_put(T, "jti", "a", "1", NEVER).await.unwrap();
    assert_eq!(
        store.record_list(T, "jti").await.unwrap(),
        vec![
            ("a".to_owned(), "1".to_owned()),
            ("old".to_owned(), "y".to_owned())
        ]
    );
    assert!(store.record_delete(T, "jti", "a").await.unwrap());
}

/// Runs futures concurrently (no extra dependency for one join).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

/// A transaction's writes are committed together, in order, with consecutive sequence numbers;
/// when one fails, none is written and the error names it.
async fn transactions_are_all_or_nothing(subject: &Subject) {
    use fhir_core::store::{TxDone, TxWrite};
    let store = subject.store.as_ref();
    store
        .update(T, "Patient", "kept", patient("Kept"), None)
        .await
        .unwrap();
    let head = store.head_seq().await.unwrap();
    // The third write fails (If-Match on a version that is not current): nothing is written.
    let failed = store
        .transaction(
            T,
            vec![
                TxWrite::Create {
                    resource_type: "Patient".into(),
                    id: "tx-a".into(),
                    resource: patient("A"),
                },
                TxWrite::Delete {
                    resource_type: "Patient".into(),
                    id: "kept".into(),
                    if_match: None,
                },
                TxWrite::Update {
                    resource_type: "Patient".into(),
                    id: "kept".into(),
                    resource: patient("B"),
                    if_match: Some(7),
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(failed, StoreError::InGroup { index: 2, .. }),
        "{failed:?}"
    );
    assert_eq!(store.head_seq().await.unwrap(), head);
    assert!(store.read(T, "Patient", "tx-a").await.unwrap().is_none());
    assert!(
        !store
            .read(T, "Patient", "kept")
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
    // An invalid resource is refused before anything runs.
    let invalid = store
        .transaction(
            T,
            vec![TxWrite::Create {
                resource_type: "Patient".into(),
                id: "tx-b".into(),
                resource: serde_json::json!(["not an object"]),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(invalid, StoreError::InGroup { index: 0, .. }));
    // A transaction that succeeds: every write, in order, consecutive sequence numbers.
    let done = store
        .transaction(
            T,
            vec![
                TxWrite::Create {
                    resource_type: "Patient".into(),
                    id: "tx-a".into(),
                    resource: patient("A"),
                },
                TxWrite::Update {
                    resource_type: "Patient".into(),
                    id: "kept".into(),
                    resource: patient("Kept2"),
                    if_match: Some(1),
                },
                TxWrite::Delete {
                    resource_type: "Patient".into(),
                    id: "missing".into(),
                    if_match: None,
                },
            ],
        )
        .await
        .unwrap();
    let seqs: Vec<i64> = done
        .iter()
        .filter_map(|d| match d {
            TxDone::Stored(outcome) => Some(outcome.resource.seq),
            TxDone::Nothing => None,
        })
        .collect();
    assert_eq!(seqs, [head + 1, head + 2]);
    assert!(matches!(done[2], TxDone::Nothing));
    assert_eq!(store.head_seq().await.unwrap(), head + 2);
    // One resource written three times in one transaction: three versions, the last is the head
    // (the store writes a group's rows with one statement per table).
    let write = |family: &str| TxWrite::Update {
        resource_type: "Patient".into(),
        id: "thrice".into(),
        resource: patient(family),
        if_match: None,
    };
    let done = store
        .transaction(
            T,
            vec![
                write("One"),
                write("Two"),
                TxWrite::Delete {
                    resource_type: "Patient".into(),
                    id: "thrice".into(),
                    if_match: Some(2),
                },
            ],
        )
        .await
        .unwrap();
    let versions: Vec<(i64, bool)> = done
        .iter()
        .map(|d| match d {
            TxDone::Stored(outcome) => (outcome.resource.version, outcome.resource.deleted),
            TxDone::Nothing => (0, false),
        })
        .collect();
    assert_eq!(versions, [(1, false), (2, false), (3, true)]);
    let current = store.read(T, "Patient", "thrice").await.unwrap().unwrap();
    assert_eq!((current.version, current.deleted), (3, true));
    let second = store
        .vread(T, "Patient", "thrice", 2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(body(&second)["name"][0]["family"], "Two");
    assert_eq!(store.head_seq().await.unwrap(), head + 5);
}

fn patient(family: &str) -> Value {
    json!({"resourceType": "Patient", "name": [{"family": family}], "active": true})
}

fn body(resource: &StoredResource) -> Value {
    serde_json::from_str(&resource.body).unwrap()
}

async fn all_changes(store: &dyn ResourceStore, tenant: &str) -> Vec<StoredResource> {
    store.changes(tenant, 0, 100_000).await.unwrap()
}

async fn crud_and_tombstones(subject: &Subject) {
    let store = &*subject.store;
    let created = store
        .create(T, "Patient", "p1", patient("Alpha"))
        .await
        .unwrap();
    assert_eq!(
        (created.version, created.deleted, created.tenant.as_str()),
        (1, false, T)
    );
    assert_eq!(created.write_kind(), WriteKind::Create);
    let value = body(&created);
    assert_eq!(value["id"], "p1");
    assert_eq!(value["meta"]["versionId"], "1");
    assert_eq!(
        value["meta"]["lastUpdated"],
        fhir_core::time::format_instant(created.last_updated)
    );
    // Compact JSON in definition order.
    assert!(
        created.body.starts_with(
            r#"{"resourceType":"Patient","id":"p1","meta":{"versionId":"1","lastUpdated":""#
        ),
        "{}",
        created.body
    );
    assert!(
        created
            .body
            .contains(r#""active":true,"name":[{"family":"Alpha"}]"#)
    );

    let read = store.read(T, "Patient", "p1").await.unwrap().unwrap();
    assert_eq!(read.body, created.body);
    assert_eq!(read.seq, created.seq);

    let updated = store
        .update(T, "Patient", "p1", patient("Beta"), None)
        .await
        .unwrap();
    assert!(!updated.created);
    assert_eq!(updated.resource.version, 2);
    assert_eq!(updated.resource.write_kind(), WriteKind::Update);
    assert!(updated.resource.seq > created.seq);
    assert!(updated.resource.last_updated >= created.last_updated);
    let v1 = store.vread(T, "Patient", "p1", 1).await.unwrap().unwrap();
    assert_eq!(v1.body, created.body);
    let v2 = store.vread(T, "Patient", "p1", 2).await.unwrap().unwrap();
    assert_eq!(body(&v2)["name"][0]["family"], "Beta");
    assert!(store.vread(T, "Patient", "p1", 3).await.unwrap().is_none());
    assert!(store.read(T, "Patient", "nope").await.unwrap().is_none());
    assert!(store.read(T, "Observation", "p1").await.unwrap().is_none());

    // Create of an existing id.
    let err = store
        .create(T, "Patient", "p1", patient("Gamma"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");

    // Delete writes a tombstone, which read returns.
    let tombstone = store
        .delete(T, "Patient", "p1", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            tombstone.version,
            tombstone.deleted,
            tombstone.body.as_ref()
        ),
        (3, true, "")
    );
    assert_eq!(tombstone.write_kind(), WriteKind::Delete);
    let read = store.read(T, "Patient", "p1").await.unwrap().unwrap();
    assert!(read.deleted);
    assert_eq!(read.version, 3);
    // Deleting again, or deleting what never existed: nothing.
    assert!(
        store
            .delete(T, "Patient", "p1", None)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .delete(T, "Patient", "zz", None)
            .await
            .unwrap()
            .is_none()
    );
    // Create of a deleted id is refused too.
    let err = store
        .create(T, "Patient", "p1", patient("Delta"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    // Update of a deleted resource brings it back.
    let revived = store
        .update(T, "Patient", "p1", patient("Epsilon"), None)
        .await
        .unwrap();
    assert!(revived.created);
    assert_eq!(revived.resource.version, 4);
    assert_eq!(body(&revived.resource)["meta"]["versionId"], "4");
    assert_eq!(all_changes(store, T).await.len(), 4);
}

async fn update_as_create_and_if_match(subject: &Subject) {
    let store = &*subject.store;
    let outcome = store
        .update(T, "Patient", "u1", patient("A"), None)
        .await
        .unwrap();
    assert!(outcome.created);
    assert_eq!(outcome.resource.version, 1);

    let ok = store
        .update(T, "Patient", "u1", patient("B"), Some(1))
        .await
        .unwrap();
    assert_eq!(ok.resource.version, 2);
    let err = store
        .update(T, "Patient", "u1", patient("C"), Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 1,
                current: Some(2)
            }
        ),
        "{err:?}"
    );
    // If-Match on a resource that does not exist.
    let err = store
        .update(T, "Patient", "missing", patient("C"), Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::VersionConflict {
                expected: 1,
                current: None
            }
        ),
        "{err:?}"
    );
    assert!(store.read(T, "Patient", "missing").await.unwrap().is_none());
    let err = store.delete(T, "Patient", "u1", Some(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::VersionConflict { .. }), "{err:?}");
    let err = store
        .delete(T, "Patient", "missing", Some(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::VersionConflict { current: None, .. }),
        "{err:?}"
    );
    let deleted = store
        .delete(T, "Patient", "u1", Some(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deleted.version, 3);
    // The failed writes wrote nothing.
    let versions: Vec<i64> = all_changes(store, T)
        .await
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, vec![1, 2, 3]);
}

async fn invalid_writes_change_nothing(subject: &Subject) {
    let store = &*subject.store;
    store
        .create(T, "Patient", "keep", patient("Keep"))
        .await
        .unwrap();
    let before = store.read(T, "Patient", "keep").await.unwrap().unwrap();
    for bad in [
        json!([1, 2]),
        json!("text"),
        json!({"resourceType": "Observation"}),
        json!({"resourceType": "Patient", "meta": 3}),
    ] {
        let err = store
            .update(T, "Patient", "keep", bad.clone(), None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        let err = store.create(T, "Patient", "new", bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    }
    let err = store
        .create("no-such-tenant", "Patient", "x", patient("X"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownTenant(_)), "{err:?}");
    let err = store.create_tenant("").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let after = store.read(T, "Patient", "keep").await.unwrap().unwrap();
    assert_eq!((after.version, after.seq), (before.version, before.seq));
    assert_eq!(after.body, before.body);
    assert!(store.read(T, "Patient", "new").await.unwrap().is_none());
    assert_eq!(all_changes(store, T).await.len(), 1);
    // A resource without resourceType gets it; a foreign meta content is kept.
    let stored = store
        .create(T, "Patient", "bare", json!({"meta": {"source": "x"}}))
        .await
        .unwrap();
    let value = body(&stored);
    assert_eq!(value["resourceType"], "Patient");
    assert_eq!(value["meta"]["source"], "x");
    assert_eq!(value["meta"]["versionId"], "1");
}

/// Waits until the clock has moved past `millis`, so that the next write gets a later time.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(5)).await;
}

async fn history_filters_and_paging(subject: &Subject) {
    let store = &*subject.store;
    let a1 = store
        .create(T, "Patient", "a", patient("A1"))
        .await
        .unwrap();
    tick().await;
    let b1 = store
        .create(
            T,
            "Observation",
            "b",
            json!({"resourceType": "Observation", "status": "final"}),
        )
        .await
        .unwrap();
    tick().await;
    let a2 = store
        .update(T, "Patient", "a", patient("A2"), None)
        .await
        .unwrap()
        .resource;
    tick().await;
    let a3 = store
        .delete(T, "Patient", "a", None)
        .await
        .unwrap()
        .unwrap();
    let (t1, t2, t3, t4) = (
        a1.last_updated,
        b1.last_updated,
        a2.last_updated,
        a3.last_updated,
    );
    assert!(t1 < t2 && t2 < t3 && t3 < t4, "{t1} {t2} {t3} {t4}");

    let query = |f: &dyn Fn(&mut HistoryQuery)| {
        let mut q = HistoryQuery {
            count: 100,
            ..HistoryQuery::default()
        };
        f(&mut q);
        q
    };
    let keys = |page: &fhir_core::store::HistoryPage| -> Vec<(String, i64)> {
        page.entries
            .iter()
            .map(|e| (e.id.clone(), e.version))
            .collect()
    };
    let k = |id: &str, v: i64| (id.to_owned(), v);

    let all = store.history(T, &query(&|_| {})).await.unwrap();
    assert_eq!(keys(&all), vec![k("a", 3), k("a", 2), k("b", 1), k("a", 1)]);
    assert_eq!(all.total, 4);
    assert_eq!(all.next_before_seq, None);
    assert!(all.entries.windows(2).all(|w| w[0].seq > w[1].seq));
    assert!(all.entries[0].deleted);
    assert_eq!(all.entries[3].body, a1.body);

    let patients = store
        .history(T, &query(&|q| q.resource_type = Some("Patient".into())))
        .await
        .unwrap();
    assert_eq!(keys(&patients), vec![k("a", 3), k("a", 2), k("a", 1)]);
    let instance = store
        .history(
            T,
            &query(&|q| {
                q.resource_type = Some("Observation".into());
                q.id = Some("b".into());
            }),
        )
        .await
        .unwrap();
    assert_eq!(keys(&instance), vec![k("b", 1)]);
    assert_eq!(instance.total, 1);

    let since = store
        .history(T, &query(&|q| q.since = Some(t3)))
        .await
        .unwrap();
    assert_eq!(keys(&since), vec![k("a", 3), k("a", 2)]);
    assert_eq!(since.total, 2);

    let at = |start: i64, end: i64| query(&move |q: &mut HistoryQuery| q.at = Some((start, end)));
    let page = store.history(T, &at(t1, t1 + 1)).await.unwrap();
    assert_eq!(keys(&page), vec![k("a", 1)]);
    let page = store.history(T, &at(t2, t3)).await.unwrap();
    assert_eq!(keys(&page), vec![k("b", 1), k("a", 1)]);
    let page = store.history(T, &at(t3, t3 + 1)).await.unwrap();
    assert_eq!(keys(&page), vec![k("a", 2), k("b", 1)]);
    let page = store.history(T, &at(t4, t4 + 1)).await.unwrap();
    assert_eq!(keys(&page), vec![k("a", 3), k("b", 1)]);
    let page = store.history(T, &at(t1 - 1000, t1)).await.unwrap();
    assert_eq!(page.total, 0);
    assert!(page.entries.is_empty());

    // Paging.
    let first = store.history(T, &query(&|q| q.count = 3)).await.unwrap();
    assert_eq!(keys(&first), vec![k("a", 3), k("a", 2), k("b", 1)]);
    assert_eq!(first.total, 4);
    assert_eq!(first.next_before_seq, Some(b1.seq));
    let second = store
        .history(
            T,
            &query(&|q| {
                q.count = 3;
                q.before_seq = first.next_before_seq;
            }),
        )
        .await
        .unwrap();
    assert_eq!(keys(&second), vec![k("a", 1)]);
    assert_eq!(second.total, 4);
    assert_eq!(second.next_before_seq, None);
    let exact = store.history(T, &query(&|q| q.count = 4)).await.unwrap();
    assert_eq!(exact.entries.len(), 4);
    assert_eq!(exact.next_before_seq, None);
    let none = store.history(T, &query(&|q| q.count = 0)).await.unwrap();
    assert!(none.entries.is_empty());
    assert_eq!(none.total, 4);
}

async fn change_sequence(subject: &Subject) {
    let store = &*subject.store;
    for i in 0..10 {
        store
            .update(T, "Patient", &format!("c{}", i % 3), patient("C"), None)
            .await
            .unwrap();
    }
    store.delete(T, "Patient", "c0", None).await.unwrap();
    let changes = all_changes(store, T).await;
    assert_eq!(changes.len(), 11);
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(
        changes
            .windows(2)
            .all(|w| w[0].last_updated <= w[1].last_updated)
    );
    assert!(changes.last().unwrap().deleted);
    let tail = store.changes(T, seqs[4], 3).await.unwrap();
    assert_eq!(
        tail.iter().map(|c| c.seq).collect::<Vec<_>>(),
        seqs[5..8].to_vec()
    );
    assert!(store.changes(T, seqs[10], 10).await.unwrap().is_empty());
}

/// 16 tasks × 20 updates of `Patient/hot`, spread over the given stores.
async fn update_hot_concurrently(stores: &[Arc<dyn ResourceStore>]) {
    let mut tasks = Vec::new();
    for task in 0..16 {
        let store = stores[task % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                store
                    .update(T, "Patient", "hot", patient(&format!("t{task}-{i}")), None)
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The 321 versions of `Patient/hot`: seq order is version order, gap-free; times never go back.
fn assert_gap_free_versions(changes: &[StoredResource]) {
    assert_eq!(changes.len(), 321);
    for (i, change) in changes.iter().enumerate() {
        assert_eq!(change.version, i as i64 + 1);
    }
    assert!(changes.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    assert!(
        changes
            .windows(2)
            .all(|w| w[0].last_updated <= w[1].last_updated)
    );
}

async fn concurrent_updates_lose_nothing(subject: &Subject) {
    let store = subject.store.clone();
    store
        .create(T, "Patient", "hot", patient("Start"))
        .await
        .unwrap();
    update_hot_concurrently(std::slice::from_ref(&store)).await;
    let current = store.read(T, "Patient", "hot").await.unwrap().unwrap();
    assert_eq!(current.version, 321);
    for version in 1..=321 {
        let v = store.vread(T, "Patient", "hot", version).await.unwrap();
        assert_eq!(v.map(|v| v.version), Some(version));
    }
    assert_gap_free_versions(&all_changes(&*store, T).await);
    let history = store
        .history(
            T,
            &HistoryQuery {
                resource_type: Some("Patient".into()),
                id: Some("hot".into()),
                count: 1000,
                ..HistoryQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(history.total, 321);
}

async fn group_commit_batches(subject: &Subject) {
    let store = subject.store.clone();
    store
        .create(T, "Patient", "taken", patient("Taken"))
        .await
        .unwrap();
    let before = (subject.commits)();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            // Every fifth write fails (the id is taken); the others must commit regardless.
            let id = if i % 5 == 0 {
                "taken".to_owned()
            } else {
                format!("g{i}")
            };
            (i, store.create(T, "Patient", &id, patient("G")).await)
        }));
    }
    let mut ok = 0;
    for task in tasks {
        let (i, result) = task.await.unwrap();
        if i % 5 == 0 {
            assert!(
                matches!(result, Err(StoreError::AlreadyExists { .. })),
                "{result:?}"
            );
        } else {
            result.unwrap();
            ok += 1;
        }
    }
    let commits = (subject.commits)() - before;
    eprintln!(
        "{}: 200 concurrent writes in {commits} commits",
        store.backend()
    );
    assert!(commits >= 1);
    assert!(
        commits < 100,
        "200 concurrent writes took {commits} commits: no batching"
    );
    assert_eq!(ok, 160);
    let changes = all_changes(&*store, T).await;
    assert_eq!(changes.len(), 161);
    assert!(changes.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let taken = store.read(T, "Patient", "taken").await.unwrap().unwrap();
    assert_eq!(taken.version, 1);
}

async fn tenant_isolation(subject: &Subject) {
    let store = &*subject.store;
    store.create_tenant("acme").await.unwrap();
    let err = store.create_tenant("acme").await.unwrap_err();
    assert!(matches!(err, StoreError::TenantExists(_)), "{err:?}");
    assert!(store.tenant_exists("acme").await.unwrap());
    assert!(!store.tenant_exists("other").await.unwrap());
    assert_eq!(
        store.list_tenants().await.unwrap(),
        vec!["acme".to_owned(), DEFAULT_TENANT.to_owned()]
    );
    isolation_checks(store).await;
}

/// Two tenants with the same ids; every read sees only its own tenant.
async fn isolation_checks(store: &dyn ResourceStore) {
    store
        .create(T, "Patient", "same", patient("Default"))
        .await
        .unwrap();
    store
        .create("acme", "Patient", "same", patient("Acme"))
        .await
        .unwrap();
    store
        .update("acme", "Patient", "same", patient("Acme2"), None)
        .await
        .unwrap();
    store
        .create("acme", "Patient", "only-acme", patient("Acme"))
        .await
        .unwrap();
    let d = store.read(T, "Patient", "same").await.unwrap().unwrap();
    let a = store
        .read("acme", "Patient", "same")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.tenant.as_str(), d.version), (T, 1));
    assert_eq!((a.tenant.as_str(), a.version), ("acme", 2));
    assert_eq!(body(&d)["name"][0]["family"], "Default");
    assert_eq!(body(&a)["name"][0]["family"], "Acme2");
    assert!(
        store
            .read(T, "Patient", "only-acme")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .vread(T, "Patient", "same", 2)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .vread(T, "Patient", "only-acme", 1)
            .await
            .unwrap()
            .is_none()
    );
    let all = HistoryQuery {
        count: 100,
        ..HistoryQuery::default()
    };
    let history = store.history(T, &all).await.unwrap();
    assert_eq!(history.total, 1);
    assert!(history.entries.iter().all(|e| e.tenant == T));
    let history = store.history("acme", &all).await.unwrap();
    assert_eq!(history.total, 3);
    assert!(history.entries.iter().all(|e| e.tenant == "acme"));
    let changes = all_changes(store, "acme").await;
    assert_eq!(changes.len(), 3);
    assert!(changes.iter().all(|e| e.tenant == "acme"));
    assert_eq!(all_changes(store, T).await.len(), 1);
    // A delete in one tenant leaves the other alone.
    store.delete("acme", "Patient", "same", None).await.unwrap();
    let d = store.read(T, "Patient", "same").await.unwrap().unwrap();
    assert!(!d.deleted);
    // Create in one tenant does not collide with the other.
    let err = store
        .create("acme", "Patient", "same", patient("X"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }));
    assert!(
        store
            .read("nobody", "Patient", "same")
            .await
            .unwrap()
            .is_none()
    );
}

// ---- SQLite only ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_survives_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fhir.db");
    let url = format!("sqlite:{}", path.display());
    let store = SqliteStore::open(&url).await.unwrap();
    store.create_tenant("acme").await.unwrap();
    let created = store
        .create("acme", "Patient", "p", patient("Persist"))
        .await
        .unwrap();
    store.close().await;
    assert!(
        store
            .create(T, "Patient", "after-close", patient("X"))
            .await
            .is_err()
    );
    drop(store);

    for _ in 0..2 {
        let store = SqliteStore::open(&url).await.unwrap();
        let read = store
            .vread("acme", "Patient", "p", 1)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.body, created.body);
        assert!(store.tenant_exists(DEFAULT_TENANT).await.unwrap());
        let next = store
            .update("acme", "Patient", "p", patient("Again"), None)
            .await
            .unwrap();
        assert!(next.resource.seq > created.seq);
        store.close().await;
    }
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query("SELECT count(*) FROM schema_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 2, "both SQLite migrations, once each");
    let mode: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "wal");
}

#[tokio::test]
async fn sqlite_refuses_memory_urls() {
    let err = SqliteStore::open("sqlite::memory:").await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

// ---- PostgreSQL only ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_survives_reopen_and_migrations_are_idempotent() {
    let url = fhir_core::testing::postgres_url().await;
    let store = PostgresStore::open(&url).await.unwrap();
    let created = store
        .create(T, "Patient", "p", patient("Persist"))
        .await
        .unwrap();
    store.close().await;
    for _ in 0..2 {
        let store = PostgresStore::open(&url).await.unwrap();
        let read = store.read(T, "Patient", "p").await.unwrap().unwrap();
        assert_eq!(read.body, created.body);
        store.close().await;
    }
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let applied: i64 = sqlx::query("SELECT count(*) FROM schema_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 3, "the three PostgreSQL migrations, once each");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_one_connection_alternating_tenants() {
    let url = fhir_core::testing::postgres_url().await;
    let store = PostgresStore::open_with(
        &url,
        PostgresOptions {
            max_connections: 1,
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap();
    store.create_tenant("acme").await.unwrap();
    isolation_checks(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_alone_isolates_tenants() {
    let url = fhir_core::testing::postgres_url().await;
    let store = PostgresStore::open_with(
        &url,
        PostgresOptions {
            max_connections: 1,
            tenant_filter: false,
        },
    )
    .await
    .unwrap();
    store.create_tenant("acme").await.unwrap();
    isolation_checks(&store).await;
    store.close().await;

    // The connecting user (a superuser, the owner) sees every row…
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let count = |sql: &'static str| sqlx::query(sql);
    let all: i64 = count("SELECT count(*) FROM resource_versions")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(all, 5);
    // …the application role with no tenant set sees none…
    sqlx::query("SET ROLE fhir_app")
        .execute(&mut conn)
        .await
        .unwrap();
    for table in ["resource_versions", "resources"] {
        let seen: i64 = sqlx::query(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .get(0);
        assert_eq!(seen, 0, "{table}");
    }
    // …and with a tenant set, that tenant's rows only, and it cannot write another's.
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.tenant', 'acme', true)")
        .execute(&mut *tx)
        .await
        .unwrap();
    let seen: Vec<String> = sqlx::query("SELECT DISTINCT tenant FROM resource_versions")
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(seen, vec!["acme".to_owned()]);
    let updated = sqlx::query("UPDATE resources SET version = 99 WHERE tenant = 'default'")
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(updated, 0);
    let err = sqlx::query(
        "INSERT INTO resources (tenant, resource_type, id, version, deleted, last_updated) \
         VALUES ('default', 'Patient', 'evil', 1, false, 0)",
    )
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();
    // The role cannot turn row-level security off.
    let err = sqlx::query("ALTER TABLE resources DISABLE ROW LEVEL SECURITY")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("owner"), "{err}");
}

/// Two stores on one database stand for two server processes: their writers commit separately,
/// yet no update is lost and the change sequence stays gap-free and in version order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_two_writers_on_one_database() {
    let url = fhir_core::testing::postgres_url().await;
    let first: Arc<dyn ResourceStore> = Arc::new(PostgresStore::open(&url).await.unwrap());
    let second: Arc<dyn ResourceStore> = Arc::new(PostgresStore::open(&url).await.unwrap());
    first
        .create(T, "Patient", "hot", patient("Start"))
        .await
        .unwrap();
    update_hot_concurrently(&[first.clone(), second.clone()]).await;
    assert_gap_free_versions(&all_changes(&*second, T).await);
    first.close().await;
    second.close().await;
}
