-- 0040: emptying the audit trail no longer restarts its chains (issue 10, finding 4).

-- 0005 reset every chain's tail when audit_event was truncated, so that a superuser's
-- TRUNCATE (session_replication_role = replica) was followed by "audit chain intact:
-- 0 events". The tails now keep their counts and last hashes whatever happens to the
-- events, and `mpi audit verify` reports the lost events. Only the test suite resets the
-- tails, explicitly, when it empties the tables between tests.
DROP TRIGGER audit_event_truncated ON audit_event;
DROP FUNCTION audit_chain_restart();
