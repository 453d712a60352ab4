-- Payments, tickets and refunds (issue 6). Money is integer KRW; times are
-- Unix ms. The Toss orderId is the reservation id.
--
-- payments: one row per payment attempt (one Toss paymentKey for one
-- reservation), written `pending` and committed BEFORE Toss is asked to
-- confirm, so that a crash after Toss charged leaves a row the reconciler
-- finds. status: pending (outcome not settled yet) | done (charged, tickets
-- issued) | failed (not charged) | cancelled (charged, then fully refunded
-- because the seats were gone). toss_status is Toss's last known status.
CREATE TABLE payments (
    id              VARCHAR(36)  NOT NULL PRIMARY KEY,
    reservation_id  VARCHAR(36)  NOT NULL,
    user_id         VARCHAR(128) NOT NULL,
    payment_key     VARCHAR(200) NOT NULL,
    amount_krw      BIGINT       NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    toss_status     VARCHAR(32)  NULL,
    failure_code    VARCHAR(64)  NULL,
    failure_message VARCHAR(128) NULL,
    approved_at_ms  BIGINT       NULL,
    settled_at_ms   BIGINT       NULL,
    created_at_ms   BIGINT       NOT NULL,
    updated_at_ms   BIGINT       NOT NULL,
    UNIQUE KEY payments_by_attempt (reservation_id, payment_key),
    KEY payments_to_reconcile (status, updated_at_ms)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- tickets: one per sold seat. status: issued | used | cancelled.
CREATE TABLE tickets (
    id               VARCHAR(36)  NOT NULL PRIMARY KEY,
    reservation_id   VARCHAR(36)  NOT NULL,
    payment_id       VARCHAR(36)  NOT NULL,
    event_id         VARCHAR(36)  NOT NULL,
    seat_id          BIGINT       NOT NULL,
    user_id          VARCHAR(128) NOT NULL,
    queue_id         VARCHAR(128) NOT NULL,
    price_krw        BIGINT       NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    issued_at_ms     BIGINT       NOT NULL,
    used_at_ms       BIGINT       NULL,
    cancelled_at_ms  BIGINT       NULL,
    UNIQUE KEY tickets_once_per_payment_seat (payment_id, seat_id),
    KEY tickets_by_user (user_id),
    KEY tickets_by_reservation (reservation_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- refunds: one row per Toss cancel Ticketon asks for, written `pending`
-- before the call. The id is the cancelId of the Toss idempotency key and
-- is written into the cancelReason, so a lookup can tell whether this
-- refund happened. ticket_id is NULL for the full refund of a payment whose
-- seats were gone. status: pending | done | failed.
CREATE TABLE refunds (
    id              VARCHAR(64)  NOT NULL PRIMARY KEY,
    payment_id      VARCHAR(36)  NOT NULL,
    ticket_id       VARCHAR(36)  NULL,
    amount_krw      BIGINT       NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    failure_code    VARCHAR(64)  NULL,
    failure_message VARCHAR(128) NULL,
    created_at_ms   BIGINT       NOT NULL,
    updated_at_ms   BIGINT       NOT NULL,
    KEY refunds_to_reconcile (status, updated_at_ms),
    KEY refunds_by_payment (payment_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
