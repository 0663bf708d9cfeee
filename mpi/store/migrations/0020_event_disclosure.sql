-- 0020: identity events under the disclosure rule (mpi.access.rule). An event stream has
-- no emergency purpose, so a system may see a person in an event only where it holds an
-- active record linked to that person, or to the person it was merged into. Any other
-- person's enterprise ID is left out of the event (a review opened on another system's
-- patient, a record moved away from a person the system no longer holds). The same test
-- is made for GET /v1/events in mpi.store.access.events_for_system.
--
-- Set-based: the persons a batch of events names, each with the persons it was merged
-- into, and the systems holding an active record of any of them, in one statement.

CREATE OR REPLACE FUNCTION enqueue_webhooks_for_statement() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE active) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_outbox (subscription_id, event_id, payload)
    WITH RECURSIVE named(person) AS (
        SELECT person_id FROM new_events WHERE person_id IS NOT NULL
        UNION SELECT other_person_id FROM new_events WHERE other_person_id IS NOT NULL
    ), chain(person, id, depth) AS (
        SELECT person, person, 0 FROM named
        UNION ALL
        SELECT c.person, p.merged_into, c.depth + 1
        FROM chain c JOIN person p ON p.id = c.id
        WHERE p.merged_into IS NOT NULL AND c.depth < 20
    ), seen(person, systems) AS (
        SELECT c.person, array_agg(DISTINCT r.system_id)
        FROM chain c JOIN link l ON l.person_id = c.id
        JOIN source_record r ON r.id = l.record_id AND r.status = 'active'
        GROUP BY c.person
    )
    SELECT w.id, e.id, jsonb_strip_nulls(jsonb_build_object(
        'id', e.id,
        'type', e.event_type,
        'person_id', CASE WHEN w.all_events OR sees.person
            THEN (SELECT person_id FROM person WHERE id = e.person_id) END,
        'other_person_id', CASE WHEN w.all_events OR sees.other
            THEN (SELECT person_id FROM person WHERE id = e.other_person_id) END,
        'record', CASE WHEN sees.own OR w.all_events THEN (
            SELECT jsonb_build_object('system', s.code, 'local_id', er.local_id)
            FROM source_system s WHERE s.id = er.system_id) END,
        'occurred_at', e.occurred_at))
    FROM new_events e
    LEFT JOIN seen sp ON sp.person = e.person_id
    LEFT JOIN seen so ON so.person = e.other_person_id
    LEFT JOIN source_record er ON er.id = e.record_id
    JOIN webhook_subscription w ON w.active
    CROSS JOIN LATERAL (SELECT
        coalesce(w.system_id = ANY (sp.systems), false) AS person,
        coalesce(w.system_id = ANY (so.systems), false) AS other,
        coalesce(er.system_id = w.system_id, false) AS own) sees
    WHERE w.all_events OR sees.person OR sees.other OR sees.own
    ORDER BY e.id, w.id;
    RETURN NULL;
END $$;
