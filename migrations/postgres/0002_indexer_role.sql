-- The search index follows the change sequence of every tenant. It reads as `fhir_indexer`:
-- cannot log in, cannot bypass row-level security in general, may only SELECT versions, and has
-- a policy of its own that lets it see every tenant's versions. Request handling never uses it
-- (it runs as `fhir_app`); the index follower switches to it with `SET LOCAL ROLE` inside one
-- read-only transaction.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fhir_indexer') THEN
        BEGIN
            CREATE ROLE fhir_indexer NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created concurrently (another database of the cluster)
        END;
    END IF;
    IF NOT pg_has_role(current_user, 'fhir_indexer', 'MEMBER') THEN
        GRANT fhir_indexer TO CURRENT_USER;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO fhir_indexer;
GRANT SELECT ON resource_versions, change_counter TO fhir_indexer;
CREATE POLICY indexer_reads_all ON resource_versions FOR SELECT TO fhir_indexer USING (true);
