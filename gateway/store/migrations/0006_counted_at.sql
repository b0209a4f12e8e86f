-- Schema version 6: the instant a session counts at against the caps (policy_engine.start_time):
-- the start the charger reported when its clock is believed, else the time the gateway received
-- it. Decided once when the start is counted; the counters rebuilt at start read it back. Rows
-- written before this version have none: the loader applies the same rule to started_at and
-- created_at (the reception of the transaction's first message).
ALTER TABLE transactions ADD COLUMN counted_at TEXT;
