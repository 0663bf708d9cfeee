-- 0003: the HTTP service: identifier systems, API tokens, opt-outs, audit, webhooks.

-- Each connected system registers one identifier system URI (its assigning authority).
ALTER TABLE source_system ADD COLUMN identifier_system text UNIQUE
    CHECK (identifier_system IS NULL OR length(identifier_system) BETWEEN 1 AND 255);

-- Bearer tokens: only the SHA-256 of the token is kept; the token is shown once.
CREATE TABLE api_token (
    id          serial PRIMARY KEY,
    system_id   integer NOT NULL REFERENCES source_system (id),
    token_hash  text NOT NULL UNIQUE,
    scopes      text[] NOT NULL CHECK (
                    scopes <@ ARRAY['register', 'lookup', 'review', 'admin']::text[]
                    AND cardinality(scopes) > 0),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX api_token_system ON api_token (system_id) WHERE revoked_at IS NULL;

-- A patient's objection to the shared record: still matched, never disclosed to others.
CREATE TABLE opt_out (
    person_id    bigint PRIMARY KEY REFERENCES person (id),
    reason       text NOT NULL,
    recorded_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);

-- The audit trail: one row per request touching a patient, append-only and hash-chained.
CREATE TABLE audit_event (
    id              bigserial PRIMARY KEY,
    recorded_at     timestamptz NOT NULL,
    system_code     text,
    user_id         text,
    user_role       text,
    user_org        text,
    purpose         text NOT NULL,
    emergency       boolean NOT NULL DEFAULT false,
    action          text NOT NULL,
    subtype         text NOT NULL CHECK (subtype IN ('create', 'read', 'update', 'delete',
                                                     'search', 'execute')),
    person_ids      text[] NOT NULL DEFAULT '{}',
    records         jsonb NOT NULL DEFAULT '[]',
    outcome         text NOT NULL,
    http_status     integer NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}',
    client_address  text,
    request_id      text,
    prev_hash       text NOT NULL,
    hash            text NOT NULL UNIQUE
);
CREATE INDEX audit_event_person ON audit_event USING gin (person_ids);

CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Webhook subscriptions of connected systems; the secret signs payloads (HMAC-SHA256).
CREATE TABLE webhook_subscription (
    id          serial PRIMARY KEY,
    system_id   integer NOT NULL REFERENCES source_system (id),
    url         text NOT NULL CHECK (url ~ '^https?://'),
    secret      text NOT NULL,
    all_events  boolean NOT NULL DEFAULT false,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The outbox: one row per (subscription, identity event), written in the transaction of
-- the event itself, delivered at least once with retries and backoff.
CREATE TABLE webhook_outbox (
    id               bigserial PRIMARY KEY,
    subscription_id  integer NOT NULL REFERENCES webhook_subscription (id),
    event_id         bigint NOT NULL REFERENCES identity_event (id),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';

-- Fan an identity event out to the subscriptions allowed to see it: every event for
-- subscriptions with all_events, otherwise only events about persons the subscribing
-- system holds a record for. A record's local ID is included only for its own system.
CREATE FUNCTION enqueue_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox (subscription_id, event_id, payload)
    SELECT w.id, NEW.id, jsonb_strip_nulls(jsonb_build_object(
        'id', NEW.id,
        'type', NEW.event_type,
        'person_id', (SELECT person_id FROM person WHERE id = NEW.person_id),
        'other_person_id', (SELECT person_id FROM person WHERE id = NEW.other_person_id),
        'record', (SELECT jsonb_build_object('system', s.code, 'local_id', r.local_id)
                   FROM source_record r JOIN source_system s ON s.id = r.system_id
                   WHERE r.id = NEW.record_id AND r.system_id = w.system_id),
        'occurred_at', NEW.occurred_at))
    FROM webhook_subscription w
    WHERE w.active AND (w.all_events OR EXISTS (
        SELECT 1 FROM link l JOIN source_record r ON r.id = l.record_id
        WHERE r.system_id = w.system_id AND r.status = 'active'
          AND l.person_id IN (NEW.person_id, NEW.other_person_id)));
    RETURN NULL;
END $$;

CREATE TRIGGER identity_event_webhooks
    AFTER INSERT ON identity_event
    FOR EACH ROW EXECUTE FUNCTION enqueue_webhooks();
