//! GitHub: webhook verification and parsing (the OAuth and REST clients join them).

pub mod webhook;
