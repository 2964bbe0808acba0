#![no_main]
//! Fuzz target: vigil::fuzzing::systemd_unit.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::systemd_unit(data));
