-- Times are timestamptz (microsecond precision); the zero time.Time is
-- stored as 0001-01-01 UTC, so every time column is NOT NULL. Byte and
-- list columns are never NULL: empty is stored as empty. Keys use the "C"
-- collation so that ordering by ID is byte order, as in SQLite.

CREATE TABLE sessions (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL,
    login        text        NOT NULL,
    methods      text[]      NOT NULL,
    auth_time    timestamptz NOT NULL,
    mfa_time     timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    idle_expiry  timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    data         bytea       NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expiry ON sessions (idle_expiry);

CREATE TABLE flows (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    kind       text        NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    step       text        NOT NULL,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX flows_expires_at ON flows (expires_at);

CREATE TABLE credentials (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id      text COLLATE "C" NOT NULL,
    type         text COLLATE "C" NOT NULL,
    name         text        NOT NULL,
    lookup_key   text COLLATE "C" NOT NULL,
    secret       bytea       NOT NULL,
    data         bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL
);
CREATE INDEX credentials_user_id ON credentials (user_id, created_at, id);
CREATE UNIQUE INDEX credentials_lookup_key ON credentials (type, lookup_key) WHERE lookup_key <> '';

CREATE TABLE audit_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_time timestamptz NOT NULL,
    type       text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    login      text        NOT NULL,
    ip         text        NOT NULL,
    request_id text        NOT NULL,
    app        text        NOT NULL,
    result     text        NOT NULL,
    detail     bytea       NOT NULL -- JSON, but opaque: stored as given
);
CREATE INDEX audit_events_time ON audit_events (event_time, id);
CREATE INDEX audit_events_user ON audit_events (user_id, event_time, id);
CREATE INDEX audit_events_type ON audit_events (type, event_time, id);

CREATE TABLE counters (
    key          text COLLATE "C" NOT NULL PRIMARY KEY,
    count        integer     NOT NULL,
    window_start timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);

CREATE TABLE signing_keys (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm   text        NOT NULL,
    state       text        NOT NULL,
    private_key bytea       NOT NULL,
    cert_der    bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    not_after   timestamptz NOT NULL
);

CREATE TABLE tickets (
    kind       text COLLATE "C" NOT NULL,
    id         text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX tickets_expires_at ON tickets (expires_at);
