//! The group-commit writer shared by both backends.
//!
//! Callers send their write ([`WriteOp`]) to one writer task through a channel and wait on a
//! oneshot for the answer. The writer takes everything that is queued (up to [`MAX_BATCH`]
//! writes), hands the batch to the backend's [`BatchExecutor`], which runs it in one database
//! transaction with one savepoint per write (a failing write is rolled back to its savepoint and
//! answered with its error, the others stay), commits once, and only then answers every caller:
//! an `Ok` answer means the write is durable. While a batch commits, new writes queue up and form
//! the next batch, so that many concurrent requests share one durable commit.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::feed::ChangeFeed;
use super::{StoreError, StoredResource, UpdateOutcome, common};

/// The largest number of writes committed together.
pub(crate) const MAX_BATCH: usize = 256;

/// How many writes may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 4096;

/// One write.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// Creates a tenant.
    CreateTenant { tenant: String },
    /// Creates a resource with the given id.
    Create {
        tenant: String,
        resource_type: String,
        id: String,
        resource: Value,
    },
    /// Writes a new version (or the first).
    Update {
        tenant: String,
        resource_type: String,
        id: String,
        resource: Value,
        if_match: Option<i64>,
    },
    /// Writes a tombstone.
    Delete {
        tenant: String,
        resource_type: String,
        id: String,
        if_match: Option<i64>,
    },
    /// Several writes that succeed or fail together (a transaction Bundle): run in order in one
    /// savepoint; the first failure rolls all of them back.
    Group { ops: Vec<WriteOp> },
}

/// The answer to one write.
#[derive(Debug)]
pub(crate) enum WriteDone {
    /// The tenant was created.
    Tenant,
    /// A version was written.
    Stored {
        resource: StoredResource,
        created: bool,
    },
    /// Nothing to do (delete of a missing or deleted resource).
    Nothing,
    /// The answers of a group, in order.
    Group(Vec<WriteDone>),
}

/// The answers of one batch, in the order of its writes; `Err` for the whole batch when the
/// transaction could not be begun or committed (then nothing of it was written).
pub(crate) type BatchResult = Result<Vec<Result<WriteDone, StoreError>>, StoreError>;

/// Runs a batch of writes in one transaction (one savepoint per write) and commits it.
pub(crate) trait BatchExecutor: Send + 'static {
    /// Runs the writes in order and commits; see [`BatchResult`].
    fn execute(&mut self, ops: Vec<&WriteOp>) -> impl Future<Output = BatchResult> + Send;
}

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteDone, StoreError>>,
}

/// The handle of the writer task.
pub(crate) struct Writer {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    task: tokio::sync::Mutex<Option<JoinHandle<()>>>,
    commits: Arc<AtomicU64>,
    feed: Arc<ChangeFeed>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("commits", &self.commits.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn spawn<E: BatchExecutor>(executor: E) -> Writer {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicU64::new(0));
        let feed = Arc::new(ChangeFeed::default());
        let task = tokio::spawn(run(executor, receiver, commits.clone(), feed.clone()));
        Writer {
            sender: Mutex::new(Some(sender)),
            task: tokio::sync::Mutex::new(Some(task)),
            commits,
            feed,
        }
    }

    /// The feed of the versions this writer committed, now kept (see [`ChangeFeed`]).
    pub(crate) fn subscribe(&self) -> Arc<ChangeFeed> {
        self.feed.subscribe();
        self.feed.clone()
    }

