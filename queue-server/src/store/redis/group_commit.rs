//! Group commit: concurrent requests share one round trip.
//!
//! A flash sale opens with tens of thousands of joins a second. One Redis
//! round trip per join would make Redis's per-command overhead, not the
//! work, the ceiling. Instead, joins are coalesced: the first request that
//! finds the batcher idle is sent at once (a lone join is never held back
//! by a timer), and whatever arrives while that round trip is in flight is
//! sent together in the next one. The batch size therefore follows the load
//! by itself: one under a trickle, hundreds at the peak, with no knob to tune.
//! Each caller is answered only when its own batch has been flushed.
//!
//! `max_in_flight` batches may be in flight at once (pipelined on one
//! connection): with 1, a batch waits for the previous round trip; with 2,
//! the next batch leaves while the previous one is still on the wire, which
//! hides the round trip on a loaded machine. Either way nothing waits on a
//! timer.

use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// The most scheduler turns a batch waits while it keeps growing (bounds
/// the added latency under a steady stream of joins).
const MAX_GATHER_TURNS: usize = 8;

/// The batch was dropped without an answer (its flush panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the batch was abandoned")]
pub struct Abandoned;

#[derive(Debug)]
struct State<T, R> {
    pending: Vec<(T, oneshot::Sender<R>)>,
    /// Driver tasks running, each with at most one batch in flight (and
    /// each picks up `pending` when its batch is done).
    drivers: usize,
}

/// Coalesces items into batches flushed by `F`, at most `max_in_flight`
/// batches at a time. `F` returns one result per item, in order.
#[derive(Debug)]
pub struct GroupCommit<T, R, F> {
    flush: F,
    max_batch: usize,
    max_in_flight: usize,
    state: Mutex<State<T, R>>,
}

impl<T, R, F, Fut> GroupCommit<T, R, F>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<R>> + Send + 'static,
{
    pub fn new(max_batch: usize, max_in_flight: usize, flush: F) -> Arc<Self> {
        Arc::new(GroupCommit {
            flush,
            max_batch: max_batch.max(1),
            max_in_flight: max_in_flight.max(1),
            state: Mutex::new(State {
                pending: Vec::new(),
                drivers: 0,
            }),
        })
    }

    /// Queues `item` and waits for its batch's result.
    pub async fn submit(self: &Arc<Self>, item: T) -> Result<R, Abandoned> {
        let (tx, rx) = oneshot::channel();
        let start_driver = {
            let mut state = self.state.lock();
            state.pending.push((item, tx));
            let start = state.drivers < self.max_in_flight;
            if start {
                state.drivers += 1;
            }
            start
        };
        if start_driver {
            // A task of its own, so that a caller that goes away (a client
            // hanging up) never strands the batch it was carrying.
            tokio::spawn(self.clone().drive());
        }
        rx.await.map_err(|_| Abandoned)
    }

    /// Lets the requests the runtime already has in hand (sockets ready,
    /// tasks runnable) add their joins before the batch leaves, for as long
    /// as the batch keeps growing. These are turns of the scheduler, not a
    /// timer: on an idle server the first turn adds nothing and the batch
    /// leaves after microseconds; under load, batches grow several times.
    async fn gather(&self) {
        let mut size = self.state.lock().pending.len();
        for _ in 0..MAX_GATHER_TURNS {
            tokio::task::yield_now().await;
            let now = self.state.lock().pending.len();
            if now == size || now >= self.max_batch {
                break;
            }
            size = now;
        }
    }

    async fn drive(self: Arc<Self>) {
        let guard = ResetOnPanic(&self.state);
        loop {
            self.gather().await;
            let batch: Vec<(T, oneshot::Sender<R>)> = {
                let mut state = self.state.lock();
                if state.pending.is_empty() {
                    state.drivers -= 1;
                    break;
                }
                let n = state.pending.len().min(self.max_batch);
                state.pending.drain(..n).collect()
            };
            let (items, senders): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.into_iter().unzip();
            let results = (self.flush)(items).await;
            // A short answer drops the remaining senders: those callers get
            // `Abandoned` rather than waiting forever.
            for (sender, result) in senders.into_iter().zip(results) {
                let _ = sender.send(result);
            }
        }
        std::mem::forget(guard);
    }
}

/// If a flush panics, its driver dies: its batch is answered `Abandoned`
/// (the senders drop); if no other driver is left to pick up the queued
/// items, they are answered `Abandoned` too, and the next caller starts a
/// new driver.
struct ResetOnPanic<'a, T, R>(&'a Mutex<State<T, R>>);

