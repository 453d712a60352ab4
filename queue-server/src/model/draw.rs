//! The pre-queue draw: who of the fans that joined before a scheduled sale
//! opened goes in first. Specified byte for byte in
//! `proto-notes/prequeue-draw.md`, which is what `bench`'s verifier
//! implements on its own from the published data.
//!
//! Everyone who joined before `opensAt` is a *participant*: the block of
//! entries with seqs `1..=block`. At `opensAt` each gets a ticket, the
//! SHA-256 of the algorithm's name, the sale's seed and the participant's
//! published identifier, and the block goes in ticket order. The seed is
//! committed to (its SHA-256 published) when the sale is scheduled and
//! published when it opens, so nobody, the operator included, can pick it
//! after seeing who joined, and anybody can check every place afterwards.
//!
//! Fans who join after `opensAt` line up behind the block in join order:
//! their place is their seq. [`LineOrder`] maps between the two.

use sha2::{Digest, Sha256};

use super::queue::Seq;

/// The algorithm's name and version, as published and as hashed.
pub const ALGORITHM: &str = "ticketon-draw-v1";

pub type Seed = [u8; 32];

/// A participant's published identifier.
pub type ParticipantId = [u8; 16];

/// What the queue publishes when the sale is scheduled.
pub fn commitment(seed: &Seed) -> [u8; 32] {
    Sha256::digest(seed).into()
}

/// The participant's ticket: its order in the draw.
pub fn ticket(seed: &Seed, participant: &ParticipantId) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(ALGORITHM.as_bytes());
    hash.update(seed);
    hash.update(participant);
    hash.finalize().into()
}

/// Draws the block: `participants[i]` is the entry with seq `i + 1`; the
/// answer lists the seqs in their new order (place 1 first). Ties of
/// tickets (never seen with SHA-256) go to the earlier join.
pub fn draw(seed: &Seed, participants: &[ParticipantId]) -> LineOrder {
    let mut tickets: Vec<([u8; 32], u32)> = participants
        .iter()
        .zip(1u32..)
        .map(|(participant, seq)| (ticket(seed, participant), seq))
        .collect();
    tickets.sort_unstable();
    LineOrder::from_seqs(tickets.into_iter().map(|(_, seq)| seq).collect())
        .expect("the seqs of a block are a permutation")
}

/// The order of the line: the drawn block first, in draw order, then
/// everyone who joined after it, in join order. Empty (the identity) for a
/// sale without a draw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineOrder {
    /// `seq_by_place[place - 1]`.
    seq_by_place: Vec<u32>,
    /// `place_by_seq[seq - 1]`.
    place_by_seq: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a drawn order must list each seq from 1 to its length once")]
pub struct NotAPermutation;

impl LineOrder {
    pub fn from_seqs(seq_by_place: Vec<u32>) -> Result<Self, NotAPermutation> {
        let mut place_by_seq = vec![0u32; seq_by_place.len()];
        for (place, &seq) in (1u32..).zip(&seq_by_place) {
            let slot = seq
                .checked_sub(1)
                .and_then(|i| place_by_seq.get_mut(i as usize))
                .ok_or(NotAPermutation)?;
            if *slot != 0 {
                return Err(NotAPermutation);
            }
            *slot = place;
        }
        Ok(LineOrder {
            seq_by_place,
            place_by_seq,
        })
    }

    /// How many entries were drawn.
    pub fn block(&self) -> u64 {
        self.seq_by_place.len() as u64
    }

    pub fn seq_at(&self, place: u64) -> Seq {
        match place
            .checked_sub(1)
            .and_then(|i| self.seq_by_place.get(i as usize))
        {
            Some(&seq) => Seq::from(seq),
            None => place,
        }
    }

    pub fn place_of(&self, seq: Seq) -> u64 {
        match seq
            .checked_sub(1)
            .and_then(|i| self.place_by_seq.get(i as usize))
        {
            Some(&place) => u64::from(place),
            None => seq,
        }
    }

