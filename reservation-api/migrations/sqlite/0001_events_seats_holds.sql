-- Same schema as migrations/mysql/0001 in SQLite's dialect; see there for
-- the meaning of each column.

CREATE TABLE events (
    id                  TEXT    NOT NULL PRIMARY KEY,
    name                TEXT    NOT NULL,
    venue               TEXT    NOT NULL,
    starts_at_ms        INTEGER NOT NULL,
    queue_id            TEXT    NOT NULL,
    hold_ttl_sec        INTEGER NOT NULL,
    max_seats_per_order INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    created_at_ms       INTEGER NOT NULL
);
CREATE INDEX events_by_creation ON events (created_at_ms, id);

CREATE TABLE sections (
    event_id      TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    position      INTEGER NOT NULL,
    row_count     INTEGER NOT NULL,
    seats_per_row INTEGER NOT NULL,
    price_krw     INTEGER NOT NULL,
    PRIMARY KEY (event_id, name)
);

CREATE TABLE seats (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id           TEXT    NOT NULL,
    section            TEXT    NOT NULL,
    row_no             INTEGER NOT NULL,
    seat_no            INTEGER NOT NULL,
    price_krw          INTEGER NOT NULL,
    status             TEXT    NOT NULL,
    hold_id            TEXT    NULL,
    hold_expires_at_ms INTEGER NULL,
    version            INTEGER NOT NULL DEFAULT 0,
    fence              INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX seats_by_place ON seats (event_id, section, row_no, seat_no);

CREATE TABLE reservations (
    id            TEXT    NOT NULL PRIMARY KEY,
    event_id      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    queue_id      TEXT    NOT NULL,
    entry_id      TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    amount_krw    INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX reservations_to_sweep ON reservations (status, expires_at_ms);
CREATE INDEX reservations_by_user ON reservations (user_id);

CREATE TABLE reservation_seats (
    reservation_id TEXT    NOT NULL,
    seat_id        INTEGER NOT NULL,
    PRIMARY KEY (reservation_id, seat_id)
);
CREATE INDEX reservation_seats_by_seat ON reservation_seats (seat_id);

CREATE TABLE idempotency_keys (
    scope         TEXT    NOT NULL,
    idem_key      TEXT    NOT NULL,
    fingerprint   TEXT    NOT NULL,
    status_code   INTEGER NOT NULL,
    response_body BLOB    NULL,
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
