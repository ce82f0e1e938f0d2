-- The versioned resource store (PostgreSQL).
-- Applied by fhir-core's own migration runner (fhir-core/src/store/migrate.rs) in one transaction,
-- as the connecting user, who owns the tables. The application then works as `fhir_app`.

-- The application role: owns nothing, cannot log in, is subject to row-level security.
-- Roles are cluster-wide: several databases of one cluster share it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fhir_app') THEN
        BEGIN
            CREATE ROLE fhir_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created concurrently (another database of the cluster)
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'fhir_app', 'MEMBER') THEN
        GRANT fhir_app TO CURRENT_USER;
    END IF;
END
$$;

-- Tenants: every resource row carries its tenant. No tenant column, so no row-level security.
CREATE TABLE tenants (
    name text NOT NULL PRIMARY KEY,
    created_at bigint NOT NULL
);

-- The single counter row of the database-wide change sequence, and the last `last_updated`
-- handed out. Each write updates it inside its transaction: the row lock orders commits.
CREATE TABLE change_counter (
    id smallint NOT NULL PRIMARY KEY CHECK (id = 1),
    value bigint NOT NULL,
    last_millis bigint NOT NULL
);
INSERT INTO change_counter (id, value, last_millis) VALUES (1, 0, 0);

-- The head of every resource: its current version (possibly a tombstone).
CREATE TABLE resources (
    tenant text NOT NULL REFERENCES tenants (name),
    resource_type text NOT NULL,
    id text NOT NULL,
    version bigint NOT NULL,
    deleted boolean NOT NULL,
    last_updated bigint NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
);

-- Every version of every resource; a delete is a version with deleted = true and no body.
CREATE TABLE resource_versions (
    tenant text NOT NULL REFERENCES tenants (name),
    resource_type text NOT NULL,
    id text NOT NULL,
    version bigint NOT NULL,
    seq bigint NOT NULL UNIQUE,
    last_updated bigint NOT NULL,
    deleted boolean NOT NULL,
    body jsonb,
    -- The body as text, only when JSONB would rewrite one of its numbers (exponents, -0):
    -- FHIR decimals keep their written form.
    body_exact text,
    PRIMARY KEY (tenant, resource_type, id, version)
);

CREATE INDEX resource_versions_tenant_seq ON resource_versions (tenant, seq);
CREATE INDEX resource_versions_type_seq ON resource_versions (tenant, resource_type, seq);

-- Row-level security: a session sees and writes only the rows of the tenant named by the
-- transaction-local setting `app.tenant`; with no tenant set it sees nothing.
ALTER TABLE resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE resources FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON resources
    USING (tenant = current_setting('app.tenant', true))
    WITH CHECK (tenant = current_setting('app.tenant', true));

ALTER TABLE resource_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE resource_versions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON resource_versions
    USING (tenant = current_setting('app.tenant', true))
    WITH CHECK (tenant = current_setting('app.tenant', true));

GRANT USAGE ON SCHEMA public TO fhir_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, resources, resource_versions TO fhir_app;
GRANT SELECT, UPDATE ON change_counter TO fhir_app;
