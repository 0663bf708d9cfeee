-- 0013: postcode frequencies kept with the name frequencies (term-frequency adjustment of
-- an exact postcode agreement: a care home or student halls is shared by many strangers).
--
-- kind 'postcode' counts active records per canonical postcode ("SE15 4QT"), in the same
-- slots as the names (migration 0009). A missing postcode is not counted, nor an NHS
-- pseudo-postcode: normalisation stores ZZ99 as NULL (issue ``postcode_pseudo``), and a
-- ZZ99 value that reached the column some other way is left out too, as it is no evidence.
ALTER TABLE name_frequency DROP CONSTRAINT name_frequency_kind_check;
ALTER TABLE name_frequency ADD CONSTRAINT name_frequency_kind_check
    CHECK (kind IN ('given', 'family', 'postcode', 'total'));

INSERT INTO name_frequency (kind, name, slot, n)
SELECT 'postcode', postcode, 0, count(*) FROM source_record
WHERE status = 'active' AND postcode IS NOT NULL AND postcode NOT LIKE 'ZZ99%'
GROUP BY postcode;

-- The terms one record counts for (none when it is not active), for the trigger below: a
-- one-SELECT SQL function, which the planner inlines into the trigger's queries.
CREATE FUNCTION name_frequency_terms(r source_record) RETURNS TABLE (kind text, name text)
LANGUAGE sql IMMUTABLE AS $$
    SELECT k.kind, k.name
    FROM (VALUES
        ('given', r.given_names[1]),
        ('family', r.family_name),
        ('postcode', CASE WHEN r.postcode NOT LIKE 'ZZ99%' THEN r.postcode END),
        ('total', '')
    ) AS k (kind, name)
    WHERE r.status = 'active' AND k.name IS NOT NULL
$$;

-- One pass over each transition table (the insert's new rows, the delete's old rows, or
-- both for an update), every term of a record counted from that one row.
CREATE OR REPLACE FUNCTION name_frequency_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT t.kind, t.name, pg_backend_pid() % 16, count(*)
        FROM new_records r, name_frequency_terms(r) t
        GROUP BY t.kind, t.name ORDER BY t.kind, t.name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT kind, name, pg_backend_pid() % 16, sum(d) FROM (
            SELECT t.kind, t.name, 1 AS d FROM new_records r, name_frequency_terms(r) t
            UNION ALL
            SELECT t.kind, t.name, -1 FROM old_records r, name_frequency_terms(r) t
        ) changes
        GROUP BY kind, name HAVING sum(d) <> 0 ORDER BY kind, name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    ELSE
        INSERT INTO name_frequency AS f (kind, name, slot, n)
        SELECT t.kind, t.name, pg_backend_pid() % 16, -count(*)
        FROM old_records r, name_frequency_terms(r) t
        GROUP BY t.kind, t.name ORDER BY t.kind, t.name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;
