-- 0009: name frequencies kept as counters, so that a registration reads them by key
-- instead of counting the records holding its names (term-frequency adjustment).
--
-- kind 'given' counts active records per first given name, 'family' per family name, and
-- 'total' (name '') counts all active records. Statement triggers on source_record keep
-- the counters in the same transaction as the change, set-based (one statement per
-- statement). Each connection adds to its own slot (backend pid mod 16), so concurrent
-- registrations of people with the same name never wait for each other's counter row;
-- a count is the sum over the slots.
CREATE TABLE name_frequency (
    kind  text NOT NULL CHECK (kind IN ('given', 'family', 'total')),
    name  text NOT NULL,
    slot  smallint NOT NULL,
    n     bigint NOT NULL,
    PRIMARY KEY (kind, name, slot)
);

INSERT INTO name_frequency (kind, name, slot, n)
SELECT kind, name, 0, count(*) FROM (
    SELECT 'given' AS kind, given_names[1] AS name FROM source_record
    WHERE status = 'active' AND given_names[1] IS NOT NULL
    UNION ALL
    SELECT 'family', family_name FROM source_record
    WHERE status = 'active' AND family_name IS NOT NULL
    UNION ALL
    SELECT 'total', '' FROM source_record WHERE status = 'active'
) names
GROUP BY kind, name;

CREATE FUNCTION name_frequency_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT kind, name, pg_backend_pid() % 16, sum(d) FROM (
            SELECT 'given' AS kind, given_names[1] AS name, 1 AS d FROM new_records
            WHERE status = 'active' AND given_names[1] IS NOT NULL
            UNION ALL
            SELECT 'family', family_name, 1 FROM new_records
            WHERE status = 'active' AND family_name IS NOT NULL
            UNION ALL
            SELECT 'total', '', 1 FROM new_records WHERE status = 'active'
        ) changes
        GROUP BY kind, name ORDER BY kind, name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT kind, name, pg_backend_pid() % 16, sum(d) FROM (
            SELECT 'given' AS kind, given_names[1] AS name, 1 AS d FROM new_records
            WHERE status = 'active' AND given_names[1] IS NOT NULL
            UNION ALL
            SELECT 'family', family_name, 1 FROM new_records
            WHERE status = 'active' AND family_name IS NOT NULL
            UNION ALL
            SELECT 'total', '', 1 FROM new_records WHERE status = 'active'
            UNION ALL
            SELECT 'given', given_names[1], -1 FROM old_records
            WHERE status = 'active' AND given_names[1] IS NOT NULL
            UNION ALL
            SELECT 'family', family_name, -1 FROM old_records
            WHERE status = 'active' AND family_name IS NOT NULL
            UNION ALL
            SELECT 'total', '', -1 FROM old_records WHERE status = 'active'
        ) changes
        GROUP BY kind, name HAVING sum(d) <> 0 ORDER BY kind, name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    ELSE
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT kind, name, pg_backend_pid() % 16, -sum(d) FROM (
            SELECT 'given' AS kind, given_names[1] AS name, 1 AS d FROM old_records
            WHERE status = 'active' AND given_names[1] IS NOT NULL
            UNION ALL
            SELECT 'family', family_name, 1 FROM old_records
            WHERE status = 'active' AND family_name IS NOT NULL
            UNION ALL
            SELECT 'total', '', 1 FROM old_records WHERE status = 'active'
        ) changes
        GROUP BY kind, name ORDER BY kind, name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER source_record_names_inserted
    AFTER INSERT ON source_record REFERENCING NEW TABLE AS new_records
    FOR EACH STATEMENT EXECUTE FUNCTION name_frequency_count();
CREATE TRIGGER source_record_names_updated
    AFTER UPDATE ON source_record REFERENCING OLD TABLE AS old_records NEW TABLE AS new_records
    FOR EACH STATEMENT EXECUTE FUNCTION name_frequency_count();
CREATE TRIGGER source_record_names_deleted
    AFTER DELETE ON source_record REFERENCING OLD TABLE AS old_records
    FOR EACH STATEMENT EXECUTE FUNCTION name_frequency_count();

-- Emptying the records empties the counters (also when triggers are bypassed for a reset).
CREATE FUNCTION name_frequency_restart() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE name_frequency;
    RETURN NULL;
END $$;
CREATE TRIGGER source_record_truncated
    AFTER TRUNCATE ON source_record
    FOR EACH STATEMENT EXECUTE FUNCTION name_frequency_restart();

ALTER TABLE source_record ENABLE ALWAYS TRIGGER source_record_names_inserted;
ALTER TABLE source_record ENABLE ALWAYS TRIGGER source_record_names_updated;
ALTER TABLE source_record ENABLE ALWAYS TRIGGER source_record_names_deleted;
ALTER TABLE source_record ENABLE ALWAYS TRIGGER source_record_truncated;
