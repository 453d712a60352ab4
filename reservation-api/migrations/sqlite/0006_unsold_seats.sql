-- Finds an event's unsold seats (available or held) without walking the sold ones: the
-- sweeper asks every second whether an on-sale event has any left (sold out) and whether a
-- sold-out one got one back (a refund).
CREATE INDEX seats_by_status ON seats (event_id, status);
