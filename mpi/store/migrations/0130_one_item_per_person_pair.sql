-- 0130: one open review item per pair of persons (issue 11, "half the queue").
--
-- A reviewer's "same person" merges the two persons, and the items between them then
-- close by themselves (0080). So a second open item between the same two persons (another
-- record of one against the other, in either direction) is no second decision, only a
-- second row in the queue: at 20,000 synthetic persons 2,736 open items joined 1,515
-- pairs of persons. A new item that duplicates an open one is closed as superseded when it
-- is opened. Not an item for a relative's NHS number on the wrong record
-- (nhs_number_shared_conflict): that one is about its own record, which needs correcting.
--
-- An AFTER trigger, named to fire after review_item_within_one_person (triggers of one
-- kind fire in name order), so that it sees the links its statement wrote and the items
-- that trigger closed. Of two duplicates opened by one statement, the later-firing one
-- stays open.

CREATE FUNCTION review_item_one_per_person_pair() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    own bigint;
BEGIN
    SELECT person_id INTO own FROM link WHERE record_id = NEW.record_id;
    IF own IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE review_item i SET status = 'superseded', decided_at = now(),
           decided_by = 'system', version = i.version + 1
     WHERE i.id = NEW.id AND i.status = 'open'
       AND EXISTS (
           SELECT 1 FROM review_item o JOIN link lo ON lo.record_id = o.record_id
            WHERE o.status = 'open' AND o.id <> NEW.id
              AND ((o.candidate_person_id = NEW.candidate_person_id AND lo.person_id = own)
                OR (o.candidate_person_id = own AND lo.person_id = NEW.candidate_person_id)));
    RETURN NULL;
END $$;

CREATE TRIGGER review_item_zz_one_per_person_pair
    AFTER INSERT ON review_item
    FOR EACH ROW WHEN (NEW.status = 'open' AND NEW.reason <> 'nhs_number_shared_conflict')
    EXECUTE FUNCTION review_item_one_per_person_pair();

-- Items already open: of each pair of persons, the most probable item stays open.
WITH pairs AS (
    SELECT i.id, i.reason,
           row_number() OVER (
               PARTITION BY least(l.person_id, i.candidate_person_id),
                            greatest(l.person_id, i.candidate_person_id)
               ORDER BY i.probability DESC, i.id) AS rank
      FROM review_item i JOIN link l ON l.record_id = i.record_id
     WHERE i.status = 'open' AND i.reason <> 'nhs_number_shared_conflict'
)
UPDATE review_item i SET status = 'superseded', decided_at = now(), decided_by = 'system',
       version = i.version + 1
  FROM pairs p
 WHERE p.id = i.id AND p.rank > 1;
