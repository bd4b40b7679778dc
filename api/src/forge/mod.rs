//! Code forges Lectern works with. GitHub (and GitHub Enterprise Server) is the one there is.

pub mod github;
