-- Times are Unix microseconds in UTC (INTEGER); the zero time.Time is
-- stored as its own (very negative) value, so every time column is NOT NULL.
-- Byte and list columns are never NULL: empty is stored as empty.

CREATE TABLE sessions (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    login        TEXT    NOT NULL,
    methods      TEXT    NOT NULL, -- JSON array of strings
    auth_time    INTEGER NOT NULL,
    mfa_time     INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    idle_expiry  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    data         BLOB    NOT NULL
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expiry ON sessions (idle_expiry);

CREATE TABLE flows (
    id         TEXT    NOT NULL PRIMARY KEY,
    kind       TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    step       TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE credentials (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    type         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    lookup_key   TEXT    NOT NULL,
    secret       BLOB    NOT NULL,
    data         BLOB    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
) STRICT;
CREATE INDEX credentials_user_id ON credentials (user_id, created_at, id);
CREATE UNIQUE INDEX credentials_lookup_key ON credentials (type, lookup_key) WHERE lookup_key <> '';

CREATE TABLE audit_events (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, -- never reused, even after pruning
    event_time INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    login      TEXT    NOT NULL,
    ip         TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    app        TEXT    NOT NULL,
    result     TEXT    NOT NULL,
    detail     BLOB    NOT NULL
) STRICT;
CREATE INDEX audit_events_time ON audit_events (event_time, id);
CREATE INDEX audit_events_user ON audit_events (user_id, event_time, id);
CREATE INDEX audit_events_type ON audit_events (type, event_time, id);

CREATE TABLE counters (
    key          TEXT    NOT NULL PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX counters_expires_at ON counters (expires_at);

CREATE TABLE signing_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    algorithm   TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    private_key BLOB    NOT NULL,
    cert_der    BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL
) STRICT;

CREATE TABLE tickets (
    kind       TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX tickets_expires_at ON tickets (expires_at);
