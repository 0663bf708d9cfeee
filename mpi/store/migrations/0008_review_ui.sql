-- 0008: the data-quality review web UI: reviewer accounts and sessions, claims and
-- four-eyes on review items, and the log of reviewers' decisions (so each can be undone).

-- A reviewer or admin of the web UI. Only an argon2id hash of the password is kept.
CREATE TABLE reviewer (
    id             serial PRIMARY KEY,
    username       text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,63}$'),
    display_name   text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 128),
    role           text NOT NULL CHECK (role IN ('reviewer', 'admin')),
    password_hash  text NOT NULL,
    is_active      boolean NOT NULL DEFAULT true,
    failed_logins  integer NOT NULL DEFAULT 0,
    locked_until   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_login_at  timestamptz
);

-- A signed-in browser session: the cookie holds a random token, only its SHA-256 is kept.
-- Each session has its own CSRF token, which every form must send back.
CREATE TABLE reviewer_session (
    token_hash    text PRIMARY KEY,
    reviewer_id   integer NOT NULL REFERENCES reviewer (id) ON DELETE CASCADE,
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX reviewer_session_reviewer ON reviewer_session (reviewer_id);

-- Claims (one reviewer works an item at a time) and the first of two reviews.
ALTER TABLE review_item
    ADD COLUMN claimed_by       text,
    ADD COLUMN claimed_at       timestamptz,
    ADD COLUMN first_review_by  text,
    ADD COLUMN first_review_at  timestamptz,
    ADD COLUMN skips            integer NOT NULL DEFAULT 0;
CREATE INDEX review_item_open_created ON review_item (created_at) WHERE status = 'open';
CREATE INDEX review_item_decided_at ON review_item (decided_at) WHERE decided_at IS NOT NULL;

-- Every change a reviewer made, with what it changed, so that it can be undone.
-- ``changes`` lists the link moves ({record, from, to, method, probability}), the
-- persons merged ({person, into}), the no-match pairs asserted and the item closed.
CREATE TABLE review_decision (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('link', 'no_match', 'merge', 'split', 'undo')),
    review_item_id  bigint REFERENCES review_item (id),
    person_id       bigint REFERENCES person (id),
    other_person_id bigint REFERENCES person (id),
    changes         jsonb NOT NULL,
    note            text CHECK (note IS NULL OR length(note) <= 1000),
    decided_by      text NOT NULL,
    second_by       text,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    undone_at       timestamptz,
    undone_by       text,
    undo_of         bigint REFERENCES review_decision (id),
    version         integer NOT NULL DEFAULT 1
);
CREATE INDEX review_decision_person ON review_decision (person_id);
CREATE INDEX review_decision_other ON review_decision (other_person_id);
CREATE INDEX review_decision_day ON review_decision (decided_at);

-- Reviewers' decisions and their undoing are identity events too.
ALTER TABLE identity_event DROP CONSTRAINT identity_event_event_type_check;
ALTER TABLE identity_event ADD CONSTRAINT identity_event_event_type_check CHECK (event_type IN (
    'person_created', 'record_linked', 'record_moved', 'record_updated', 'record_withdrawn',
    'persons_merged', 'person_split', 'review_opened', 'review_decided', 'no_match_asserted',
    'decision_undone', 'person_restored'));

-- Searching the identity pages by local ID or birth date (names use 0002's index).
CREATE INDEX source_record_local_id ON source_record (local_id);
CREATE INDEX source_record_birth_date ON source_record (birth_date) WHERE status = 'active';
