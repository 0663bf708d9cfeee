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

CREATE OR REPLACE FUNCTION name_frequency_count() RETURNS trigger LANGUAGE plpgsql AS $$
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
            SELECT 'postcode', postcode, 1 FROM new_records
            WHERE status = 'active' AND postcode IS NOT NULL AND postcode NOT LIKE 'ZZ99%'
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
            SELECT 'postcode', postcode, 1 FROM new_records
            WHERE status = 'active' AND postcode IS NOT NULL AND postcode NOT LIKE 'ZZ99%'
            UNION ALL
            SELECT 'total', '', 1 FROM new_records WHERE status = 'active'
            UNION ALL
            SELECT 'given', given_names[1], -1 FROM old_records
            WHERE status = 'active' AND given_names[1] IS NOT NULL
            UNION ALL
            SELECT 'family', family_name, -1 FROM old_records
            WHERE status = 'active' AND family_name IS NOT NULL
            UNION ALL
            SELECT 'postcode', postcode, -1 FROM old_records
            WHERE status = 'active' AND postcode IS NOT NULL AND postcode NOT LIKE 'ZZ99%'
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
            SELECT 'postcode', postcode, 1 FROM old_records
            WHERE status = 'active' AND postcode IS NOT NULL AND postcode NOT LIKE 'ZZ99%'
            UNION ALL
            SELECT 'total', '', 1 FROM old_records WHERE status = 'active'
        ) changes
        GROUP BY kind, name ORDER BY kind, name
        ON CONFLICT (kind, name, slot) DO UPDATE SET n = f.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;
