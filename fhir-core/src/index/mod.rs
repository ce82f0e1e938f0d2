//! The search index: a tantivy index derived from the store.
//!
//! The store is the only source of truth. The index holds, for the current version of every
//! resource of every tenant, its search terms (see [`terms`]), its narrative and content text,
//! and its body, so that a search is answered from the index alone.
//!
//! # Following the store
//! The index applies the store's change sequence ([`ResourceStore::changes_all`]) in order and
//! records the last applied `seq` as the payload of each tantivy commit. On open it catches up
//! from that payload; when the index is missing, unreadable or of another format, it is deleted
//! and rebuilt from sequence 0.
//!
//! # Read-your-writes without a commit per write
//! A background task applies new changes every [`FOLLOW_INTERVAL`] and commits once they stop
//! coming for a moment (after [`COMMIT_INTERVAL`]), or every [`BUSY_COMMIT_INTERVAL`] under a
//! steady stream. A search first reads the store's committed head `seq`; if the visible
//! (committed and reloaded) index is behind it, the search catches up itself: under one lock it
//! applies what is missing and commits once. Searches that arrive meanwhile wait for the same
//! lock, find the index caught up, and do not commit again. So a write acknowledged before a
//! search began is always visible to it, and under load commits happen once per burst of
//! searches, never once per write.
//!
//! A search that reads only some types (the criteria of a conditional interaction or a
//! conditional reference: one type, no chain) asks [`SearchIndex::refresh_types`]: it applies
//! every pending change as well, but commits only when an applied, uncommitted change is of one
//! of those types. So a bulk load whose transactions resolve `Practitioner?identifier=…` does
//! not commit the index once per transaction while Observations pour in.

mod build;
pub mod cursor;
mod custom;
mod execute;
mod plan;
mod resolve;
mod stored;
pub mod terms;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy};

use crate::search::extract::Extractor;
use crate::search::params::Registry;
use crate::store::feed::ChangeFeed;
use crate::store::{ResourceStore, StoreError};

pub use custom::{ReindexState, ReindexStatus};
pub use execute::{Hit, SearchError, SearchOptions, SearchPage};
pub use resolve::IndexResolver;

/// How often the follower looks for new changes.
pub const FOLLOW_INTERVAL: Duration = Duration::from_millis(200);
/// The longest time applied changes stay uncommitted when no search asks for them.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// The longest time applied changes stay uncommitted while changes keep arriving.
pub const BUSY_COMMIT_INTERVAL: Duration = Duration::from_secs(15);
/// Changes read from the store per batch.
const BATCH: usize = 2_000;
/// The format of the index; an index of another format is rebuilt.
const FORMAT: &str = "fhir-index-2";

/// Errors of the index.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// tantivy failed.
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The store failed while the index followed it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file could not be read or written.
    #[error("search index I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The index task stopped.
    #[error("the search index is unavailable: {0}")]
    Unavailable(String),
}

/// The fields of the schema.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// `tenant \x1f type \x1f id`: the unique key of a resource.
    pub key: Field,
    pub tenant: Field,
    pub resource_type: Field,
    pub id: Field,
    pub version: Field,
    pub last_updated: Field,
    pub body: Field,
    /// Every exact term (see [`terms`]).
    pub terms: Field,
    /// The narrative, tokenised (`_text`).
    pub narrative: Field,
    /// All text content, tokenised (`_content`).
    pub content: Field,
}

/// The tokenizer of the text fields: words, lower case, accents folded.
const TEXT_TOKENIZER: &str = "fhir_text";

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let raw_indexed = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic),
    );
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TEXT_TOKENIZER)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        key: builder.add_text_field("key", STRING),
        tenant: builder.add_text_field("tenant", STRING | STORED),
        resource_type: builder.add_text_field("type", STRING | FAST | STORED),
        id: builder.add_text_field("id", STRING | FAST | STORED),
        version: builder.add_i64_field("version", STORED),
        last_updated: builder.add_i64_field("last_updated", INDEXED | FAST | STORED),
        body: builder.add_text_field("body", STORED),
        terms: builder.add_text_field("t", raw_indexed),
        narrative: builder.add_text_field("narrative", words.clone()),
        content: builder.add_text_field("content", words),
    };
    (builder.build(), fields)
}

