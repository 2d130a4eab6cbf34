-- The audit trail becomes a hash chain (internal/store/auditchain.go):
-- each event stores the hash of the one before it and its own. Events
-- already stored were never hashed: they stay as they are, unhashed, and
-- the chain starts after them (audit_chain.legacy_until names the last).
-- Typed fields: reason, familiar (a client that signed the user in
-- before), actor (the OS user behind gatehouse admin).
ALTER TABLE audit_events
    ADD COLUMN reason    text  NOT NULL DEFAULT '',
    ADD COLUMN familiar  text  NOT NULL DEFAULT '',
    ADD COLUMN actor     text  NOT NULL DEFAULT '',
    ADD COLUMN prev_hash bytea NOT NULL DEFAULT '\x',
    ADD COLUMN hash      bytea NOT NULL DEFAULT '\x';

-- A failed sign-in knows only the login typed: events are found by it too.
CREATE INDEX audit_events_login ON audit_events (lower(login), event_time, id);

-- One row: the chain's state. Every append locks it (SELECT … FOR UPDATE)
-- before reading the head, so appends from several nodes take turns and
-- still form one chain.
CREATE TABLE audit_chain (
    one          integer NOT NULL PRIMARY KEY CHECK (one = 1),
    legacy_until bigint  NOT NULL, -- events up to this ID predate the chain
    anchor_id    bigint  NOT NULL, -- the chain runs from the first event after this ID …
    anchor_hash  bytea   NOT NULL, -- … whose prev_hash is this
    head_id      bigint  NOT NULL, -- the last event of the chain
    head_hash    bytea   NOT NULL  -- and its hash
);
INSERT INTO audit_chain (one, legacy_until, anchor_id, anchor_hash, head_id, head_hash)
    SELECT 1, COALESCE(MAX(id), 0), COALESCE(MAX(id), 0), decode(repeat('00', 32), 'hex'),
           COALESCE(MAX(id), 0), decode(repeat('00', 32), 'hex')
    FROM audit_events;

-- Append-only: Gatehouse never updates an event. (Whoever can drop this
-- trigger can change rows; the chain then tells.)
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