    /// The seqs in place order, four bytes big-endian each: how the Redis
    /// store keeps a drawn order (`admit.lua` reads it place by place).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.seq_by_place
            .iter()
            .flat_map(|seq| seq.to_be_bytes())
            .collect()
    }

    /// The place of each seq of the block, four bytes big-endian each:
    /// the inverse the Redis store keeps beside the order (`leave.lua`
    /// reads the place of one seq from it).
    pub fn places_to_bytes(&self) -> Vec<u8> {
        self.place_by_seq
            .iter()
            .flat_map(|place| place.to_be_bytes())
            .collect()
    }

    pub fn from_bytes(raw: &[u8]) -> Result<Self, NotAPermutation> {
        if !raw.len().is_multiple_of(4) {
            return Err(NotAPermutation);
        }
        Self::from_seqs(
            raw.chunks_exact(4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participants(n: u32) -> Vec<ParticipantId> {
        (0..n)
            .map(|i| {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&i.to_be_bytes());
                id
            })
            .collect()
    }

    #[test]
    fn the_draw_is_a_permutation_fixed_by_the_seed() {
        let people = participants(1000);
        let a = draw(&[1; 32], &people);
        assert_eq!(a.block(), 1000);
        let mut seqs: Vec<Seq> = (1..=1000).map(|p| a.seq_at(p)).collect();
        assert_ne!(seqs, (1..=1000).collect::<Vec<_>>(), "shuffled");
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
        assert_eq!(draw(&[1; 32], &people), a, "same seed, same draw");
        assert_ne!(draw(&[2; 32], &people), a, "another seed, another draw");
        for place in 1..=1000 {
            assert_eq!(a.place_of(a.seq_at(place)), place);
        }
    }

    #[test]
    fn places_follow_the_tickets() {
        let people = participants(50);
        let seed = [9; 32];
        let order = draw(&seed, &people);
        for place in 1..50 {
            let here = ticket(&seed, &people[order.seq_at(place) as usize - 1]);
            let next = ticket(&seed, &people[order.seq_at(place + 1) as usize - 1]);
            assert!(here < next);
        }
    }

    #[test]
    fn the_ticket_hashes_name_seed_and_participant_in_that_order() {
        let seed = [7; 32];
        let id = [3; 16];
        let mut bytes = b"ticketon-draw-v1".to_vec();
        bytes.extend_from_slice(&seed);
        bytes.extend_from_slice(&id);
        assert_eq!(ticket(&seed, &id), <[u8; 32]>::from(Sha256::digest(&bytes)));
        assert_eq!(commitment(&seed), <[u8; 32]>::from(Sha256::digest(seed)));
    }

    #[test]
    fn after_the_block_the_line_is_in_join_order() {
        let order = draw(&[5; 32], &participants(3));
        assert_eq!(order.seq_at(4), 4);
        assert_eq!(order.place_of(10), 10);
        assert_eq!(LineOrder::default().seq_at(7), 7);
    }

    #[test]
    fn an_order_survives_its_bytes_and_garbage_is_refused() {
        let order = draw(&[5; 32], &participants(300));
        assert_eq!(LineOrder::from_bytes(&order.to_bytes()).unwrap(), order);
        let places = order.places_to_bytes();
        let place_of_7 = u32::from_be_bytes(places[24..28].try_into().unwrap());
        assert_eq!(u64::from(place_of_7), order.place_of(7));
        assert!(LineOrder::from_bytes(&[0, 0, 0]).is_err());
        assert!(LineOrder::from_seqs(vec![1, 1]).is_err());
        assert!(LineOrder::from_seqs(vec![0]).is_err());
        assert!(LineOrder::from_seqs(vec![3, 1]).is_err());
        assert!(LineOrder::from_seqs(vec![2, 1]).is_ok());
    }
}
