#![no_main]
//! Fuzz target: vigil::fuzzing::log_line.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::log_line(data));
