-- Every webhook delivery is recorded, also the ones refused (bad signature, unknown
-- repository, malformed body). A refused delivery must not claim its delivery id: a forged
-- request could otherwise block the genuine one. So the id is unique only among accepted
-- deliveries, and may be missing on a refused one.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_outcome_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_outcome_check
    CHECK (outcome IN ('queued', 'ignored', 'failed', 'rejected'));
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_delivery_id_key;
ALTER TABLE webhook_deliveries ALTER COLUMN delivery_id DROP NOT NULL;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_delivery_id_required
    CHECK (outcome = 'rejected' OR delivery_id IS NOT NULL);
CREATE UNIQUE INDEX webhook_deliveries_delivery_id_key ON webhook_deliveries (delivery_id)
    WHERE outcome <> 'rejected';
-- The HTTP status Lectern answered with, as GitHub's "Recent Deliveries" shows it.
ALTER TABLE webhook_deliveries ADD COLUMN status_code SMALLINT NOT NULL DEFAULT 202
    CHECK (status_code BETWEEN 100 AND 599);
