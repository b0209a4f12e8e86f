-- Schema version 4: how an organisation matches 2.0.1 idToken types ('value': by value, the
-- type a hint; 'strict': value and type).
ALTER TABLE organisations ADD COLUMN token_type_match TEXT NOT NULL DEFAULT 'value'
    CHECK (token_type_match IN ('value', 'strict'));
