//! The control socket: protocol types (shared with vigilctl), the server side,
//! and the client side with its rendering.
pub mod analyze;
pub mod client;
pub mod plot;
pub mod protocol;
pub mod render;
pub mod server;
