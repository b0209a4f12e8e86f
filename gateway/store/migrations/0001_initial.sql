-- Schema version 1: stations, organisations, members, tokens, transactions.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('cache_generation', 0);

CREATE TABLE organisations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    timezone    TEXT NOT NULL DEFAULT 'UTC',
    currency    TEXT NOT NULL DEFAULT 'EUR',
    group_token TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE stations (
    charge_point_id  TEXT PRIMARY KEY,
    organisation_id  INTEGER REFERENCES organisations (id),
    password_hash    TEXT NOT NULL,
    site             TEXT,
    timezone         TEXT,
    accepted_once    INTEGER NOT NULL DEFAULT 0,
    ocpp_version     TEXT,
    vendor           TEXT,
    model            TEXT,
    serial_number    TEXT,
    firmware_version TEXT,
    last_boot_at     TEXT,
    created_at       TEXT NOT NULL
);

CREATE TABLE members (
    id               INTEGER PRIMARY KEY,
    organisation_id  INTEGER NOT NULL REFERENCES organisations (id),
    first_name       TEXT NOT NULL DEFAULT '',
    last_name        TEXT NOT NULL DEFAULT '',
    email            TEXT,
    role             TEXT NOT NULL DEFAULT 'User',
    status           TEXT NOT NULL DEFAULT 'Active' CHECK (status IN ('Pending', 'Active', 'Inactive')),
    valid_until      TEXT,
    last_activity_at TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX members_email ON members (organisation_id, lower(email)) WHERE email IS NOT NULL;

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    value      TEXT NOT NULL,
    value_key  TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL DEFAULT 'ISO14443',
    member_id  INTEGER NOT NULL REFERENCES members (id),
    status     TEXT NOT NULL DEFAULT 'Active' CHECK (status IN ('Active', 'Blocked', 'Lost')),
    expires_at TEXT,
    created_at TEXT NOT NULL
);

-- Any change to what authorization reads bumps the generation the gateway polls.
CREATE TRIGGER organisations_gen_i AFTER INSERT ON organisations BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER organisations_gen_u AFTER UPDATE ON organisations BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER organisations_gen_d AFTER DELETE ON organisations BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER members_gen_i AFTER INSERT ON members BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER members_gen_u AFTER UPDATE OF organisation_id, status, valid_until ON members BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER members_gen_d AFTER DELETE ON members BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER tokens_gen_i AFTER INSERT ON tokens BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER tokens_gen_u AFTER UPDATE ON tokens BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER tokens_gen_d AFTER DELETE ON tokens BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;

CREATE TABLE transactions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT, -- the OCPP 1.6 transactionId, never reused
    charge_point_id  TEXT NOT NULL,
    ocpp_version     TEXT NOT NULL,
    transaction_uid  TEXT,                              -- the OCPP 2.0.1 transactionId
    start_key        TEXT,                              -- OCPP 1.6 StartTransaction idempotency key
    connector_id     INTEGER,
    evse_id          INTEGER,
    id_token         TEXT,
    member_id        INTEGER,
    auth_status      TEXT,
    auth_reason      TEXT,
    flagged          INTEGER NOT NULL DEFAULT 0,
    flag_reason      TEXT,
    offline          INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL DEFAULT 'Open' CHECK (state IN ('Open', 'Ended')),
    started_at       TEXT,
    ended_at         TEXT,
    meter_start_wh   REAL,
    meter_stop_wh    REAL,
    meter_first_wh   REAL,
    meter_last_wh    REAL,
    energy_wh        REAL,
    stop_reason      TEXT,
    stop_id_token    TEXT,
    reservation_id   INTEGER,
    seq_count        INTEGER NOT NULL DEFAULT 0,
    seq_min          INTEGER,
    seq_max          INTEGER,
    missing_seq_nos  INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE UNIQUE INDEX transactions_start_key ON transactions (charge_point_id, start_key)
    WHERE start_key IS NOT NULL;
CREATE UNIQUE INDEX transactions_uid ON transactions (charge_point_id, transaction_uid)
    WHERE transaction_uid IS NOT NULL;
CREATE INDEX transactions_open ON transactions (state) WHERE state = 'Open';

CREATE TABLE transaction_events (
    id               INTEGER PRIMARY KEY,
    transaction_id   INTEGER NOT NULL REFERENCES transactions (id),
    charge_point_id  TEXT NOT NULL,
    transaction_uid  TEXT NOT NULL,
    seq_no           INTEGER NOT NULL,
    event_type       TEXT NOT NULL,
    trigger_reason   TEXT,
    timestamp        TEXT NOT NULL,
    offline          INTEGER NOT NULL DEFAULT 0,
    payload          TEXT NOT NULL,
    response         TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    UNIQUE (charge_point_id, transaction_uid, seq_no)
);

CREATE TABLE meter_values (
    id               INTEGER PRIMARY KEY,
    transaction_id   INTEGER REFERENCES transactions (id),
    charge_point_id  TEXT NOT NULL,
    connector_id     INTEGER,
    payload          TEXT NOT NULL,
    received_at      TEXT NOT NULL
);
CREATE INDEX meter_values_tx ON meter_values (transaction_id);

-- Messages that refer to something the gateway does not know: answered, kept, never dropped.
CREATE TABLE quarantine (
    id               INTEGER PRIMARY KEY,
    charge_point_id  TEXT NOT NULL,
    action           TEXT NOT NULL,
    message_id       TEXT,
    reason           TEXT NOT NULL,
    payload          TEXT NOT NULL,
    received_at      TEXT NOT NULL
);
