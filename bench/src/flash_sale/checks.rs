//! The arithmetic of the end-of-sale checks and figures, without IO.

/// Pairs admitted in the wrong order: `a` admitted strictly before `b`
/// although `a` joined after `b`. `admitted` holds (admitted_at_ms, seq) of
/// every admission seen, over the whole fleet (seq is the queue's join
/// order, shared by every node). Admissions in the same millisecond are one
/// batch and never count against each other.
pub(crate) fn fifo_inversions(admitted: &[(u64, u64)]) -> u64 {
    let mut order = admitted.to_vec();
    order.sort_unstable();
    // Count, for each admission, the earlier-admitted ones with a larger
    // seq, with a merge sort over the seqs in admission order. Within a
    // millisecond the sort already put seqs in ascending order.
    let mut seqs: Vec<u64> = order.iter().map(|&(_, seq)| seq).collect();
    let mut scratch = vec![0; seqs.len()];
    count_inversions(&mut seqs, &mut scratch)
}

fn count_inversions(v: &mut [u64], scratch: &mut [u64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = count_inversions(&mut v[..mid], &mut scratch[..mid])
        + count_inversions(&mut v[mid..], &mut scratch[mid..]);
    let (mut i, mut j, mut k) = (0, mid, 0);
    while i < mid && j < n {
        if v[i] <= v[j] {
            scratch[k] = v[i];
            i += 1;
        } else {
            scratch[k] = v[j];
            count += (mid - i) as u64;
            j += 1;
        }
        k += 1;
    }
    scratch[k..k + mid - i].copy_from_slice(&v[i..mid]);
    k += mid - i;
    scratch[k..k + n - j].copy_from_slice(&v[j..n]);
    v.copy_from_slice(&scratch[..n]);
    count
}

/// The most admissions in any one-second window `[t, t + 1000)`.
pub(crate) fn max_in_one_second(times_ms: &[u64]) -> usize {
    let mut t = times_ms.to_vec();
    t.sort_unstable();
    let (mut best, mut start) = (0, 0);
    for end in 0..t.len() {
        while t[end] - t[start] >= 1000 {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

pub(crate) use crate::stats::quantile;

/// ETA error of one prediction, in percent of the actual wait.
pub(crate) fn eta_error_pct(predicted_ms: f64, actual_ms: f64) -> f64 {
    (predicted_ms - actual_ms).abs() / actual_ms * 100.0
}

/// Mean and p90 of the errors (percent); (0, 0) for none.
pub(crate) fn error_summary(errors: &mut [f64]) -> (f64, f64) {
    if errors.is_empty() {
        return (0.0, 0.0);
    }
    errors.sort_by(f64::total_cmp);
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    (mean, quantile(errors, 0.9))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(admitted: &[(u64, u64)]) -> u64 {
        let mut n = 0;
        for a in admitted {
            for b in admitted {
                if a.0 < b.0 && a.1 > b.1 {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn inversions_are_counted_across_batches_only() {
        assert_eq!(fifo_inversions(&[(10, 1), (10, 2), (20, 3)]), 0);
        // Same millisecond, any order: one batch.
        assert_eq!(fifo_inversions(&[(10, 2), (10, 1)]), 0);
        assert_eq!(fifo_inversions(&[(10, 2), (20, 1)]), 1);
        let mixed = [(5, 9), (1, 4), (3, 7), (3, 2), (8, 1), (1, 6), (9, 3)];
        assert_eq!(fifo_inversions(&mixed), brute_force(&mixed));
    }

    #[test]
    fn the_busiest_second_is_found() {
        assert_eq!(max_in_one_second(&[]), 0);
        assert_eq!(max_in_one_second(&[0, 999, 1000, 1999, 2000]), 2);
        assert_eq!(max_in_one_second(&[5, 5, 5, 3000]), 3);
    }

    #[test]
    fn eta_errors_are_relative_to_the_actual_wait() {
        assert_eq!(eta_error_pct(90.0, 100.0), 10.0);
        let mut errors = vec![10.0, 0.0, 20.0, 30.0];
        assert_eq!(error_summary(&mut errors), (15.0, 30.0));
    }
}
