-- Links between outside accounts and directory users (store.Links): an
-- Entra user an external authentication method request named, and the AD
-- user found for it. One user per outside account, one outside account
-- per user and provider.
CREATE TABLE links (
    provider   TEXT    NOT NULL,
    subject    TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
) STRICT;
CREATE UNIQUE INDEX links_user ON links (provider, user_id);
CREATE INDEX links_user_id ON links (user_id);
