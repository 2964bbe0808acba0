#![no_main]
//! Fuzz target: vigil::fuzzing::unit_file.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::unit_file(data));
