//! The kubernetes executor: each build a hardened Job in the builds namespace. The Job and
//! the objects around it are made by the pure functions of [`manifest`].

pub mod manifest;
