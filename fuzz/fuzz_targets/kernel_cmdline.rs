#![no_main]
//! Fuzz target: vigil::fuzzing::kernel_cmdline.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| vigil::fuzzing::kernel_cmdline(data));
