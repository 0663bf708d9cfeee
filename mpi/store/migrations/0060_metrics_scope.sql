-- 0060: the ``metrics`` scope, for a monitoring system that reads /metrics and no patient.
ALTER TABLE api_token DROP CONSTRAINT api_token_scopes_check;
ALTER TABLE api_token ADD CONSTRAINT api_token_scopes_check CHECK (
    scopes <@ ARRAY['register', 'lookup', 'review', 'metrics', 'admin']::text[]
    AND cardinality(scopes) > 0);
