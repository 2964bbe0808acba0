//! vigil: a Linux init system and service manager.
//!
//! The crate is a pure core (unit model, dependency graph, per-service state
//! machines, the manager that turns events into actions) inside a thin
//! imperative shell (`runtime`) that owns every file descriptor and syscall.
//! See docs/architecture.md.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod accounts;
pub mod boot;
pub mod config;
pub mod control;
pub mod diagnostic;
pub mod exit;
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod import;
pub mod log;
pub mod logs;
pub mod manager;
pub mod pid1;
pub mod power;
pub mod regular_file;
pub mod runtime;
pub mod service;
pub mod shutdown;
pub mod unit;
