//! vigilctl: control a running vigil, lint unit files, power the machine off.
fn main() {}
