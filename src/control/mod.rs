//! The control socket: protocol types (shared with vigilctl) and the server side.
pub mod protocol;
pub mod server;
