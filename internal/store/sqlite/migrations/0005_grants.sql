-- OAuth grants (OpenID Connect): what one authorization gave a client, its
-- access and refresh tokens kept as hashes in data, refreshed as one family.
-- Deleting a row revokes every token of the family.
CREATE TABLE grants (
    id         TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    session_id TEXT    NOT NULL, -- the browser session it came from, for logout; '' for none
    data       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX grants_user ON grants (user_id, created_at);
CREATE INDEX grants_expires_at ON grants (expires_at);
