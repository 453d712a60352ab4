//! entryIds as clients send them back: any string is refused or parsed,
//! only the server's own verify, and every issued one round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use queue_server::entry_id::EntryIdCodec;

fuzz_target!(|data: &[u8]| {
    let codec = EntryIdCodec::new(b"fuzz-token-secret-of-at-least-32-bytes");
    if let Ok(raw) = std::str::from_utf8(data) {
        if let Some(id) = EntryIdCodec::parse(raw) {
            // Forging a MAC by chance is not something a fuzzer finds.
            assert!(!codec.verify(&id, "sale", 7) || raw == codec.encode("sale", 7, id.seq));
        }
    }
    if data.len() >= 8 {
        let seq = u64::from_le_bytes(data[..8].try_into().expect("eight bytes")).max(1);
        let issued = codec.encode("sale", 7, seq);
        let parsed = EntryIdCodec::parse(&issued).expect("an issued entryId parses");
        assert!(codec.verify(&parsed, "sale", 7));
        assert!(!codec.verify(&parsed, "other", 7));
    }
});
