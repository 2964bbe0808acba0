//! The control socket: protocol types (shared with vigilctl), the server side,
//! and the client side with its rendering.
pub mod client;
pub mod protocol;
pub mod render;
pub mod server;
