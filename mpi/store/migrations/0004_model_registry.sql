-- 0004: versioned match models. Each trained model is kept as its JSON document with a
-- summary of its training; at most one is active (none active: the packaged default).
CREATE TABLE match_model (
    id            serial PRIMARY KEY,
    version       text NOT NULL UNIQUE CHECK (length(version) BETWEEN 1 AND 64),
    document      jsonb NOT NULL,
    summary       jsonb NOT NULL DEFAULT '{}',
    is_active     boolean NOT NULL DEFAULT false,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz
);
CREATE UNIQUE INDEX match_model_one_active ON match_model (is_active) WHERE is_active;
