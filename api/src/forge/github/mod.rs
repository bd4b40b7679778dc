//! GitHub: the OAuth flow, the REST API, and webhook verification and parsing.

pub mod api;
pub mod oauth;
pub mod sync;
pub mod webhook;
