-- 0020: identity events under the disclosure rule (mpi.access.rule). An event stream has
-- no emergency purpose, so a system may see a person in an event only where it holds an
-- active record linked to that person, or to the person it was merged into. Any other
-- person's enterprise ID in an event is left out (a review opened on another system's
-- patient, a record moved away from a person the system no longer holds), for webhooks
-- here and for GET /v1/events in mpi.store.access.events_for_system.

CREATE FUNCTION system_sees_person(system integer, person bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE chain(id, merged_into, depth) AS (
        SELECT p.id, p.merged_into, 0 FROM person p WHERE p.id = person
        UNION ALL
        SELECT p.id, p.merged_into, c.depth + 1
        FROM person p JOIN chain c ON p.id = c.merged_into
        WHERE c.depth < 20)
    SELECT EXISTS (
        SELECT 1 FROM chain
        JOIN link l ON l.person_id = chain.id
        JOIN source_record r ON r.id = l.record_id
        WHERE r.system_id = system AND r.status = 'active')
$$;

CREATE OR REPLACE FUNCTION enqueue_webhooks_for_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE active) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_outbox (subscription_id, event_id, payload)
    SELECT w.id, e.id, jsonb_strip_nulls(jsonb_build_object(
        'id', e.id,
        'type', e.event_type,
        'person_id', CASE WHEN w.all_events OR seen.person
            THEN (SELECT person_id FROM person WHERE id = e.person_id) END,
        'other_person_id', CASE WHEN w.all_events OR seen.other
            THEN (SELECT person_id FROM person WHERE id = e.other_person_id) END,
        'record', (SELECT jsonb_build_object('system', s.code, 'local_id', r.local_id)
                   FROM source_record r JOIN source_system s ON s.id = r.system_id
                   WHERE r.id = e.record_id AND (r.system_id = w.system_id OR w.all_events)),
        'occurred_at', e.occurred_at))
    FROM new_events e
    JOIN webhook_subscription w ON w.active
    CROSS JOIN LATERAL (SELECT
        e.person_id IS NOT NULL AND system_sees_person(w.system_id, e.person_id) AS person,
        e.other_person_id IS NOT NULL
            AND system_sees_person(w.system_id, e.other_person_id) AS other,
        EXISTS (SELECT 1 FROM source_record r
                WHERE r.id = e.record_id AND r.system_id = w.system_id) AS own) seen
    WHERE w.all_events OR seen.person OR seen.other OR seen.own
    ORDER BY e.id, w.id;
    RETURN NULL;
END $$;
