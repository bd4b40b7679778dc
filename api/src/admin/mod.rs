//! `lectern admin …`: commands for the people who run Lectern.

pub mod check;
