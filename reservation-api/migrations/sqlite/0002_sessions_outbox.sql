-- Same schema as migrations/mysql/0002 in SQLite's dialect; see there.
CREATE TABLE admission_sessions (
    entry_id       TEXT    NOT NULL PRIMARY KEY,
    queue_id       TEXT    NOT NULL,
    user_id        TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    expires_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    topic           TEXT    NOT NULL,
    msg_key         TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    published_at_ms INTEGER NULL
);
CREATE INDEX outbox_unpublished ON outbox (published_at_ms, id);
