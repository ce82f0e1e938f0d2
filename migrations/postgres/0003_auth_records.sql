-- Small records of the authorization server (smart-auth): users, clients, signing keys, grants,
-- authorization codes, sessions, replay markers. One table of (tenant, kind, key) → JSON value,
-- with an optional expiry after which a record no longer exists for readers. Isolated by tenant
-- with row-level security like the resource tables.
CREATE TABLE auth_records (
    tenant text NOT NULL REFERENCES tenants (name),
    kind text NOT NULL,
    key text NOT NULL,
    value text NOT NULL,
    -- Milliseconds since the epoch; a record that never expires has the largest value.
    expires_at bigint NOT NULL,
    PRIMARY KEY (tenant, kind, key)
);

CREATE INDEX auth_records_expiry ON auth_records (expires_at);

ALTER TABLE auth_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth_records FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON auth_records
    USING (tenant = current_setting('app.tenant', true))
    WITH CHECK (tenant = current_setting('app.tenant', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON auth_records TO fhir_app;
