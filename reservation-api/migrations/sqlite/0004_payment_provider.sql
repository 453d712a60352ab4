-- Payments name their provider instead of assuming Toss: `provider` says
-- who holds the charge, `provider_status` is that provider's last known
-- status in its own spelling. Existing rows were all Toss payments.
ALTER TABLE payments RENAME COLUMN toss_status TO provider_status;
ALTER TABLE payments ADD COLUMN provider TEXT NOT NULL DEFAULT 'toss';
