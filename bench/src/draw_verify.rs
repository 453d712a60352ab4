//! An independent check of a pre-queue draw, from its published record
//! alone (`GET /v1/api/queues/{queueId}/draw`), following
//! `proto-notes/prequeue-draw.md`. It shares no code with the
//! queue-server's draw on purpose: two implementations of the text that
//! agree are the point.

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The published record, as far as checking it needs.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrawRecord {
    pub algorithm: String,
    pub stage: String,
    pub commitment: String,
    pub seed: Option<String>,
    pub participants: u64,
    pub ids: Vec<String>,
    pub places: Vec<u64>,
}

/// What a check found right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub participants: usize,
}

fn unhex(raw: &str, len: usize, what: &str) -> Result<Vec<u8>, String> {
    if raw.len() != 2 * len || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{what} must be {len} bytes of hex, not {raw:?}"));
    }
    Ok((0..len)
        .map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16).expect("checked hex"))
        .collect())
}

/// Recomputes every place from the seed and the participant ids and checks
/// them against the published places, and the seed against the commitment.
pub fn verify(record: &DrawRecord) -> Result<Verified, String> {
    if record.algorithm != "ticketon-draw-v1" {
        return Err(format!("unknown algorithm {:?}", record.algorithm));
    }
    if record.stage != "drawn" {
        return Err(format!("not drawn yet (stage {:?})", record.stage));
    }
    let seed = unhex(
        record
            .seed
            .as_deref()
            .ok_or("a drawn record must publish its seed")?,
        32,
        "seed",
    )?;
    let commitment = unhex(&record.commitment, 32, "commitment")?;
    if Sha256::digest(&seed)[..] != commitment[..] {
        return Err("the seed does not match the commitment published before the sale".into());
    }
    let n = record.ids.len();
    if record.participants != n as u64 || record.places.len() != n {
        return Err(format!(
            "{} participants announced, {} ids and {} places published",
            record.participants,
            n,
            record.places.len()
        ));
    }
    let mut tickets = Vec::with_capacity(n);
    for (index, id) in record.ids.iter().enumerate() {
        let id = unhex(id, 16, "a participant id")?;
        let mut hash = Sha256::new();
        hash.update(b"ticketon-draw-v1");
        hash.update(&seed);
        hash.update(&id);
        tickets.push((<[u8; 32]>::from(hash.finalize()), index));
    }
    tickets.sort_unstable();
    for (rank, (_, index)) in tickets.iter().enumerate() {
        let place = rank as u64 + 1;
        if record.places[*index] != place {
            return Err(format!(
                "participant {} (join #{}) is published at place {}, the draw gives {place}",
                record.ids[*index],
                index + 1,
                record.places[*index]
            ));
        }
    }
    Ok(Verified { participants: n })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seed: [u8; 32], ids: &[[u8; 16]], places: Vec<u64>) -> DrawRecord {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        DrawRecord {
            algorithm: "ticketon-draw-v1".into(),
            stage: "drawn".into(),
            commitment: hex(&Sha256::digest(seed)),
            seed: Some(hex(&seed)),
            participants: ids.len() as u64,
            ids: ids.iter().map(|id| hex(id)).collect(),
            places,
        }
    }

    #[test]
    fn agrees_with_the_queue_servers_draw_and_catches_a_moved_place() {
        let seed = [4u8; 32];
        let ids: Vec<[u8; 16]> = (0..100u8).map(|i| [i; 16]).collect();
        let order = queue_server::model::draw::draw(&seed, &ids);
        let places: Vec<u64> = (1..=100).map(|seq| order.place_of(seq)).collect();
        assert_eq!(
            verify(&record(seed, &ids, places.clone()))
                .unwrap()
                .participants,
            100
        );

        let mut swapped = places.clone();
        swapped.swap(3, 7);
        assert!(verify(&record(seed, &ids, swapped)).is_err());
        let mut lied = record(seed, &ids, places);
        lied.commitment = "00".repeat(32);
        assert!(verify(&lied).unwrap_err().contains("commitment"));
    }
}