    /// Queues a write and waits until it is committed (or failed).
    pub(crate) async fn submit(&self, op: WriteOp) -> Result<WriteDone, StoreError> {
        let sender = self
            .sender
            .lock()
            .map_err(|_| StoreError::Unavailable("the writer lock is poisoned".into()))?
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is closed".into()))?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { op, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the writer stopped".into()))?
    }

    /// Creates a tenant.
    pub(crate) async fn create_tenant(&self, tenant: &str) -> Result<(), StoreError> {
        if tenant.is_empty() {
            return Err(StoreError::Invalid("a tenant name cannot be empty".into()));
        }
        let op = WriteOp::CreateTenant {
            tenant: tenant.to_owned(),
        };
        self.submit(op).await.map(|_| ())
    }

    /// Creates the first version of a resource (the rules are in [`common::plan`]).
    pub(crate) async fn create(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        resource: Value,
    ) -> Result<StoredResource, StoreError> {
        common::check_resource(resource_type, &resource)?;
        let op = WriteOp::Create {
            tenant: tenant.to_owned(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            resource,
        };
        match self.submit(op).await? {
            WriteDone::Stored { resource, .. } => Ok(resource),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a new version, or the first one (update-as-create).
    pub(crate) async fn update(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        resource: Value,
        if_match: Option<i64>,
    ) -> Result<UpdateOutcome, StoreError> {
        common::check_resource(resource_type, &resource)?;
        let op = WriteOp::Update {
            tenant: tenant.to_owned(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            resource,
            if_match,
        };
        match self.submit(op).await? {
            WriteDone::Stored { resource, created } => Ok(UpdateOutcome { resource, created }),
            other => Err(unexpected(other)),
        }
    }

    /// Writes a tombstone; `None` when there was nothing to delete.
    pub(crate) async fn delete(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<Option<StoredResource>, StoreError> {
        let op = WriteOp::Delete {
            tenant: tenant.to_owned(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            if_match,
        };
        match self.submit(op).await? {
            WriteDone::Stored { resource, .. } => Ok(Some(resource)),
            WriteDone::Nothing => Ok(None),
            other => Err(unexpected(other)),
        }
    }

    /// Runs writes as one unit: all are committed, or none (the error names the failing write
    /// by its position). Every write is checked as a single one would be.
    pub(crate) async fn group(&self, ops: Vec<WriteOp>) -> Result<Vec<WriteDone>, StoreError> {
        for (index, op) in ops.iter().enumerate() {
            let checked = match op {
                WriteOp::Create {
                    resource_type,
                    resource,
                    ..
                }
                | WriteOp::Update {
                    resource_type,
                    resource,
                    ..
                } => common::check_resource(resource_type, resource),
                WriteOp::Delete { .. } => Ok(()),
                WriteOp::CreateTenant { .. } | WriteOp::Group { .. } => Err(StoreError::Invalid(
                    "a group holds resource writes only".into(),
                )),
            };
            checked.map_err(|error| StoreError::InGroup {
                index,
                error: Box::new(error),
            })?;
        }
        match self.submit(WriteOp::Group { ops }).await? {
            WriteDone::Group(answers) => Ok(answers),
            other => Err(unexpected(other)),
        }
    }

    /// A transaction of the store API, run as one group.
    pub(crate) async fn transaction(
        &self,
        tenant: &str,
        writes: Vec<super::TxWrite>,
    ) -> Result<Vec<super::TxDone>, StoreError> {
        use super::{TxDone, TxWrite};
        let ops = writes
            .into_iter()
            .map(|write| match write {
                TxWrite::Create {
                    resource_type,
                    id,
                    resource,
                } => WriteOp::Create {
                    tenant: tenant.to_owned(),
                    resource_type,
                    id,
                    resource,
                },
                TxWrite::Update {
                    resource_type,
                    id,
                    resource,
                    if_match,
                } => WriteOp::Update {
                    tenant: tenant.to_owned(),
                    resource_type,
                    id,
                    resource,
                    if_match,
                },
                TxWrite::Delete {
                    resource_type,
                    id,
                    if_match,
                } => WriteOp::Delete {
                    tenant: tenant.to_owned(),
                    resource_type,
                    id,
                    if_match,
                },
            })
            .collect();
        self.group(ops)
            .await?
            .into_iter()
            .map(|done| match done {
                WriteDone::Stored { resource, created } => {
                    Ok(TxDone::Stored(UpdateOutcome { resource, created }))
                }
                WriteDone::Nothing => Ok(TxDone::Nothing),
                other => Err(unexpected(other)),
            })
            .collect()
    }

    /// Stops accepting writes and waits until the writes already queued are answered.
    pub(crate) async fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let task = self.task.lock().await.take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// The number of transactions committed so far (one per batch).
    pub(crate) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
}

async fn run<E: BatchExecutor>(
    mut executor: E,
    mut receiver: mpsc::Receiver<Job>,
    commits: Arc<AtomicU64>,
    feed: Arc<ChangeFeed>,
) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // `recv_many` waits for the first write, then takes whatever else is queued.
    while receiver.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let batch: Vec<Job> = std::mem::take(&mut jobs);
        let result = executor
            .execute(batch.iter().map(|job| &job.op).collect())
            .await;
        match result {
            Ok(answers) => {
                commits.fetch_add(1, Ordering::Relaxed);
                // Committed: the index may take the versions from memory. Before any answer,
                // so that every acknowledged write is in the feed or in the database.
                let mut versions = Vec::new();
                for answer in answers.iter().flatten() {
                    committed_versions(answer, &mut versions);
                }
                feed.publish(versions);
                let mut answers = answers.into_iter();
                for job in batch {
                    let answer = answers.next().unwrap_or_else(|| {
                        Err(StoreError::Unavailable("the writer lost an answer".into()))
                    });
                    let _ = job.reply.send(answer);
                }
            }
            Err(error) => {
                tracing::error!(%error, writes = batch.len(), "a write transaction failed");
                let message = error.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                        "the write transaction failed: {message}"
                    ))));
                }
            }
        }
    }
}

/// The versions a committed answer wrote.
fn committed_versions(done: &WriteDone, out: &mut Vec<StoredResource>) {
    match done {
        WriteDone::Stored { resource, .. } => out.push(resource.clone()),
        WriteDone::Group(answers) => {
            for answer in answers {
                committed_versions(answer, out);
            }
        }
        WriteDone::Tenant | WriteDone::Nothing => {}
    }
}

/// A writer answer that does not fit the write that was sent (a bug, reported as unavailable).
pub(crate) fn unexpected(done: WriteDone) -> StoreError {
    StoreError::Unavailable(format!("unexpected writer answer {done:?}"))
}
