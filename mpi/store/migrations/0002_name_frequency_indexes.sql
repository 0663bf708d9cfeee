-- 0002: indexes for name frequencies (term-frequency adjustment of match weights).
CREATE INDEX source_record_family_name ON source_record (family_name)
    WHERE status = 'active';
CREATE INDEX source_record_first_given ON source_record ((given_names[1]))
    WHERE status = 'active';
