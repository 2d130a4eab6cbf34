-- Links between outside accounts and directory users (store.Links): an
-- Entra user an external authentication method request named, and the AD
-- user found for it. One user per outside account, one outside account
-- per user and provider.
CREATE TABLE links (
    provider   text        NOT NULL,
    subject    text        NOT NULL,
    user_id    text        NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE UNIQUE INDEX links_user ON links (provider, user_id);
CREATE INDEX links_user_id ON links (user_id);
