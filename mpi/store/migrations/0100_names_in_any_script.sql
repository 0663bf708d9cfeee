-- 0100: names in any script (issue 10, finding 6).
--
-- Names in a script other than Latin are transliterated to Latin for matching (the
-- given_names, family_name, phonetic and blocking columns hold the transliteration), and
-- their original-script form is kept here, so that two records in one script are compared
-- in it. Empty for a Latin name.
ALTER TABLE source_record
    ADD COLUMN given_script  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN family_script text[] NOT NULL DEFAULT '{}';

-- Records stored before this lost such names entirely (nothing comparable was left, and
-- matching read them as missing). Mark them name_not_comparable, so that from now on they
-- never link on demographics alone; `mpi db renormalise` (or the record sent again with a
-- change) stores their transliteration. A CSV row or /v1 body keeps the names in
-- given_name and family_name, a FHIR Patient in name[].
UPDATE source_record SET issues = array_append(issues, 'name_not_comparable')
WHERE NOT ('name_not_comparable' = ANY (issues))
  AND (
    (given_names = '{}' AND (
        btrim(coalesce(raw ->> 'given_name', '')) <> ''
        OR jsonb_path_exists(raw, '$.name[*].given[*] ? (@.type() == "string" && @ like_regex "[^[:space:]]")')))
    OR (family_name IS NULL AND (
        btrim(coalesce(raw ->> 'family_name', '')) <> ''
        OR jsonb_path_exists(raw, '$.name[*].family ? (@.type() == "string" && @ like_regex "[^[:space:]]")')))
  );
