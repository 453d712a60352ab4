//! Entry ids: opaque to clients, unforgeable, and self-describing to us.
//!
//! An entryId is `base64url(seq as 8 bytes BE ‖ first 12 bytes of
//! HMAC-SHA256(key, queueId ‖ epoch ‖ seq))`, 27 characters. A poll finds the
//! entry from the id alone (no index lookup) and rejects a guessed or altered
//! id with one HMAC. The queue's `epoch` (random, fixed when the queue is
//! created) is part of the MAC, so ids of a deleted queue do not come back to
//! life when a queue of the same name is created again. The key is derived
//! from the token secret so that every queue-server of a fleet agrees on ids.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::model::Seq;

const SEQ_LEN: usize = 8;
const MAC_LEN: usize = 12;
const RAW_LEN: usize = SEQ_LEN + MAC_LEN;
/// Length of an encoded entryId.
pub const ENTRY_ID_LEN: usize = 27;

#[derive(Clone, Debug)]
pub struct EntryIdCodec {
    keyed: Hmac<Sha256>,
}

/// An entryId whose shape is right; its MAC is not checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UncheckedEntryId {
    pub seq: Seq,
    mac: [u8; MAC_LEN],
}

impl EntryIdCodec {
    pub fn new(token_secret: &[u8]) -> Self {
        // Derive a key of its own so the entry-id MAC and the JWT signature
        // never share a key directly.
        let mut derive =
            Hmac::<Sha256>::new_from_slice(token_secret).expect("HMAC accepts any key length");
        derive.update(b"ticketon entry-id key v1");
        let key = derive.finalize().into_bytes();
        EntryIdCodec {
            keyed: Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length"),
        }
    }

    fn mac(&self, queue_id: &str, epoch: u64, seq: Seq) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(&(queue_id.len() as u16).to_be_bytes());
        mac.update(queue_id.as_bytes());
        mac.update(&epoch.to_be_bytes());
        mac.update(&seq.to_be_bytes());
        mac
    }

    pub fn encode(&self, queue_id: &str, epoch: u64, seq: Seq) -> String {
        let tag = self.mac(queue_id, epoch, seq).finalize().into_bytes();
        let mut raw = [0u8; RAW_LEN];
        raw[..SEQ_LEN].copy_from_slice(&seq.to_be_bytes());
        raw[SEQ_LEN..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Splits an id into its parts; `None` if it cannot be one of ours.
    pub fn parse(entry_id: &str) -> Option<UncheckedEntryId> {
        if entry_id.len() != ENTRY_ID_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN + 2];
        let n = URL_SAFE_NO_PAD
            .decode_slice(entry_id.as_bytes(), &mut raw)
            .ok()?;
        if n != RAW_LEN {
            return None;
        }
        let seq = Seq::from_be_bytes(raw[..SEQ_LEN].try_into().ok()?);
        let mac = raw[SEQ_LEN..RAW_LEN].try_into().ok()?;
        (seq > 0).then_some(UncheckedEntryId { seq, mac })
    }

    /// Constant-time check that the id was issued for this queue and epoch.
    pub fn verify(&self, id: &UncheckedEntryId, queue_id: &str, epoch: u64) -> bool {
        self.mac(queue_id, epoch, id.seq)
            .verify_truncated_left(&id.mac)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issued_id_parses_and_verifies() {
        let codec = EntryIdCodec::new(b"secret");
        let id = codec.encode("concert", 7, 42);
        assert_eq!(id.len(), ENTRY_ID_LEN);
        let parsed = EntryIdCodec::parse(&id).unwrap();
        assert_eq!(parsed.seq, 42);
        assert!(codec.verify(&parsed, "concert", 7));
    }

    #[test]
    fn ids_do_not_transfer_between_queues_epochs_or_secrets() {
        let codec = EntryIdCodec::new(b"secret");
        let parsed = EntryIdCodec::parse(&codec.encode("concert", 7, 42)).unwrap();
        assert!(!codec.verify(&parsed, "other", 7));
        assert!(!codec.verify(&parsed, "concert", 8));
        assert!(!EntryIdCodec::new(b"other secret").verify(&parsed, "concert", 7));
    }

    #[test]
    fn a_forged_sequence_number_is_refused() {
        let codec = EntryIdCodec::new(b"secret");
        let id = codec.encode("concert", 7, 42);
        let mut raw = URL_SAFE_NO_PAD.decode(&id).unwrap();
        raw[7] = 1; // claim to be entry 1, the front of the line
        let forged = URL_SAFE_NO_PAD.encode(raw);
        let parsed = EntryIdCodec::parse(&forged).unwrap();
        assert_eq!(parsed.seq, 1);
        assert!(!codec.verify(&parsed, "concert", 7));
    }

    #[test]
    fn malformed_ids_do_not_parse() {
        assert!(EntryIdCodec::parse("").is_none());
        assert!(EntryIdCodec::parse("short").is_none());
        assert!(EntryIdCodec::parse(&"*".repeat(ENTRY_ID_LEN)).is_none());
        // Sequence number zero is never issued.
        let zero = URL_SAFE_NO_PAD.encode([0u8; RAW_LEN]);
        assert!(EntryIdCodec::parse(&zero).is_none());
    }
}
