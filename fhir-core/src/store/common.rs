//! The logic shared by both backends: what a write does given the current head, how the stored
//! body is made, how database errors map to [`StoreError`]s, and the SQL of history queries.

use serde_json::{Map, Value};

use super::writer::WriteOp;
use super::{HistoryQuery, Millis, StoreError};

/// The head row of a resource, as read inside the write transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// The current version.
    pub version: i64,
    /// `true` when the current version is a tombstone.
    pub deleted: bool,
}

/// What a resource write does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Plan {
    /// Write this version.
    Write {
        version: i64,
        deleted: bool,
        created: bool,
    },
    /// Nothing to write (delete of a missing or deleted resource).
    Nothing,
}

/// The key of a resource write: tenant, type and id.
pub(crate) fn resource_key(op: &WriteOp) -> Option<(&str, &str, &str)> {
    match op {
        WriteOp::CreateTenant { .. } | WriteOp::Group { .. } => None,
        WriteOp::Create {
            tenant,
            resource_type,
            id,
            ..
        }
        | WriteOp::Update {
            tenant,
            resource_type,
            id,
            ..
        }
        | WriteOp::Delete {
            tenant,
            resource_type,
            id,
            ..
        } => Some((tenant, resource_type, id)),
    }
}

/// Decides what a resource write does given the current head (read under lock).
pub(crate) fn plan(op: &WriteOp, head: Option<Head>) -> Result<Plan, StoreError> {
    let current = head.map(|h| h.version);
    let next = current.unwrap_or(0) + 1;
    let check = |if_match: &Option<i64>| match *if_match {
        Some(expected) if current != Some(expected) => {
            Err(StoreError::VersionConflict { expected, current })
        }
        _ => Ok(()),
    };
    match op {
        WriteOp::CreateTenant { .. } | WriteOp::Group { .. } => Ok(Plan::Nothing),
        WriteOp::Create {
            resource_type, id, ..
        } => match head {
            Some(_) => Err(StoreError::AlreadyExists {
                resource_type: resource_type.clone(),
                id: id.clone(),
            }),
            None => Ok(Plan::Write {
                version: 1,
                deleted: false,
                created: true,
            }),
        },
        WriteOp::Update { if_match, .. } => {
            check(if_match)?;
            Ok(Plan::Write {
                version: next,
                deleted: false,
                created: head.is_none_or(|h| h.deleted),
            })
        }
        WriteOp::Delete { if_match, .. } => {
            check(if_match)?;
            match head {
                Some(h) if !h.deleted => Ok(Plan::Write {
                    version: next,
                    deleted: true,
                    created: false,
                }),
                _ => Ok(Plan::Nothing),
            }
        }
    }
}

/// Checks a resource before it is queued for writing: a JSON object whose `resourceType` (when
/// present) is the type written and whose `meta` (when present) is an object.
pub(crate) fn check_resource(resource_type: &str, resource: &Value) -> Result<(), StoreError> {
    let Some(object) = resource.as_object() else {
        return Err(StoreError::Invalid(
            "the resource is not a JSON object".into(),
        ));
    };
    match object.get("resourceType") {
        None => {}
        Some(Value::String(name)) if name == resource_type => {}
        Some(other) => {
            return Err(StoreError::Invalid(format!(
                "resourceType {other} does not match {resource_type}"
            )));
        }
    }
    match object.get("meta") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(StoreError::Invalid("meta is not an object".into())),
    }
}

/// Sets `resourceType`, `id`, `meta.versionId` and `meta.lastUpdated`, and returns the body as
/// compact JSON in definition order.
pub(crate) fn make_body(
    resource_type: &str,
    id: &str,
    version: i64,
    last_updated: Millis,
    resource: &Value,
) -> Result<String, StoreError> {
    check_resource(resource_type, resource)?;
    let Some(object) = resource.as_object() else {
        return Err(StoreError::Invalid(
            "the resource is not a JSON object".into(),
        ));
    };
    // Only `meta` is copied (it is small); the rest is written from the resource as it is.
    let mut meta = match object.get("meta") {
        Some(Value::Object(meta)) => meta.clone(),
        None => Map::new(),
        Some(_) => return Err(StoreError::Invalid("meta is not an object".into())),
    };
    meta.insert("versionId".into(), Value::String(version.to_string()));
    meta.insert(
        "lastUpdated".into(),
        Value::String(crate::time::format_instant(last_updated)),
    );
    let type_value = Value::String(resource_type.to_owned());
    let id = Value::String(id.to_owned());
    let meta = Value::Object(meta);
    Ok(crate::json::to_string_with(
        resource_type,
        object,
        &[("resourceType", &type_value), ("id", &id), ("meta", &meta)],
    ))
}

