//! The keys of a scheduled sale's draw, and its published record.
//!
//! The draw itself is the model's (`model::draw`); this module holds what
//! needs the server's secret:
//! - the **seed** of a queue, `HMAC-SHA256(seed key, queueId ‖ epoch)`. It
//!   is derived rather than stored, so that every queue-server of a fleet,
//!   and a lease holder that takes over half-way through a draw, draws with
//!   the same seed; the epoch (random per incarnation of the queue) makes
//!   it new for every sale. Its SHA-256 is published from the moment the
//!   sale is scheduled, the seed itself once the sale opens.
//! - the **participant id** of an entry, the first 16 bytes of
//!   `HMAC-SHA256(participant key, entryId)`: published in the draw's list,
//!   and told to the entry's holder (`drawId`) so that the fan can find
//!   themself there, while nobody else learns an entryId from the list.
//!
//! Both keys are derived from the token secret, each of its own.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::entry_id::EntryIdCodec;
use crate::model::draw::{self, ParticipantId, Seed};
use crate::model::{LineOrder, Seq};

#[derive(Clone, Debug)]
pub struct DrawKeys {
    seed_key: Hmac<Sha256>,
    participant_key: Hmac<Sha256>,
}

fn derive(token_secret: &[u8], label: &[u8]) -> Hmac<Sha256> {
    let mut derive =
        Hmac::<Sha256>::new_from_slice(token_secret).expect("HMAC accepts any key length");
    derive.update(label);
    let key = derive.finalize().into_bytes();
    Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length")
}

impl DrawKeys {
    pub fn new(token_secret: &[u8]) -> Self {
        DrawKeys {
            seed_key: derive(token_secret, b"ticketon draw seed key v1"),
            participant_key: derive(token_secret, b"ticketon draw participant key v1"),
        }
    }

