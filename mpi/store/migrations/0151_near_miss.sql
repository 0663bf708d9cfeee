-- 0151: the scores of near misses, so that the dashboard can say what a lower review
-- threshold would queue. A near miss is a candidate that scored under the review threshold
-- (but at least 0.05) when a record was matched, and so opened no review item. One row per
-- pair of records, the latest score kept.
CREATE TABLE near_miss (
    record_id           bigint NOT NULL REFERENCES source_record (id) ON DELETE CASCADE,
    candidate_record_id bigint NOT NULL REFERENCES source_record (id) ON DELETE CASCADE,
    probability         double precision NOT NULL CHECK (probability >= 0 AND probability <= 1),
    scored_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_id, candidate_record_id)
);
CREATE INDEX near_miss_probability ON near_miss (probability);
CREATE INDEX near_miss_candidate ON near_miss (candidate_record_id);
