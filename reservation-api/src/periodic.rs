//! The shape every background task of the service shares: run a round every
//! `interval` until the stop signal turns true. A round that fails is logged
//! by the caller and simply tried again at the next tick.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

pub async fn every<F, Fut>(interval: Duration, mut stop: watch::Receiver<bool>, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = stop.changed() => {
                // The sender is gone: nobody can stop us any more, so stop now.
                if changed.is_err() {
                    return;
                }
            }
        }
        if *stop.borrow() {
            return;
        }
        round().await;
    }
}
