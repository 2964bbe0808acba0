//! The control socket: protocol types (shared with vigilctl) and the server side.
pub mod client;
pub mod protocol;
pub mod render;
