//! Tenant-defined SearchParameters and the online reindex that makes them searchable.
//!
//! The index follows SearchParameter resources like any other: when one is created, changed or
//! deleted in a tenant, the tenant gets a new registry (the official parameters plus its own)
//! at once, so that later writes are extracted with it. The parameters it adds or changes are
//! *pending*: a reindex job re-extracts the tenant's existing resources of the parameter's base
//! types, in chunks, each under the catch-up lock (so that it never overwrites a newer version
//! applied by the follower). Reads, writes and searches go on between chunks; a search that
//! uses a pending parameter waits for the job to finish, so it never answers from a
//! half-built index.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tantivy::collector::DocSetCollector;
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::{TantivyDocument, Term};

use super::build::key;
use super::plan::term_query;
use super::{IndexError, SearchIndex};
use crate::search::params::{Registry, SearchParam};
use crate::store::StoredResource;

/// Resources re-extracted per chunk of a reindex.
const CHUNK: usize = 500;

/// The state of a reindex job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReindexState {
    /// Running.
    Running,
    /// Done: the parameters are searchable.
    Complete,
    /// Stopped by an error.
    Failed(String),
}

/// The progress of the last reindex of a tenant.
#[derive(Debug, Clone)]
pub struct ReindexStatus {
    /// A number that identifies the job within the process.
    pub job: u64,
    /// Where it is.
    pub state: ReindexState,
    /// Resources re-extracted so far.
    pub processed: u64,
    /// Resources to re-extract.
    pub total: u64,
    /// The parameter codes the job makes searchable (empty: every parameter).
    pub params: Vec<String>,
    /// When it started and finished (milliseconds).
    pub started: i64,
    /// When it finished.
    pub finished: Option<i64>,
}

/// Tenant-defined parameters and reindex jobs.
#[derive(Debug, Default)]
pub(crate) struct Custom {
    /// tenant → SearchParameter id → definition.
    params: HashMap<String, BTreeMap<String, SearchParam>>,
    /// tenant → parameter codes not searchable yet.
    pending: HashMap<String, HashSet<String>>,
    /// tenant → the last job.
    jobs: HashMap<String, ReindexStatus>,
    /// Tenants whose SearchParameters changed in the batch being applied.
    changed: HashSet<String>,
    next_job: u64,
}

impl SearchIndex {
    /// Notes a stored SearchParameter version (called while applying changes).
    pub(crate) fn note_search_parameter(&self, change: &StoredResource) {
        let mut custom = self.custom.lock().expect("custom lock");
        let tenant_params = custom.params.entry(change.tenant.clone()).or_default();
        let parsed = if change.deleted {
            None
        } else {
            serde_json::from_str::<Value>(&change.body)
                .ok()
                .filter(|r| r["status"] != "retired")
                .and_then(|r| SearchParam::from_resource(&r).ok())
        };
        match parsed {
            Some(param) => {
                tenant_params.insert(change.id.clone(), param);
            }
            None => {
                tenant_params.remove(&change.id);
            }
        }
        custom.changed.insert(change.tenant.clone());
    }

    /// After a batch: new registries for the tenants whose parameters changed, and a reindex
    /// job for what they add or change.
    pub(crate) fn apply_parameter_changes(self: &Arc<SearchIndex>) {
        let changed: Vec<(String, Vec<SearchParam>)> = {
            let mut custom = self.custom.lock().expect("custom lock");
            let tenants: Vec<String> = custom.changed.drain().collect();
            tenants
                .into_iter()
                .map(|t| {
                    let params = custom
                        .params
                        .get(&t)
                        .map(|p| p.values().cloned().collect())
                        .unwrap_or_default();
                    (t, params)
                })
                .collect()
        };
        for (tenant, params) in changed {
            let before_extractor = self.extractor(&tenant);
            let before = before_extractor.registry();
            let registry = Registry::with_custom(Registry::r4(), params.clone());
            let new_codes: Vec<String> = params
                .iter()
                .filter(|p| {
                    p.base
                        .iter()
                        .any(|base| before.get(base, &p.code).is_none_or(|old| old != *p))
                })
                .map(|p| p.code.clone())
                .collect();
            self.set_tenant_registry(&tenant, registry);
            if !new_codes.is_empty() {
                let bases: Vec<String> = params
                    .iter()
                    .filter(|p| new_codes.contains(&p.code))
                    .flat_map(|p| p.base.clone())
                    .collect();
                self.start_reindex(&tenant, new_codes, Some(bases));
            }
        }
    }

