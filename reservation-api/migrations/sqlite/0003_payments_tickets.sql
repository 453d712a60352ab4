-- Same schema as migrations/mysql/0003 in SQLite's dialect; see there for
-- the meaning of each column.
CREATE TABLE payments (
    id              TEXT    NOT NULL PRIMARY KEY,
    reservation_id  TEXT    NOT NULL,
    user_id         TEXT    NOT NULL,
    payment_key     TEXT    NOT NULL,
    amount_krw      INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    toss_status     TEXT    NULL,
    failure_code    TEXT    NULL,
    failure_message TEXT    NULL,
    approved_at_ms  INTEGER NULL,
    settled_at_ms   INTEGER NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE UNIQUE INDEX payments_by_attempt ON payments (reservation_id, payment_key);
CREATE INDEX payments_to_reconcile ON payments (status, updated_at_ms);

CREATE TABLE tickets (
    id               TEXT    NOT NULL PRIMARY KEY,
    reservation_id   TEXT    NOT NULL,
    payment_id       TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    seat_id          INTEGER NOT NULL,
    user_id          TEXT    NOT NULL,
    queue_id         TEXT    NOT NULL,
    price_krw        INTEGER NOT NULL,
    status           TEXT    NOT NULL,
    issued_at_ms     INTEGER NOT NULL,
    used_at_ms       INTEGER NULL,
    cancelled_at_ms  INTEGER NULL
);
CREATE UNIQUE INDEX tickets_once_per_payment_seat ON tickets (payment_id, seat_id);
CREATE INDEX tickets_by_user ON tickets (user_id);
CREATE INDEX tickets_by_reservation ON tickets (reservation_id);

CREATE TABLE refunds (
    id              TEXT    NOT NULL PRIMARY KEY,
    payment_id      TEXT    NOT NULL,
    ticket_id       TEXT    NULL,
    amount_krw      INTEGER NOT NULL,
    status          TEXT    NOT NULL,
    failure_code    TEXT    NULL,
    failure_message TEXT    NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL
);
CREATE INDEX refunds_to_reconcile ON refunds (status, updated_at_ms);
CREATE INDEX refunds_by_payment ON refunds (payment_id);