fn register_tokenizers(index: &Index) {
    index.tokenizers().register(
        TEXT_TOKENIZER,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
}

/// Where the index is kept.
#[derive(Debug, Clone)]
pub enum IndexLocation {
    /// A directory (created when missing).
    Directory(PathBuf),
    /// In memory (tests, tools): rebuilt from the store at every start.
    Memory,
}

/// What the index has applied and made visible.
#[derive(Debug)]
struct Progress {
    /// Applied to the writer (maybe not committed).
    applied: i64,
    /// When the last commit happened.
    last_commit: Instant,
    /// Applied but not committed changes exist.
    dirty: bool,
    /// The (tenant, type) pairs of the applied, uncommitted changes.
    uncommitted: HashSet<(String, String)>,
}

/// The search index of one server process.
pub struct SearchIndex {
    /// Where the files are (`None` in memory).
    path: Option<PathBuf>,
    index: Index,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    store: Arc<dyn ResourceStore>,
    /// The versions this process committed, taken from memory instead of the database when
    /// they directly follow what is applied.
    feed: Option<Arc<ChangeFeed>>,
    /// The last `seq` that searches see (committed and reloaded).
    visible: AtomicI64,
    /// Serialises catching up (apply + commit).
    catch_up: tokio::sync::Mutex<Progress>,
    /// The extractor of the official parameters, and per tenant the extractors that also
    /// know the tenant's own SearchParameters.
    default_extractor: Arc<Extractor>,
    tenant_extractors: RwLock<HashMap<String, Arc<Extractor>>>,
    /// Tenant-defined parameters and reindex jobs.
    custom: Mutex<custom::Custom>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("path", &self.path)
            .field("visible", &self.visible)
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens (or creates, or rebuilds) the index and catches up with the store.
    pub async fn open(
        location: IndexLocation,
        store: Arc<dyn ResourceStore>,
    ) -> Result<Arc<SearchIndex>, IndexError> {
        let path = match &location {
            IndexLocation::Directory(path) => Some(path.clone()),
            IndexLocation::Memory => None,
        };
        let (index, start_seq) = tokio::task::spawn_blocking(move || open_index(&location))
            .await
            .map_err(|e| IndexError::Unavailable(e.to_string()))??;
        let (_, fields) = schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let writer = index.writer_with_num_threads(1, 64 * 1024 * 1024)?;
        // Subscribed before the catch-up below: what is committed from now on is in the feed,
        // what was committed before comes from the database.
        let feed = store.change_feed();
        let search_index = Arc::new(SearchIndex {
            path,
            index,
            fields,
            reader,
            writer: Mutex::new(writer),
            store,
            feed,
            visible: AtomicI64::new(start_seq),
            catch_up: tokio::sync::Mutex::new(Progress {
                applied: start_seq,
                last_commit: Instant::now(),
                dirty: false,
                uncommitted: HashSet::new(),
            }),
            default_extractor: Arc::new(Extractor::new(Registry::r4())),
            tenant_extractors: RwLock::new(HashMap::new()),
            custom: Mutex::new(custom::Custom::default()),
        });
        search_index.load_custom_parameters()?;
        search_index.catch_up_to(i64::MAX, true).await?;
        Ok(search_index)
    }

    /// Starts the background follower; it stops when the index is dropped.
    pub fn spawn_follower(self: &Arc<SearchIndex>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FOLLOW_INTERVAL).await;
                let Some(index) = weak.upgrade() else { return };
                if let Err(error) = index.follow_step().await {
                    tracing::warn!(%error, "search index follower");
                }
            }
        })
    }

    /// One step of the follower: apply what is new, commit when due.
    ///
    /// While changes keep arriving (a bulk load) it commits only every
    /// [`BUSY_COMMIT_INTERVAL`]: every commit writes a segment, and many small segments are
    /// merged again and again (a third of the indexing work of a load, measured). Searches do not
    /// wait for it: they commit what they need themselves.
    async fn follow_step(self: &Arc<SearchIndex>) -> Result<(), IndexError> {
        let mut progress = self.catch_up.lock().await;
        let before = progress.applied;
        self.apply_pending(&mut progress, i64::MAX).await?;
        let busy = progress.applied != before;
        let due = if busy {
            BUSY_COMMIT_INTERVAL
        } else {
            COMMIT_INTERVAL
        };
        if progress.dirty && progress.last_commit.elapsed() >= due {
            self.commit(&mut progress).await?;
        }
        Ok(())
    }

    /// Makes every change up to the store's current head visible to searches.
    pub async fn refresh(self: &Arc<SearchIndex>) -> Result<(), IndexError> {
        let head = self.store.head_seq().await?;
        if self.visible.load(Ordering::Acquire) >= head {
            return Ok(());
        }
        self.catch_up_to(head, false).await
    }

    /// Makes every change of the given types of a tenant, up to the store's current head,
    /// visible to searches; changes of other types may stay invisible (they are applied, so
    /// the registry of tenant SearchParameters is current, but not committed).
    pub async fn refresh_types(
        self: &Arc<SearchIndex>,
        tenant: &str,
        types: &[String],
    ) -> Result<(), IndexError> {
        // Nothing of these types (nor a SearchParameter, which changes what is searchable)
        // was written since the last commit: no need to wait for the follower's lock.
        let mut watched: Vec<&str> = types.iter().map(String::as_str).collect();
        watched.push("SearchParameter");
        let visible = self.visible.load(Ordering::Acquire);
        if self.store.last_seq_of_types(tenant, &watched).await? <= visible {
            return Ok(());
        }
        let head = self.store.head_seq().await?;
        let mut progress = self.catch_up.lock().await;
        self.apply_pending(&mut progress, head).await?;
        let touched = types.iter().any(|resource_type| {
            progress
                .uncommitted
                .contains(&(tenant.to_owned(), resource_type.clone()))
        });
        if touched {
            self.commit(&mut progress).await?;
        }
        Ok(())
    }

    /// The last `seq` visible to searches.
    pub fn visible_seq(&self) -> i64 {
        self.visible.load(Ordering::Acquire)
    }

    async fn catch_up_to(
        self: &Arc<SearchIndex>,
        target: i64,
        force: bool,
    ) -> Result<(), IndexError> {
        let mut progress = self.catch_up.lock().await;
        if !force && self.visible.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        self.apply_pending(&mut progress, target).await?;
        if progress.dirty || force {
            self.commit(&mut progress).await?;
        }
        Ok(())
    }

    /// Applies changes after `progress.applied` until the store has no more (or `target` is
    /// passed and the batch ends). Changes that directly follow `progress.applied` are taken
    /// from the feed of this process's commits when it has them, else read from the store.
    async fn apply_pending(
        self: &Arc<SearchIndex>,
        progress: &mut Progress,
        target: i64,
    ) -> Result<(), IndexError> {
        loop {
            let fed = self
                .feed
                .as_ref()
                .map(|feed| feed.take_after(progress.applied, BATCH))
                .unwrap_or_default();
            let from_store = fed.is_empty();
            let changes = if from_store {
                self.store.changes_all(progress.applied, BATCH).await?
            } else {
                fed
            };
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok(());
            };
            let this = self.clone();
            let full = changes.len() == BATCH;
            let touched = tokio::task::spawn_blocking(move || this.apply_changes(&changes))
                .await
                .map_err(|e| IndexError::Unavailable(e.to_string()))??;
            progress.uncommitted.extend(touched);
            progress.applied = last;
            progress.dirty = true;
            self.apply_parameter_changes();
            if target != i64::MAX && last >= target {
                return Ok(());
            }
            // The store said it has no more; the feed only says what it holds, so the store
            // is asked next.
            if from_store && !full {
                return Ok(());
            }
        }
    }

    async fn commit(self: &Arc<SearchIndex>, progress: &mut Progress) -> Result<(), IndexError> {
        let this = self.clone();
        let applied = progress.applied;
        tokio::task::spawn_blocking(move || -> Result<(), IndexError> {
            let mut writer = this.writer.lock().expect("index writer lock");
            let mut prepared = writer.prepare_commit()?;
            prepared.set_payload(&format!("{FORMAT} {applied}"));
            prepared.commit()?;
            drop(writer);
            this.reader.reload()?;
            Ok(())
        })
        .await
        .map_err(|e| IndexError::Unavailable(e.to_string()))??;
        progress.dirty = false;
        progress.uncommitted.clear();
        progress.last_commit = Instant::now();
        self.visible.store(applied, Ordering::Release);
        Ok(())
    }

    /// The extractor for a tenant (the official parameters plus the tenant's own); its
    /// `registry()` is the tenant's registry of search parameters.
    pub fn extractor(&self, tenant: &str) -> Arc<Extractor> {
        self.tenant_extractors
            .read()
            .expect("extractor lock")
            .get(tenant)
            .cloned()
            .unwrap_or_else(|| self.default_extractor.clone())
    }

    /// Replaces the tenant's own parameters (a new extractor is used for later writes).
    pub fn set_tenant_registry(&self, tenant: &str, registry: Registry) {
        self.tenant_extractors
            .write()
            .expect("extractor lock")
            .insert(tenant.to_owned(), Arc::new(Extractor::new(&registry)));
    }

    /// The size of the index on disk, in bytes (0 in memory).
    pub fn size_on_disk(&self) -> u64 {
        fn size(path: &Path) -> u64 {
            std::fs::read_dir(path)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => size(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        self.path.as_deref().map(size).unwrap_or(0)
    }

    pub(crate) fn fields(&self) -> &Fields {
        &self.fields
    }

    pub(crate) fn reader(&self) -> &IndexReader {
        &self.reader
    }
}

/// Opens the index at a location, or creates it; returns it with the last applied `seq`.
fn open_index(location: &IndexLocation) -> Result<(Index, i64), IndexError> {
    let (schema, _) = schema();
    let index = match location {
        IndexLocation::Memory => Index::create_in_ram(schema),
        IndexLocation::Directory(path) => match open_existing(path) {
            Some((index, seq)) => {
                register_tokenizers(&index);
                return Ok((index, seq));
            }
            None => {
                if path.exists() {
                    tracing::warn!(path = %path.display(), "rebuilding the search index from the store");
                    std::fs::remove_dir_all(path)?;
                }
                std::fs::create_dir_all(path)?;
                Index::create_in_dir(path, schema)?
            }
        },
    };
    register_tokenizers(&index);
    Ok((index, 0))
}

/// An existing index of our format with its last applied `seq`, if it opens.
fn open_existing(path: &Path) -> Option<(Index, i64)> {
    if !path.join("meta.json").exists() {
        return None;
    }
    let index = Index::open_in_dir(path).ok()?;
    let (expected, _) = schema();
    if index.schema() != expected {
        return None;
    }
    let payload = index.load_metas().ok()?.payload?;
    let seq = payload.strip_prefix(FORMAT)?.trim().parse().ok()?;
    // Every segment must be readable: a damaged index is rebuilt rather than trusted.
    let reader = index.reader().ok()?;
    let searcher = reader.searcher();
    for segment in searcher.segment_readers() {
        segment.get_store_reader(0).ok()?;
    }
    Some((index, seq))
}
