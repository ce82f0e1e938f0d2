-- Small records of the authorization server (smart-auth): users, clients, signing keys, grants,
-- authorization codes, sessions, replay markers. One table of (tenant, kind, key) → JSON value,
-- with an optional expiry after which a record no longer exists for readers.
CREATE TABLE auth_records (
    tenant TEXT NOT NULL REFERENCES tenants (name),
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    -- Milliseconds since the epoch; a record that never expires has the largest value.
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, key)
) WITHOUT ROWID;

CREATE INDEX auth_records_expiry ON auth_records (expires_at);
