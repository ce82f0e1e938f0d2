-- The versioned resource store (SQLite).
-- Applied by fhir-core's own migration runner (fhir-core/src/store/migrate.rs) in one transaction.

-- Tenants: every resource row carries its tenant.
CREATE TABLE tenants (
    name TEXT NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
);

-- The single counter row of the database-wide change sequence, and the last `last_updated`
-- handed out (so that `last_updated` never decreases in `seq` order).
CREATE TABLE change_counter (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL,
    last_millis INTEGER NOT NULL
);
INSERT INTO change_counter (id, value, last_millis) VALUES (1, 0, 0);

-- The head of every resource: its current version (possibly a tombstone).
CREATE TABLE resources (
    tenant TEXT NOT NULL REFERENCES tenants (name),
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    last_updated INTEGER NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
) WITHOUT ROWID;

-- Every version of every resource; a delete is a version with deleted = 1 and no body.
CREATE TABLE resource_versions (
    tenant TEXT NOT NULL REFERENCES tenants (name),
    resource_type TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq INTEGER NOT NULL UNIQUE,
    last_updated INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    body TEXT,
    PRIMARY KEY (tenant, resource_type, id, version)
);

-- History of a tenant and the change log (tenant + seq); type history (tenant + type + seq).
-- Instance history uses the primary key.
CREATE INDEX resource_versions_tenant_seq ON resource_versions (tenant, seq);
CREATE INDEX resource_versions_type_seq ON resource_versions (tenant, resource_type, seq);
