#![no_main]
//! Fuzz target: vigil::fuzzing::notify_datagram.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::notify_datagram(data));
