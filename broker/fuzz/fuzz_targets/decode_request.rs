//! Feeds arbitrary frames to Skiff's request decoding (header and every
//! served API's body). Any panic or abort is a finding; errors are expected.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skiff_broker::decode_request(bytes::Bytes::copy_from_slice(data));
});
