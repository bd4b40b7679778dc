-- Rotating a webhook's secret without losing deliveries: the secret it replaced stays valid
-- for a grace period, while GitHub switches over.
ALTER TABLE repositories
    ADD COLUMN webhook_previous_secret_encrypted BYTEA,
    ADD COLUMN webhook_secret_rotated_at TIMESTAMPTZ;