/// Maps a database error of a resource write: lost races (unique violations, deadlocks,
/// serialisation failures) become [`StoreError::Conflict`] (safe to retry), a missing tenant
/// [`StoreError::UnknownTenant`].
pub(crate) fn write_error(op: &WriteOp, error: sqlx::Error) -> StoreError {
    let Some(db) = error.as_database_error() else {
        return StoreError::Database(error);
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    let kind = db.kind();
    match (op, resource_key(op)) {
        (WriteOp::CreateTenant { tenant }, _)
            if matches!(kind, sqlx::error::ErrorKind::UniqueViolation) =>
        {
            StoreError::TenantExists(tenant.clone())
        }
        (_, Some((tenant, resource_type, id))) => {
            if matches!(kind, sqlx::error::ErrorKind::ForeignKeyViolation) {
                StoreError::UnknownTenant(tenant.to_owned())
            } else if matches!(kind, sqlx::error::ErrorKind::UniqueViolation)
                || code == "40P01"
                || code == "40001"
            {
                StoreError::Conflict {
                    resource_type: resource_type.to_owned(),
                    id: id.to_owned(),
                }
            } else {
                StoreError::Database(error)
            }
        }
        _ => StoreError::Database(error),
    }
}

/// A bound parameter of a dynamically built query.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
}

/// The `FROM … WHERE …` part of a history query (alias `v` for `resource_versions`) and its
/// parameters; `$1` is the tenant. Without `tenant_filter` the tenant predicate is left out
/// (PostgreSQL only: row-level security still applies).
pub(crate) fn history_filter(
    tenant: &str,
    query: &HistoryQuery,
    tenant_filter: bool,
) -> (String, Vec<Param>) {
    let mut params = vec![Param::Text(tenant.to_owned())];
    let mut sql = String::from("FROM resource_versions v WHERE ");
    sql.push_str(if tenant_filter {
        "v.tenant = $1"
    } else {
        "$1::text IS NOT NULL"
    });
    let mut push = |param: Param| -> String {
        params.push(param);
        format!("${}", params.len())
    };
    if let Some(resource_type) = &query.resource_type {
        let p = push(Param::Text(resource_type.clone()));
        sql.push_str(&format!(" AND v.resource_type = {p}"));
    }
    if let Some(id) = &query.id {
        let p = push(Param::Text(id.clone()));
        sql.push_str(&format!(" AND v.id = {p}"));
    }
    if let Some(since) = query.since {
        let p = push(Param::Int(since));
        sql.push_str(&format!(" AND v.last_updated >= {p}"));
    }
    if let Some((start, end)) = query.at {
        // The version is valid over [v.last_updated, next.last_updated) (open-ended for the
        // current version); keep it when that interval is not empty and overlaps [start, end).
        let end = push(Param::Int(end));
        let start = push(Param::Int(start));
        sql.push_str(&format!(
            " AND v.last_updated < {end} AND NOT EXISTS (SELECT 1 FROM resource_versions n \
             WHERE n.tenant = v.tenant AND n.resource_type = v.resource_type AND n.id = v.id \
             AND n.version = v.version + 1 \
             AND (n.last_updated <= {start} OR n.last_updated <= v.last_updated))"
        ));
    }
    (sql, params)
}

