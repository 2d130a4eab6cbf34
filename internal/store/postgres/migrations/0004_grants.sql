-- OAuth grants (OpenID Connect): what one authorization gave a client, its
-- access and refresh tokens kept as hashes in data, refreshed as one family.
-- Deleting a row revokes every token of the family.
CREATE TABLE grants (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    client_id  text COLLATE "C" NOT NULL,
    user_id    text COLLATE "C" NOT NULL,
    session_id text COLLATE "C" NOT NULL, -- the browser session it came from, for logout; '' for none
    data       bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX grants_user ON grants (user_id, created_at);
CREATE INDEX grants_expires_at ON grants (expires_at);
