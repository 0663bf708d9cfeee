-- 0160: HL7 v2 notifications (ITI-10) from the webhook outbox (issue 13). A subscription's
-- target may also be an MLLP receiver, mllp://HOST:PORT or mllps://HOST:PORT (over TLS),
-- added by an administrator with `mpi systems hl7-subscribe`; the outbox, its trigger and
-- the disclosure rule are the webhooks' own.
ALTER TABLE webhook_subscription DROP CONSTRAINT webhook_subscription_url_check;
ALTER TABLE webhook_subscription ADD CONSTRAINT webhook_subscription_url_check
    CHECK (url ~ '^(https?|mllps?)://');