    /// Starts re-extracting the tenant's resources (of `types`, or all) for `params` (empty:
    /// every parameter); returns the job's status.
    pub fn start_reindex(
        self: &Arc<SearchIndex>,
        tenant: &str,
        params: Vec<String>,
        types: Option<Vec<String>>,
    ) -> ReindexStatus {
        let status = {
            let mut custom = self.custom.lock().expect("custom lock");
            custom.next_job += 1;
            let status = ReindexStatus {
                job: custom.next_job,
                state: ReindexState::Running,
                processed: 0,
                total: 0,
                params: params.clone(),
                started: crate::time::now_millis(),
                finished: None,
            };
            custom
                .pending
                .entry(tenant.to_owned())
                .or_default()
                .extend(params.iter().cloned());
            custom.jobs.insert(tenant.to_owned(), status.clone());
            status
        };
        let this = self.clone();
        let tenant = tenant.to_owned();
        let job = status.job;
        tokio::spawn(async move {
            let result = this.run_reindex(&tenant, job, types).await;
            let mut custom = this.custom.lock().expect("custom lock");
            let latest = custom.jobs.get(&tenant).map(|s| s.job) == Some(job);
            if let Some(status) = custom.jobs.get_mut(&tenant).filter(|s| s.job == job) {
                status.finished = Some(crate::time::now_millis());
                status.state = match &result {
                    Ok(()) => ReindexState::Complete,
                    Err(error) => ReindexState::Failed(error.to_string()),
                };
            }
            // A later job covers what this one did not finish; the last one clears the flags.
            if latest && result.is_ok() {
                custom.pending.remove(&tenant);
            }
            if let Err(error) = result {
                tracing::error!(%tenant, job, %error, "reindex failed");
            }
        });
        status
    }

    /// The last reindex job of a tenant.
    pub fn reindex_status(&self, tenant: &str) -> Option<ReindexStatus> {
        self.custom
            .lock()
            .expect("custom lock")
            .jobs
            .get(tenant)
            .cloned()
    }

