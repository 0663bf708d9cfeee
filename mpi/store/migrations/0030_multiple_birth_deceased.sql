-- 0030: multiple birth and death of a source record (issue 10, finding 8).
--
-- multiple_birth and birth_order (1 = first-born) are safety evidence for matching: two
-- different birth orders, or a multiple birth with another given name, never link
-- automatically. deceased and deceased_at (an ISO date or date-time as sent) are shown
-- in the golden view. NULL: the system did not say.
ALTER TABLE source_record
    ADD COLUMN multiple_birth boolean,
    ADD COLUMN birth_order    smallint CHECK (birth_order BETWEEN 1 AND 16),
    ADD COLUMN deceased       boolean,
    ADD COLUMN deceased_at    text;

-- FHIR Patients stored before this kept the elements in their raw payload: take them from
-- there (the values the FHIR checks let through; a birth order means a multiple birth, a
-- death date a death).
UPDATE source_record SET
    birth_order = CASE WHEN jsonb_typeof(raw -> 'multipleBirthInteger') = 'number'
        AND (raw ->> 'multipleBirthInteger') ~ '^[0-9]{1,2}$'
        AND (raw ->> 'multipleBirthInteger')::int BETWEEN 1 AND 16
        THEN (raw ->> 'multipleBirthInteger')::smallint END,
    multiple_birth = CASE
        WHEN jsonb_typeof(raw -> 'multipleBirthBoolean') = 'boolean'
            THEN (raw ->> 'multipleBirthBoolean')::boolean
        WHEN jsonb_typeof(raw -> 'multipleBirthInteger') = 'number'
            AND (raw ->> 'multipleBirthInteger') ~ '^[0-9]{1,2}$'
            AND (raw ->> 'multipleBirthInteger')::int BETWEEN 1 AND 16 THEN true END,
    deceased = CASE
        WHEN jsonb_typeof(raw -> 'deceasedBoolean') = 'boolean'
            THEN (raw ->> 'deceasedBoolean')::boolean
        WHEN (raw ->> 'deceasedDateTime') ~ '^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?' THEN true END,
    deceased_at = CASE WHEN (raw ->> 'deceasedDateTime') ~ '^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?'
        THEN raw ->> 'deceasedDateTime' END
WHERE raw ->> 'resourceType' = 'Patient'
  AND (raw ?| ARRAY['multipleBirthBoolean', 'multipleBirthInteger', 'deceasedBoolean',
                    'deceasedDateTime']);
