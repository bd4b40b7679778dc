//! Per-request DataLoaders: lists of courses load their counts and latest builds in one
//! round trip instead of one per course. A new set is made for every request, so nothing
//! cached is shared between users.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::app::App;
use crate::db::models::{Build, Course, CourseCounts};
use crate::error::AppError;

/// Loads [`CourseCounts`] by course id.
pub struct CourseCountsLoader(App);

impl Loader<i64> for CourseCountsLoader {
    type Value = CourseCounts;
    type Error = std::sync::Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, CourseCounts>, Self::Error> {
        let mut conn = self.0.db().await.map_err(std::sync::Arc::new)?;
        Course::counts_many(&mut conn, keys)
            .await
            .map_err(|e| std::sync::Arc::new(AppError::from(e)))
    }
}

/// Which latest build: of a whole course (for its staff), or of one person's repositories in
/// it (for a student).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LatestBuildKey {
    pub course_id: i64,
    pub owner: Option<i64>,
}

/// Loads the latest build per [`LatestBuildKey`]: one query per distinct owner (a request
/// has one viewer, so one or two queries in all).
pub struct LatestBuildLoader(App);

impl Loader<LatestBuildKey> for LatestBuildLoader {
    type Value = Build;
    type Error = std::sync::Arc<AppError>;

    async fn load(
        &self,
        keys: &[LatestBuildKey],
    ) -> Result<HashMap<LatestBuildKey, Build>, Self::Error> {
        let mut conn = self.0.db().await.map_err(std::sync::Arc::new)?;
        let mut by_owner: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
        for key in keys {
            by_owner.entry(key.owner).or_default().push(key.course_id);
        }
        let mut found = HashMap::new();
        for (owner, courses) in by_owner {
            let builds = Build::latest_in_courses(&mut conn, &courses, owner)
                .await
                .map_err(|e| std::sync::Arc::new(AppError::from(e)))?;
            for build in builds {
                let key = LatestBuildKey {
                    course_id: build.course_id,
                    owner,
                };
                found.insert(key, build);
            }
        }
        Ok(found)
    }
}

/// Loads whether the request's viewer may see each assignment's hidden tests (by assignment
/// id; see [`crate::auth::access::sees_hidden_tests`]), in one query.
pub struct HiddenTestsLoader {
    app: App,
    viewer: Option<crate::auth::CurrentUser>,
}

impl Loader<i64> for HiddenTestsLoader {
    type Value = bool;
    type Error = std::sync::Arc<AppError>;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, bool>, Self::Error> {
        let Some(me) = &self.viewer else {
            return Ok(keys.iter().map(|k| (*k, false)).collect());
        };
        let mut conn = self.app.db().await.map_err(std::sync::Arc::new)?;
        crate::auth::access::sees_hidden_tests(&mut conn, me, keys)
            .await
            .map_err(std::sync::Arc::new)
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub course_counts: DataLoader<CourseCountsLoader>,
    pub latest_build: DataLoader<LatestBuildLoader>,
    pub hidden_tests: DataLoader<HiddenTestsLoader>,
}

/// A fresh set of loaders for one request by `viewer`.
pub fn for_request(app: &App, viewer: &crate::auth::Viewer) -> Loaders {
    Loaders {
        course_counts: DataLoader::new(CourseCountsLoader(app.clone()), tokio::spawn),
        latest_build: DataLoader::new(LatestBuildLoader(app.clone()), tokio::spawn),
        hidden_tests: DataLoader::new(
            HiddenTestsLoader {
                app: app.clone(),
                viewer: viewer.0.clone(),
            },
            tokio::spawn,
        ),
    }
}
