-- HL7 v2 over MLLP (issue 13).
-- The sending facility (MSH-4) that names a connected system; without one, its code does.
ALTER TABLE source_system ADD COLUMN hl7_facility text UNIQUE
    CHECK (hl7_facility IS NULL OR length(hl7_facility) BETWEEN 1 AND 180);

-- One row per accepted HL7 message (the sending system and its MSH-10), so that a message
-- sent again changes nothing. Only identifiers and the acknowledgement code, never
-- demographics.
CREATE TABLE hl7_message (
    system_id    integer NOT NULL REFERENCES source_system (id),
    control_id   text NOT NULL CHECK (length(control_id) BETWEEN 1 AND 199),
    message_type text NOT NULL,
    ack_code     text NOT NULL CHECK (ack_code IN ('AA', 'AE', 'AR')),
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, control_id)
);