    pub fn seed(&self, queue_id: &str, epoch: u64) -> Seed {
        let mut mac = self.seed_key.clone();
        mac.update(&(queue_id.len() as u16).to_be_bytes());
        mac.update(queue_id.as_bytes());
        mac.update(&epoch.to_be_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn participant_id(&self, entry_id: &str) -> ParticipantId {
        let mut mac = self.participant_key.clone();
        mac.update(entry_id.as_bytes());
        let tag = mac.finalize().into_bytes();
        let mut id = [0u8; 16];
        id.copy_from_slice(&tag[..16]);
        id
    }

    /// The participant ids of seqs `1..=block`, in join order.
    pub fn participants(
        &self,
        entry_ids: &EntryIdCodec,
        queue_id: &str,
        epoch: u64,
        block: u64,
    ) -> Vec<ParticipantId> {
        (1..=block)
            .map(|seq| self.participant_id(&entry_ids.encode(queue_id, epoch, seq)))
            .collect()
    }

    /// The queue's draw: what the lease holder commits.
    pub fn draw(
        &self,
        entry_ids: &EntryIdCodec,
        queue_id: &str,
        epoch: u64,
        block: u64,
    ) -> LineOrder {
        let participants = self.participants(entry_ids, queue_id, epoch, block);
        draw::draw(&self.seed(queue_id, epoch), &participants)
    }
}

/// `GET /v1/api/queues/{queueId}/draw`, as published (see
/// `proto-notes/prequeue-draw.md`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrawRecord {
    pub queue_id: String,
    pub algorithm: &'static str,
    /// RFC 3339, UTC.
    pub opens_at: String,
    /// `pending` (before the opening), `sealed` (the pre-queue is closed and
    /// being drawn) or `drawn`.
    pub stage: &'static str,
    /// Hex SHA-256 of the seed.
    pub commitment: String,
    /// Hex, once the sale opened.
    pub seed: Option<String>,
    pub participants: u64,
    /// Once drawn: the hex participant id of each entry of the pre-queue,
    /// in join order, and the place the draw gave it (same index).
    pub ids: Vec<String>,
    pub places: Vec<u64>,
}

/// The published list: participant ids in join order and their places.
pub fn published_places(
    keys: &DrawKeys,
    entry_ids: &EntryIdCodec,
    queue_id: &str,
    epoch: u64,
    order: &LineOrder,
) -> (Vec<String>, Vec<u64>) {
    let ids = keys
        .participants(entry_ids, queue_id, epoch, order.block())
        .iter()
        .map(hex)
        .collect();
    let places = (1..=order.block())
        .map(|seq: Seq| order.place_of(seq))
        .collect();
    (ids, places)
}

/// Checks a published record (`GET .../draw`, drawn) with this crate's own
/// draw: the seed matches the commitment, and every published place is the
/// one the tickets give. The tests' check; `draw-verify` in bench/ is the
/// independent one.
pub fn recheck(record: &serde_json::Value) -> Result<(), String> {
    fn unhex<const N: usize>(raw: Option<&str>, what: &str) -> Result<[u8; N], String> {
        let raw = raw.ok_or(format!("no {what}"))?;
        let bytes: Vec<u8> = (0..raw.len() / 2)
            .map(|i| u8::from_str_radix(raw.get(2 * i..2 * i + 2).unwrap_or("?"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{what} is not hex"))?;
        bytes
            .try_into()
            .map_err(|_| format!("{what} is not {N} bytes"))
    }
    let seed: Seed = unhex(record["seed"].as_str(), "seed")?;
    let commitment: [u8; 32] = unhex(record["commitment"].as_str(), "commitment")?;
    if draw::commitment(&seed) != commitment {
        return Err("the seed does not match the commitment".into());
    }
    let ids = record["ids"].as_array().ok_or("no ids")?;
    let ids: Vec<ParticipantId> = ids
        .iter()
        .map(|id| unhex(id.as_str(), "an id"))
        .collect::<Result<_, _>>()?;
    let order = draw::draw(&seed, &ids);
    let expected: Vec<u64> = (1..=order.block()).map(|seq| order.place_of(seq)).collect();
    if record["places"] != serde_json::json!(expected) {
        return Err("the published places are not the draw's".into());
    }
    Ok(())
}

pub fn hex(bytes: impl AsRef<[u8]>) -> String {
    use std::fmt::Write;
    bytes.as_ref().iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_queue_incarnation_and_secret_but_not_by_server() {
        let a = DrawKeys::new(b"secret-one");
        assert_eq!(a.seed("q", 1), DrawKeys::new(b"secret-one").seed("q", 1));
        assert_ne!(a.seed("q", 1), a.seed("q", 2));
        assert_ne!(a.seed("q", 1), a.seed("r", 1));
        assert_ne!(a.seed("q", 1), DrawKeys::new(b"secret-two").seed("q", 1));
    }

    #[test]
    fn the_published_list_names_each_entry_by_its_participant_id() {
        let keys = DrawKeys::new(b"secret");
        let codec = EntryIdCodec::new(b"secret");
        let order = keys.draw(&codec, "q", 9, 20);
        let (ids, places) = published_places(&keys, &codec, "q", 9, &order);
        assert_eq!(ids.len(), 20);
        assert_eq!(
            ids[4],
            hex(keys.participant_id(&codec.encode("q", 9, 5))),
            "seq 5's entryId"
        );
        assert_eq!(places[4], order.place_of(5));
        assert_eq!(hex([0, 171, 255]), "00abff");

        let seed = keys.seed("q", 9);
        let mut record = serde_json::json!({
            "commitment": hex(draw::commitment(&seed)), "seed": hex(seed),
            "ids": ids, "places": places,
        });
        assert_eq!(recheck(&record), Ok(()));
        record["places"][0] = serde_json::json!(99);
        assert!(recheck(&record).is_err());
        record["seed"] = serde_json::json!(hex([0u8; 32]));
        assert!(recheck(&record).unwrap_err().contains("commitment"));
    }
}
