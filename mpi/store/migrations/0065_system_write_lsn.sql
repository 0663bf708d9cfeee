-- Read replicas: where each connected system's last write ended in the primary's WAL.
-- A lookup is served from the replica (MPI_READ_DATABASE_URL) only once the replica has
-- replayed that far, so a system always reads its own writes. Written only when a read
-- replica is configured.
CREATE TABLE system_write_lsn (
    system_id   integer PRIMARY KEY REFERENCES source_system (id) ON DELETE CASCADE,
    lsn         pg_lsn NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now()
);
