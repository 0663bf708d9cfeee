-- 0007: take an audit chain in the same statement that appends the event (see 0005).

-- Take (lock until commit) the first chain no other transaction holds, or if all are held,
-- wait for one. FOR UPDATE returns the newest committed version of the tail, so an event
-- appended after it always follows the tail's last committed event.
CREATE OR REPLACE FUNCTION audit_chain_take(OUT chain smallint, OUT last_hash text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.chain, c.last_hash INTO chain, last_hash FROM audit_chain c
    ORDER BY c.chain LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT c.chain, c.last_hash INTO chain, last_hash FROM audit_chain c
        WHERE c.chain = pg_backend_pid() % 64 FOR UPDATE;
    END IF;
END $$;