impl<T, R> Drop for ResetOnPanic<'_, T, R> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.drivers -= 1;
        if state.drivers == 0 {
            state.pending.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Semaphore;

    #[tokio::test]
    async fn a_lone_item_is_flushed_alone_and_at_once() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let gc = GroupCommit::new(10, 1, move |items: Vec<u32>| {
            seen.lock().push(items.clone());
            async move { items.into_iter().map(|i| i * 2).collect() }
        });
        assert_eq!(gc.submit(21).await, Ok(42));
        assert_eq!(*batches.lock(), vec![vec![21]]);
    }

    #[tokio::test]
    async fn arrivals_during_a_flush_go_together_in_the_next_one() {
        // Each flush waits for a permit, so the test decides when the
        // "round trip" completes.
        let gate = Arc::new(Semaphore::new(0));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (g, seen) = (gate.clone(), batches.clone());
        let gc = GroupCommit::new(100, 1, move |items: Vec<u32>| {
            seen.lock().push(items.clone());
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                items.into_iter().map(|i| i + 1000).collect::<Vec<_>>()
            }
        });
        let first = tokio::spawn({
            let gc = gc.clone();
            async move { gc.submit(0).await }
        });
        // Wait until the first flush is in flight.
        while batches.lock().is_empty() {
            tokio::task::yield_now().await;
        }
        let rest: Vec<_> = (1..=5)
            .map(|i| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.submit(i).await })
            })
            .collect();
        while gc.state.lock().pending.len() < 5 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(2);
        assert_eq!(first.await.unwrap(), Ok(1000));
        for (i, task) in rest.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Ok(1001 + i as u32));
        }
        assert_eq!(*batches.lock(), vec![vec![0], vec![1, 2, 3, 4, 5]]);
    }

    #[tokio::test]
    async fn batches_never_exceed_the_maximum() {
        let gate = Arc::new(Semaphore::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (g, seen) = (gate.clone(), sizes.clone());
        let gc = GroupCommit::new(3, 1, move |items: Vec<u32>| {
            seen.lock().push(items.len());
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                items
            }
        });
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let gc = gc.clone();
                tokio::spawn(async move { gc.submit(i).await })
            })
            .collect();
        gate.add_permits(100);
        for (i, task) in tasks.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Ok(i as u32));
        }
        assert!(sizes.lock().iter().all(|&n| n <= 3), "{:?}", sizes.lock());
        assert_eq!(sizes.lock().iter().sum::<usize>(), 10);
    }

    #[tokio::test]
    async fn with_two_in_flight_the_next_batch_does_not_wait() {
        let gate = Arc::new(Semaphore::new(0));
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (g, seen) = (gate.clone(), batches.clone());
        let gc = GroupCommit::new(100, 2, move |items: Vec<u32>| {
            seen.lock().push(items.clone());
            let g = g.clone();
            async move {
                g.acquire().await.unwrap().forget();
                items
            }
        });
        let submit = |i: u32| {
            let gc = gc.clone();
            tokio::spawn(async move { gc.submit(i).await })
        };
        let first = submit(0);
        while batches.lock().is_empty() {
            tokio::task::yield_now().await;
        }
        // The first batch is held; the second leaves anyway.
        let second = submit(1);
        while batches.lock().len() < 2 {
            tokio::task::yield_now().await;
        }
        // Both in flight: the next arrivals wait, together.
        let rest: Vec<_> = (2..5).map(submit).collect();
        while gc.state.lock().pending.len() < 3 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(100);
        assert_eq!(first.await.unwrap(), Ok(0));
        assert_eq!(second.await.unwrap(), Ok(1));
        for (i, task) in rest.into_iter().enumerate() {
            assert_eq!(task.await.unwrap(), Ok(i as u32 + 2));
        }
        let batches = batches.lock();
        assert_eq!(batches[..2], [vec![0], vec![1]]);
        assert_eq!(batches[2..].concat().len(), 3);
        assert!(batches.len() <= 4, "{batches:?}");
    }

    #[tokio::test]
    async fn a_panicking_flush_abandons_its_batch_but_not_the_batcher() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let gc = GroupCommit::new(10, 1, move |items: Vec<u32>| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                assert!(n > 0, "first flush fails");
                items
            }
        });
        assert_eq!(gc.submit(1).await, Err(Abandoned));
        assert_eq!(gc.submit(2).await, Ok(2));
    }
}
