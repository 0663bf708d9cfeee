-- 0080: review items that stop making sense close by themselves, whatever path got them
-- there (a bulk load bridging two persons, a manual merge, another reviewer's decision,
-- an undo); the first reviewer's note is kept; skips remember who skipped; a session can
-- carry a note typed before it expired through the sign-in round trip.

ALTER TABLE review_item
    ADD COLUMN first_review_note text
        CHECK (first_review_note IS NULL OR length(first_review_note) <= 1000),
    ADD COLUMN skipped_by text[] NOT NULL DEFAULT '{}';
ALTER TABLE review_decision
    ADD COLUMN first_note text CHECK (first_note IS NULL OR length(first_note) <= 1000);
ALTER TABLE reviewer_session ADD COLUMN carried jsonb;

-- An open item whose record is already linked to its candidate person has nothing left
-- to decide: it is closed as superseded (on opening, re-opening or re-targeting). An AFTER
-- trigger, so that it sees the links its statement wrote (a registration writes links and
-- items in one statement).
CREATE FUNCTION review_item_not_within_one_person() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = 'system',
           version = i.version + 1
     WHERE i.id = NEW.id AND i.status = 'open'
       AND EXISTS (SELECT 1 FROM link l
                   WHERE l.record_id = i.record_id AND l.person_id = i.candidate_person_id);
    RETURN NULL;
END $$;

CREATE TRIGGER review_item_within_one_person
    AFTER INSERT OR UPDATE OF status, candidate_person_id ON review_item
    FOR EACH ROW WHEN (NEW.status = 'open')
    EXECUTE FUNCTION review_item_not_within_one_person();

-- A record moved into the candidate person of its open item: the item is superseded.
CREATE FUNCTION review_items_follow_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE review_item SET status = 'superseded', decided_at = now(), decided_by = 'system',
           version = version + 1
     WHERE status = 'open' AND record_id = NEW.record_id
       AND candidate_person_id = NEW.person_id;
    RETURN NULL;
END $$;

CREATE TRIGGER link_moved_review_items
    AFTER UPDATE OF person_id ON link
    FOR EACH ROW WHEN (OLD.person_id IS DISTINCT FROM NEW.person_id)
    EXECUTE FUNCTION review_items_follow_link();

-- A candidate person merged into another: its open items name the survivor instead (an
-- item already open for the same record and the survivor makes one a duplicate, and an
-- item whose record is in the survivor is superseded by the trigger above).
CREATE FUNCTION review_items_follow_merge_of(gone bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    survivor bigint;
    state text;
    next bigint;
    hops integer := 0;
BEGIN
    SELECT merged_into INTO survivor FROM person WHERE id = gone;
    LOOP
        EXIT WHEN survivor IS NULL OR hops > 64;
        SELECT status, merged_into INTO state, next FROM person WHERE id = survivor;
        EXIT WHEN state = 'active' OR next IS NULL;
        survivor := next;
        hops := hops + 1;
    END LOOP;
    IF survivor IS NULL OR survivor = gone THEN
        RETURN;
    END IF;
    -- an item of the same record already names the survivor: this one is a duplicate
    UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = 'system',
           version = i.version + 1
     WHERE i.status = 'open' AND i.candidate_person_id = gone
       AND EXISTS (SELECT 1 FROM review_item o WHERE o.status = 'open'
                   AND o.record_id = i.record_id AND o.candidate_person_id = survivor);
    UPDATE review_item SET candidate_person_id = survivor, version = version + 1
     WHERE status = 'open' AND candidate_person_id = gone;
END $$;

CREATE FUNCTION review_items_follow_merge() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM review_items_follow_merge_of(NEW.id);
    RETURN NULL;
END $$;

CREATE TRIGGER person_merged_review_items
    AFTER UPDATE OF status ON person
    FOR EACH ROW WHEN (NEW.status = 'merged' AND OLD.status IS DISTINCT FROM 'merged')
    EXECUTE FUNCTION review_items_follow_merge();

-- Close the items already in that state.
DO $$
DECLARE
    gone bigint;
BEGIN
    FOR gone IN SELECT DISTINCT i.candidate_person_id FROM review_item i
                JOIN person p ON p.id = i.candidate_person_id
                WHERE i.status = 'open' AND p.status = 'merged' ORDER BY 1
    LOOP
        PERFORM review_items_follow_merge_of(gone);
    END LOOP;
END $$;
UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = 'system',
       version = i.version + 1
  FROM link l
 WHERE i.status = 'open' AND l.record_id = i.record_id AND l.person_id = i.candidate_person_id;

-- A merge a reviewer asked for from a person page across different valid NHS numbers
-- (0008 stored it as an NHS number conflict with no score) is labelled as what it is.
UPDATE review_item SET reason = 'merge_request'
 WHERE reason = 'nhs_number_conflict' AND explanation = '[]'::jsonb AND weight = 0
   AND probability = 0.5 AND first_review_by IS NOT NULL;
