-- Events, their sections and seats, holds (reservations in state `held`),
-- and idempotency records. Times are Unix milliseconds (BIGINT) so that the
-- same values travel through sqlx's Any driver on MySQL and SQLite alike.
-- Later issues add payments, tickets, an outbox and admission sessions in
-- this database; reservations.status already admits `paid` and seats `sold`.

CREATE TABLE events (
    id                  VARCHAR(36)  NOT NULL PRIMARY KEY,
    name                VARCHAR(200) NOT NULL,
    venue               VARCHAR(200) NOT NULL,
    starts_at_ms        BIGINT       NOT NULL,
    queue_id            VARCHAR(128) NOT NULL,
    hold_ttl_sec        BIGINT       NOT NULL,
    max_seats_per_order BIGINT       NOT NULL,
    status              VARCHAR(16)  NOT NULL,
    created_at_ms       BIGINT       NOT NULL,
    KEY events_by_creation (created_at_ms, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE sections (
    event_id       VARCHAR(36) NOT NULL,
    name           VARCHAR(64) NOT NULL,
    position       BIGINT      NOT NULL,
    row_count      BIGINT      NOT NULL,
    seats_per_row  BIGINT      NOT NULL,
    price_krw      BIGINT      NOT NULL,
    PRIMARY KEY (event_id, name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per seat. `version` is bumped by every write (optimistic
-- strategy); `fence` is the highest fencing token that wrote the row
-- (distributed strategy). `hold_id` names the reservation holding it.
CREATE TABLE seats (
    id                 BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id           VARCHAR(36) NOT NULL,
    section            VARCHAR(64) NOT NULL,
    row_no             BIGINT      NOT NULL,
    seat_no            BIGINT      NOT NULL,
    price_krw          BIGINT      NOT NULL,
    status             VARCHAR(16) NOT NULL,
    hold_id            VARCHAR(36) NULL,
    hold_expires_at_ms BIGINT      NULL,
    version            BIGINT      NOT NULL DEFAULT 0,
    fence              BIGINT      NOT NULL DEFAULT 0,
    UNIQUE KEY seats_by_place (event_id, section, row_no, seat_no)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE reservations (
    id            VARCHAR(36)  NOT NULL PRIMARY KEY,
    event_id      VARCHAR(36)  NOT NULL,
    user_id       VARCHAR(128) NOT NULL,
    queue_id      VARCHAR(128) NOT NULL,
    entry_id      VARCHAR(128) NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    amount_krw    BIGINT       NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    expires_at_ms BIGINT       NOT NULL,
    updated_at_ms BIGINT       NOT NULL,
    KEY reservations_to_sweep (status, expires_at_ms),
    KEY reservations_by_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE reservation_seats (
    reservation_id VARCHAR(36) NOT NULL,
    seat_id        BIGINT      NOT NULL,
    PRIMARY KEY (reservation_id, seat_id),
    KEY reservation_seats_by_seat (seat_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- status_code 0 marks a request still in flight.
CREATE TABLE idempotency_keys (
    scope         VARCHAR(128) NOT NULL,
    idem_key      VARCHAR(200) NOT NULL,
    fingerprint   VARCHAR(64)  NOT NULL,
    status_code   BIGINT       NOT NULL,
    response_body BLOB         NULL,
    created_at_ms BIGINT       NOT NULL,
    PRIMARY KEY (scope, idem_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
