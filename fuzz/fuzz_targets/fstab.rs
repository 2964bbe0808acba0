#![no_main]
//! Fuzz target: vigil::fuzzing::fstab.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::fstab(data));
