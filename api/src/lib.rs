//! Lectern: continuous integration and autograding for programming courses.
//!
//! The `lectern` binary is a thin command line over this library; the integration tests
//! drive the same router and database code through HTTP.

pub mod admin;
pub mod app;
pub mod auth;
pub mod builds;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod error;
pub mod executor;
pub mod forge;
pub mod grading;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod server;
pub mod telemetry;
pub mod validate;
