-- Schema version 2: tariffs, enforcement mode, sites, groups, usage policies, session cost.
ALTER TABLE organisations ADD COLUMN price_per_kwh TEXT NOT NULL DEFAULT '0';  -- minor units per kWh
ALTER TABLE organisations ADD COLUMN session_fee INTEGER NOT NULL DEFAULT 0;   -- minor units
ALTER TABLE organisations ADD COLUMN enforcement TEXT NOT NULL DEFAULT 'enforce'
    CHECK (enforcement IN ('enforce', 'observe'));

CREATE TABLE sites (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    name            TEXT NOT NULL,
    UNIQUE (organisation_id, name)
);
ALTER TABLE stations ADD COLUMN site_id INTEGER REFERENCES sites (id);
ALTER TABLE stations ADD COLUMN price_per_kwh TEXT;   -- overrides the organisation's tariff
ALTER TABLE stations ADD COLUMN session_fee INTEGER;
INSERT INTO sites (organisation_id, name)
    SELECT DISTINCT organisation_id, site FROM stations
    WHERE site IS NOT NULL AND organisation_id IS NOT NULL;
UPDATE stations SET site_id = (
    SELECT id FROM sites WHERE sites.organisation_id = stations.organisation_id
                           AND sites.name = stations.site);

CREATE TABLE groups (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    name            TEXT NOT NULL,
    UNIQUE (organisation_id, name)
);
CREATE TABLE member_groups (
    member_id INTEGER NOT NULL REFERENCES members (id) ON DELETE CASCADE,
    group_id  INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (member_id, group_id)
);

-- One policy per scope; the body is JSON (see gateway/members/policy_spec.py).
CREATE TABLE policies (
    id              INTEGER PRIMARY KEY,
    organisation_id INTEGER NOT NULL REFERENCES organisations (id),
    scope_kind      TEXT NOT NULL CHECK (scope_kind IN ('organisation', 'group', 'member')),
    scope_id        INTEGER NOT NULL,
    body            TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (scope_kind, scope_id)
);

ALTER TABLE transactions ADD COLUMN cost INTEGER;            -- minor units, at the session's tariff
ALTER TABLE transactions ADD COLUMN stop_requested TEXT;     -- why the gateway ended it, if it did

CREATE TRIGGER stations_gen_i AFTER INSERT ON stations BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER stations_gen_u AFTER UPDATE OF organisation_id, site_id, timezone, price_per_kwh, session_fee ON stations BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER stations_gen_d AFTER DELETE ON stations BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER sites_gen_i AFTER INSERT ON sites BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER member_groups_gen_i AFTER INSERT ON member_groups BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER member_groups_gen_d AFTER DELETE ON member_groups BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER policies_gen_i AFTER INSERT ON policies BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER policies_gen_u AFTER UPDATE ON policies BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
CREATE TRIGGER policies_gen_d AFTER DELETE ON policies BEGIN UPDATE meta SET value = value + 1 WHERE key = 'cache_generation'; END;
