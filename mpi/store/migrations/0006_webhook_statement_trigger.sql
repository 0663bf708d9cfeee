-- 0006: enqueue webhook deliveries once per statement (a bulk load appends thousands of
-- identity events in one COPY; a row trigger ran a query per event even with no
-- subscriptions). Same rows as 0003's trigger, from the statement's transition table.
DROP TRIGGER identity_event_webhooks ON identity_event;

CREATE FUNCTION enqueue_webhooks_for_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscription WHERE active) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_outbox (subscription_id, event_id, payload)
    SELECT w.id, e.id, jsonb_strip_nulls(jsonb_build_object(
        'id', e.id,
        'type', e.event_type,
        'person_id', (SELECT person_id FROM person WHERE id = e.person_id),
        'other_person_id', (SELECT person_id FROM person WHERE id = e.other_person_id),
        'record', (SELECT jsonb_build_object('system', s.code, 'local_id', r.local_id)
                   FROM source_record r JOIN source_system s ON s.id = r.system_id
                   WHERE r.id = e.record_id AND r.system_id = w.system_id),
        'occurred_at', e.occurred_at))
    FROM new_events e
    JOIN webhook_subscription w ON w.active
    WHERE w.all_events OR EXISTS (
        SELECT 1 FROM link l JOIN source_record r ON r.id = l.record_id
        WHERE r.system_id = w.system_id AND r.status = 'active'
          AND l.person_id IN (e.person_id, e.other_person_id))
    ORDER BY e.id, w.id;
    RETURN NULL;
END $$;

CREATE TRIGGER identity_event_webhooks
    AFTER INSERT ON identity_event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION enqueue_webhooks_for_statement();
