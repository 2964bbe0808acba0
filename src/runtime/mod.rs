//! The imperative shell: file descriptors, syscalls and the event loop.
//!
//! Every primitive here is non-blocking and single-thread friendly so that the
//! event loop (PID 1) can never hang on one of them.

pub mod capabilities;
pub mod capture;
pub mod event_loop;
pub mod fdlimit;
pub mod fds;
pub mod heap;
pub mod image_pages;
pub mod instance_lock;
pub mod notify;
pub mod pidfd;
pub mod pidfile;
pub mod poller;
pub mod processes;
pub mod reap;
pub mod reexec;
pub mod signals;
pub mod sources;
pub mod spawn;
pub mod timer;
