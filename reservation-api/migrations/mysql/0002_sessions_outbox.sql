-- Admission sessions and the transactional outbox (issue 5).
--
-- admission_sessions: one row per admitted queue entry (entryId), written
-- from `ticketon.admissions` events and from the first use of an admission
-- token, whichever comes first. A session that ended (paid, released, hold
-- expired, left the queue, ran out) never becomes active again, so its token
-- buys nothing more.
CREATE TABLE admission_sessions (
    entry_id       VARCHAR(64)  NOT NULL PRIMARY KEY,
    queue_id       VARCHAR(128) NOT NULL,
    user_id        VARCHAR(512) NOT NULL,
    status         VARCHAR(16)  NOT NULL,
    expires_at_ms  BIGINT       NOT NULL,
    updated_at_ms  BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- outbox: events that must leave with a database change are inserted in the
-- same transaction and published by the relay after commit, in id order.
CREATE TABLE outbox (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    topic           VARCHAR(128) NOT NULL,
    msg_key         VARCHAR(128) NOT NULL,
    payload         LONGBLOB     NOT NULL,
    created_at_ms   BIGINT       NOT NULL,
    published_at_ms BIGINT       NULL,
    KEY outbox_unpublished (published_at_ms, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
