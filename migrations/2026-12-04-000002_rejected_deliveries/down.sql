DELETE FROM webhook_deliveries WHERE outcome = 'rejected';
ALTER TABLE webhook_deliveries DROP COLUMN status_code;
DROP INDEX webhook_deliveries_delivery_id_key;
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_delivery_id_required;
ALTER TABLE webhook_deliveries ALTER COLUMN delivery_id SET NOT NULL;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_delivery_id_key UNIQUE (delivery_id);
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_outcome_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_outcome_check
    CHECK (outcome IN ('queued', 'ignored', 'failed'));
