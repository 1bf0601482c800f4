#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pstn_bridge::fuzzing::sip_framing(data));
