#![no_main]
//! Fuzz target: vigil::fuzzing::control_request.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::control_request(data));
