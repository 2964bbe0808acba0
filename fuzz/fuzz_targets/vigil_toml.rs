#![no_main]
//! Fuzz target: vigil::fuzzing::vigil_toml.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::vigil_toml(data));
