#![no_main]
//! Fuzz target: vigil::fuzzing::passwd_group.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::passwd_group(data));
