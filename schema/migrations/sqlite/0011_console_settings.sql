-- Settings administrators change at run time from the console (widget appearance and allowed
-- origins, retention), one JSON document per name, with who saved it and when. Kept apart from
-- `settings`, which holds values the hub makes for itself (the visitor-token secret) and that no
-- API ever reads. A name without a row falls back to the config file.
CREATE TABLE console_settings (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL REFERENCES agents(id)
);