/// Converts a page size to a SQL `LIMIT`.
pub(crate) fn limit(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The columns every version query selects, in the order [`super::StoredResource`] rows are
/// decoded (the body column is appended by each backend).
pub(crate) const VERSION_COLUMNS: &str =
    "v.tenant, v.resource_type, v.id, v.version, v.seq, v.last_updated, v.deleted";

/// Makes a history page of the rows fetched with `LIMIT count + 1` (newest first).
pub(crate) fn page(
    mut entries: Vec<super::StoredResource>,
    count: usize,
    total: i64,
) -> super::HistoryPage {
    let more = entries.len() > count;
    entries.truncate(count);
    let next_before_seq = if more {
        entries.last().map(|entry| entry.seq)
    } else {
        None
    };
    super::HistoryPage {
        entries,
        next_before_seq,
        total: u64::try_from(total).unwrap_or_default(),
    }
}

/// One version a group writes, planned before any row is written.
#[derive(Debug)]
pub(crate) struct GroupRow<'a> {
    /// The position of the write in the group.
    pub index: usize,
    /// The resource type.
    pub resource_type: &'a str,
    /// The id.
    pub id: &'a str,
    /// The new version.
    pub version: i64,
    /// `true` for a tombstone.
    pub deleted: bool,
    /// The first version, or one after a delete.
    pub created: bool,
    /// The stored body (`None` for a tombstone).
    pub body: Option<String>,
}

/// Plans the writes of a group (a transaction) of one tenant at once: each write is checked
/// against the head of its resource, read before the group (`heads`, keyed by type and id) or
/// left by an earlier write of the same group. The rows get versions and bodies here; the
/// backend then writes them with a few statements instead of several per write. `Plan::Nothing`
/// writes (a delete of a missing resource) get no row. A failing write fails the group with
/// [`StoreError::InGroup`].
pub(crate) fn plan_group<'a>(
    ops: &'a [WriteOp],
    mut heads: std::collections::HashMap<(String, String), Head>,
    last_updated: Millis,
) -> Result<Vec<GroupRow<'a>>, StoreError> {
    let mut rows = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let in_group = |error| StoreError::InGroup {
            index,
            error: Box::new(error),
        };
        let (_, resource_type, id) = resource_key(op).ok_or_else(|| {
            in_group(StoreError::Invalid(
                "a group holds resource writes only".into(),
            ))
        })?;
        let key = (resource_type.to_owned(), id.to_owned());
        let Plan::Write {
            version,
            deleted,
            created,
        } = plan(op, heads.get(&key).copied()).map_err(in_group)?
        else {
            continue;
        };
        let body = match op {
            WriteOp::Create { resource, .. } | WriteOp::Update { resource, .. } if !deleted => {
                Some(
                    make_body(resource_type, id, version, last_updated, resource)
                        .map_err(in_group)?,
                )
            }
            _ => None,
        };
        heads.insert(key, Head { version, deleted });
        rows.push(GroupRow {
            index,
            resource_type,
            id,
            version,
            deleted,
            created,
            body,
        });
    }
    Ok(rows)
}

/// The answers of a planned group: its rows stored with consecutive `seq`s from `first_seq`,
/// and `Nothing` for the writes without a row.
pub(crate) fn group_answers(
    tenant: &str,
    ops_len: usize,
    rows: Vec<GroupRow<'_>>,
    first_seq: i64,
    last_updated: Millis,
) -> Vec<super::writer::WriteDone> {
    use super::writer::WriteDone;
    let mut answers: Vec<WriteDone> = (0..ops_len).map(|_| WriteDone::Nothing).collect();
    for (offset, row) in rows.into_iter().enumerate() {
        answers[row.index] = WriteDone::Stored {
            resource: super::StoredResource {
                tenant: tenant.to_owned(),
                resource_type: row.resource_type.to_owned(),
                id: row.id.to_owned(),
                version: row.version,
                last_updated,
                seq: first_seq + offset as i64,
                deleted: row.deleted,
                body: std::sync::Arc::from(row.body.unwrap_or_default()),
            },
            created: row.created,
        };
    }
    answers
}

/// The one tenant of a group's writes (`None` when they are of several, or none).
pub(crate) fn group_tenant(ops: &[WriteOp]) -> Option<&str> {
    let mut tenants = ops.iter().map(|op| resource_key(op).map(|(t, _, _)| t));
    let first = tenants.next()??;
    tenants.all(|t| t == Some(first)).then_some(first)
}
