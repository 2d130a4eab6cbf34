-- The audit trail becomes a hash chain (internal/store/auditchain.go):
-- each event stores the hash of the one before it and its own. Events
-- already stored were never hashed: they stay as they are, unhashed, and
-- the chain starts after them (audit_chain.legacy_until names the last).
-- Typed fields: reason, familiar (a client that signed the user in
-- before), actor (the OS user behind gatehouse admin).
ALTER TABLE audit_events ADD COLUMN reason    TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN familiar  TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN actor     TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN prev_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE audit_events ADD COLUMN hash      BLOB NOT NULL DEFAULT x'';

-- A failed sign-in knows only the login typed: events are found by it too.
CREATE INDEX audit_events_login ON audit_events (lower(login), event_time, id);

-- One row: the chain's state. Appends run in the single write transaction
-- SQLite allows, so they take turns on it.
CREATE TABLE audit_chain (
    one          INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
    legacy_until INTEGER NOT NULL, -- events up to this ID predate the chain
    anchor_id    INTEGER NOT NULL, -- the chain runs from the first event after this ID …
    anchor_hash  BLOB    NOT NULL, -- … whose prev_hash is this
    head_id      INTEGER NOT NULL, -- the last event of the chain
    head_hash    BLOB    NOT NULL  -- and its hash
) STRICT;
INSERT INTO audit_chain (one, legacy_until, anchor_id, anchor_hash, head_id, head_hash)
    SELECT 1, COALESCE(MAX(id), 0), COALESCE(MAX(id), 0), zeroblob(32), COALESCE(MAX(id), 0), zeroblob(32)
    FROM audit_events;

-- Append-only: Gatehouse never updates an event. (Whoever can drop this
-- trigger can change rows; the chain then tells.)
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
