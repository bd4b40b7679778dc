ALTER TABLE assignments DROP COLUMN image_source;
