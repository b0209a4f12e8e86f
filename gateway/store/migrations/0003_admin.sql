-- Schema version 3: operator member management (admin API): identifiers, phone, extra roles,
-- permission overrides, soft-deleted (anonymised) members, API tokens, invitations, audit log.
ALTER TABLE members ADD COLUMN identifier TEXT;            -- CSV sync key, default first.last
ALTER TABLE members ADD COLUMN phone TEXT;
ALTER TABLE members ADD COLUMN extra_roles TEXT NOT NULL DEFAULT '[]';   -- JSON list of roles
ALTER TABLE members ADD COLUMN permissions TEXT NOT NULL DEFAULT '{}';   -- JSON {permission: bool}
ALTER TABLE members ADD COLUMN deleted_at TEXT;            -- set when deleted: personal data gone
CREATE UNIQUE INDEX members_identifier ON members (organisation_id, lower(identifier))
    WHERE identifier IS NOT NULL;
CREATE INDEX members_org ON members (organisation_id, status);
CREATE INDEX transactions_member ON transactions (member_id, started_at);
CREATE INDEX tokens_member ON tokens (member_id);

-- Bearer tokens of the admin API, each bound to a member; only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id),
    name         TEXT NOT NULL DEFAULT '',
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,                            -- first characters, to recognise it
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_member ON api_tokens (member_id);

CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY,
    member_id    INTEGER NOT NULL REFERENCES members (id),
    token_hash   TEXT NOT NULL UNIQUE,
    invited_by   INTEGER REFERENCES members (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    accepted_at  TEXT,
    revoked_at   TEXT                                     -- superseded by a re-sent invitation
);
CREATE INDEX invitations_member ON invitations (member_id);

-- Every operator action: who, what, when, before and after (JSON). Never updated or deleted,
-- except that deleting a member removes personal data from its entries.
CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    actor_member_id INTEGER,                              -- NULL: the command line
    actor           TEXT NOT NULL,                        -- e.g. "member:12" or "cli"
    action          TEXT NOT NULL,                        -- e.g. "member.deactivate"
    target_kind     TEXT NOT NULL,                        -- member, token, station, policy, ...
    target_id       TEXT,
    before          TEXT,
    after           TEXT,
    at              TEXT NOT NULL
);
CREATE INDEX audit_org_at ON audit_log (organisation_id, at);
CREATE INDEX audit_target ON audit_log (target_kind, target_id);
CREATE INDEX audit_actor ON audit_log (actor_member_id);
