-- Where a build's image comes from on Kubernetes: the assignment's image with the commit
-- fetched in the cluster, or an image built for the build (base image + checkout) and pushed
-- to the registry.
ALTER TABLE assignments
    ADD COLUMN image_source TEXT NOT NULL DEFAULT 'assignment'
        CHECK (image_source IN ('assignment', 'per_build'));