    /// Waits (at most `timeout`) until none of `codes` is pending in the tenant; `false` when
    /// the time ran out.
    pub async fn wait_searchable(&self, tenant: &str, codes: &[&str], timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pending = {
                let custom = self.custom.lock().expect("custom lock");
                custom
                    .pending
                    .get(tenant)
                    .is_some_and(|p| codes.iter().any(|c| p.contains(*c)))
            };
            if !pending {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn run_reindex(
        self: &Arc<SearchIndex>,
        tenant: &str,
        job: u64,
        types: Option<Vec<String>>,
    ) -> Result<(), IndexError> {
        // Everything applied so far is committed, so the scan sees it.
        self.catch_up_to(i64::MAX, true).await?;
        let keys = {
            let this = self.clone();
            let tenant = tenant.to_owned();
            tokio::task::spawn_blocking(move || this.tenant_keys(&tenant, types.as_deref()))
                .await
                .map_err(|e| IndexError::Unavailable(e.to_string()))??
        };
        self.set_progress(tenant, job, 0, keys.len() as u64);
        let mut done = 0;
        for chunk in keys.chunks(CHUNK) {
            let mut progress = self.catch_up.lock().await;
            // Apply and commit what the follower has not, so that the chunk re-extracts the
            // current versions.
            self.apply_pending(&mut progress, i64::MAX).await?;
            if progress.dirty {
                self.commit(&mut progress).await?;
            }
            let this = self.clone();
            let size = chunk.len() as u64;
            let chunk = chunk.to_vec();
            let tenant_owned = tenant.to_owned();
            tokio::task::spawn_blocking(move || this.reextract(&tenant_owned, &chunk))
                .await
                .map_err(|e| IndexError::Unavailable(e.to_string()))??;
            progress.dirty = true;
            self.commit(&mut progress).await?;
            drop(progress);
            done += size;
            self.set_progress(tenant, job, done, keys.len() as u64);
        }
        Ok(())
    }

    fn set_progress(&self, tenant: &str, job: u64, processed: u64, total: u64) {
        let mut custom = self.custom.lock().expect("custom lock");
        if let Some(status) = custom.jobs.get_mut(tenant).filter(|s| s.job == job) {
            status.processed = processed;
            status.total = total;
        }
    }

    /// The keys (type, id) of a tenant's resources, of some types or all.
    fn tenant_keys(
        &self,
        tenant: &str,
        types: Option<&[String]>,
    ) -> Result<Vec<(String, String)>, IndexError> {
        let fields = self.fields();
        let searcher = self.reader().searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, term_query(fields.tenant, tenant))];
        if let Some(types) = types {
            let alternatives: Vec<(Occur, Box<dyn Query>)> = types
                .iter()
                .flat_map(|t| match t.as_str() {
                    // Parameters on Resource or DomainResource apply to every type.
                    "Resource" | "DomainResource" => None,
                    _ => Some((Occur::Should, term_query(fields.resource_type, t))),
                })
                .collect();
            let all = types
                .iter()
                .any(|t| t == "Resource" || t == "DomainResource");
            if !all {
                clauses.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
            }
        }
        let addresses = searcher.search(&BooleanQuery::new(clauses), &DocSetCollector)?;
        let mut keys = Vec::with_capacity(addresses.len());
        for address in addresses {
            let hit = fields.load(&searcher, address)?;
            keys.push((hit.resource_type, hit.id));
        }
        keys.sort();
        Ok(keys)
    }

    /// Re-extracts resources from their indexed bodies with the tenant's current extractor.
    fn reextract(&self, tenant: &str, keys: &[(String, String)]) -> Result<(), IndexError> {
        let fields = self.fields();
        let searcher = self.reader().searcher();
        let writer = self.writer.lock().expect("index writer lock");
        for (resource_type, id) in keys {
            let key = key(tenant, resource_type, id);
            let Some(hit) = fields.lookup(&searcher, &key)? else {
                continue; // deleted meanwhile
            };
            let stored = hit.into_stored(tenant);
            if let Some(rebuilt) = self.document(&stored, &key) {
                writer.delete_term(Term::from_field_text(fields.key, &key));
                writer.add_document(rebuilt)?;
            }
        }
        Ok(())
    }

    /// Loads the tenant-defined parameters of every tenant from the index (at open).
    pub(crate) fn load_custom_parameters(self: &Arc<SearchIndex>) -> Result<(), IndexError> {
        let fields = self.fields();
        let searcher = self.reader().searcher();
        let query = term_query(fields.resource_type, "SearchParameter");
        for address in searcher.search(&query, &DocSetCollector)? {
            let document: TantivyDocument = searcher.doc(address)?;
            let stored = fields
                .hit(&document)
                .into_stored(&fields.tenant_of(&document));
            self.note_search_parameter(&stored);
        }
        // At open, what the index holds was extracted with these parameters already.
        let tenants: Vec<String> = {
            let mut custom = self.custom.lock().expect("custom lock");
            custom.changed.drain().collect()
        };
        for tenant in tenants {
            let params: Vec<SearchParam> = self
                .custom
                .lock()
                .expect("custom lock")
                .params
                .get(&tenant)
                .map(|p| p.values().cloned().collect())
                .unwrap_or_default();
            self.set_tenant_registry(&tenant, Registry::with_custom(Registry::r4(), params));
        }
        Ok(())
    }
}
