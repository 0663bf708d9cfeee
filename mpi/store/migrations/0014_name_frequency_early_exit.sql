-- 0014: the name-counter trigger (migrations 0009, 0013) returns at once when its
-- statement changed no row.
--
-- An INSERT … ON CONFLICT DO UPDATE fires both the AFTER INSERT and the AFTER UPDATE
-- statement triggers, whichever way each row went, so a registration's upsert ran the
-- counting query of the other kind over an empty transition table (planning aside, a
-- grouped, sorted INSERT … ON CONFLICT into name_frequency that writes nothing). The
-- counts are unchanged: an empty transition table counted nothing before either.
CREATE OR REPLACE FUNCTION name_frequency_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT FROM new_records) THEN
            RETURN NULL;
        END IF;
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT t.kind, t.name, pg_backend_pid() % 16, count(*)
        FROM new_records r, name_frequency_terms(r) t
        GROUP BY t.kind, t.name ORDER BY t.kind, t.name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NOT EXISTS (SELECT FROM new_records) THEN
            RETURN NULL;
        END IF;
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT kind, name, pg_backend_pid() % 16, sum(d) FROM (
            SELECT t.kind, t.name, 1 AS d FROM new_records r, name_frequency_terms(r) t
            UNION ALL
            SELECT t.kind, t.name, -1 FROM old_records r, name_frequency_terms(r) t
        ) changes
        GROUP BY kind, name HAVING sum(d) <> 0 ORDER BY kind, name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    ELSE
        IF NOT EXISTS (SELECT FROM old_records) THEN
            RETURN NULL;
        END IF;
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT t.kind, t.name, pg_backend_pid() % 16, -count(*)
        FROM old_records r, name_frequency_terms(r) t
        GROUP BY t.kind, t.name ORDER BY t.kind, t.name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;
