//! vigil: init system and service supervisor.
fn main() {}
