-- 0001: the identity core.
CREATE TABLE IF NOT EXISTS schema_migration (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

-- A connected system: hospital EPR, GP practice system, mental health, social care, portal.
CREATE TABLE source_system (
    id          serial PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    name        text NOT NULL,
    kind        text NOT NULL
                CHECK (kind IN ('hospital', 'gp', 'mental-health', 'social-care', 'portal')),
    trust_rank  integer NOT NULL DEFAULT 5 CHECK (trust_rank BETWEEN 1 AND 9),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- An identity: one real person, known by an opaque, stable enterprise ID.
CREATE TABLE person (
    id           bigserial PRIMARY KEY,
    person_id    text NOT NULL UNIQUE,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'merged')),
    merged_into  bigint REFERENCES person (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'merged') = (merged_into IS NOT NULL))
);

-- One connected system's record of a person: raw payload verbatim plus normalised fields.
CREATE TABLE source_record (
    id               bigserial PRIMARY KEY,
    system_id        integer NOT NULL REFERENCES source_system (id),
    local_id         text NOT NULL CHECK (length(local_id) BETWEEN 1 AND 128),
    raw              jsonb NOT NULL,
    content_hash     text NOT NULL,
    nhs_number       text,
    nhs_verified     boolean NOT NULL DEFAULT false,
    given_names      text[] NOT NULL DEFAULT '{}',
    family_name      text,
    family_parts     text[] NOT NULL DEFAULT '{}',
    birth_date       date,
    sex              text,
    postcode         text,
    address          text,
    phone            text,
    given_phonetic   text,
    family_phonetic  text,
    issues           text[] NOT NULL DEFAULT '{}',
    blocking_keys    text[] NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'withdrawn')),
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (system_id, local_id)
);
CREATE INDEX source_record_nhs_number ON source_record (nhs_number) WHERE nhs_number IS NOT NULL;

-- Blocking keys, computed in Python (no contrib extensions needed), one row per key.
CREATE TABLE blocking_key (
    key        text NOT NULL,
    record_id  bigint NOT NULL REFERENCES source_record (id) ON DELETE CASCADE,
    PRIMARY KEY (key, record_id)
);
CREATE INDEX blocking_key_record ON blocking_key (record_id);

-- The golden cross-reference: every record is linked to exactly one person.
CREATE TABLE link (
    record_id      bigint PRIMARY KEY REFERENCES source_record (id),
    person_id      bigint NOT NULL REFERENCES person (id),
    method         text NOT NULL CHECK (method IN ('auto', 'manual')),
    probability    double precision,
    weight         double precision,
    model_version  text,
    linked_at      timestamptz NOT NULL DEFAULT now(),
    linked_by      text NOT NULL
);
CREATE INDEX link_person ON link (person_id);

-- Every change of a link, so that any decision can be undone.
CREATE TABLE link_history (
    id                  bigserial PRIMARY KEY,
    record_id           bigint NOT NULL REFERENCES source_record (id),
    person_id           bigint REFERENCES person (id),
    previous_person_id  bigint REFERENCES person (id),
    method              text NOT NULL,
    probability         double precision,
    reason              text NOT NULL,
    changed_by          text NOT NULL,
    changed_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_history_record ON link_history (record_id);

-- Uncertain matches waiting for a data-quality decision.
CREATE TABLE review_item (
    id                   bigserial PRIMARY KEY,
    record_id            bigint NOT NULL REFERENCES source_record (id),
    candidate_person_id  bigint NOT NULL REFERENCES person (id),
    candidate_record_id  bigint REFERENCES source_record (id),
    probability          double precision NOT NULL,
    weight               double precision NOT NULL,
    reason               text NOT NULL,
    explanation          jsonb NOT NULL,
    status               text NOT NULL DEFAULT 'open'
                         CHECK (status IN ('open', 'linked', 'rejected', 'superseded')),
    version              integer NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    decided_at           timestamptz,
    decided_by           text
);
CREATE UNIQUE INDEX review_item_open ON review_item (record_id, candidate_person_id)
    WHERE status = 'open';
CREATE INDEX review_item_candidate ON review_item (candidate_person_id) WHERE status = 'open';

-- Record pairs declared to be different people; matching never links across them.
CREATE TABLE no_match (
    record_a     bigint NOT NULL REFERENCES source_record (id),
    record_b     bigint NOT NULL REFERENCES source_record (id),
    asserted_by  text NOT NULL,
    reason       text,
    asserted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_a, record_b),
    CHECK (record_a < record_b)
);
CREATE INDEX no_match_b ON no_match (record_b);

-- The append-only identity event log that viewers read.
CREATE TABLE identity_event (
    id               bigserial PRIMARY KEY,
    event_type       text NOT NULL CHECK (event_type IN (
                         'person_created', 'record_linked', 'record_moved', 'record_updated',
                         'record_withdrawn', 'persons_merged', 'person_split', 'review_opened')),
    person_id        bigint REFERENCES person (id),
    other_person_id  bigint REFERENCES person (id),
    record_id        bigint REFERENCES source_record (id),
    detail           jsonb NOT NULL DEFAULT '{}',
    actor            text NOT NULL,
    occurred_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identity_event_person ON identity_event (person_id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER identity_event_append_only
    BEFORE UPDATE OR DELETE ON identity_event
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER identity_event_no_truncate
    BEFORE TRUNCATE ON identity_event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER link_history_append_only
    BEFORE UPDATE OR DELETE ON link_history
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
