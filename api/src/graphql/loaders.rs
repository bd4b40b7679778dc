//! Per-request DataLoaders: lists of courses load their counts in one round trip instead
//! of one per course. A new set is made for every request, so nothing cached is shared
//! between users.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::app::App;
use crate::db::models::{Course, CourseCounts};
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

/// The loaders of one request.
pub fn for_request(app: &App) -> DataLoader<CourseCountsLoader> {
    DataLoader::new(CourseCountsLoader(app.clone()), tokio::spawn)
}
