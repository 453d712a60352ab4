-- The W3C trace context (traceparent) of the request that wrote the event, carried in the
-- published record's header so that one purchase is one trace across the services.
ALTER TABLE outbox ADD COLUMN traceparent VARCHAR(64) NULL;
