ALTER TABLE repositories
    DROP COLUMN webhook_previous_secret_encrypted,
    DROP COLUMN webhook_secret_rotated_at;
