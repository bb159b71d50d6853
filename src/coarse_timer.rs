//! Coarse deadlines for the per-request timeouts of the serving path: hyper's header-read timeout and the
//! pass-through's wait for an upstream reply.
//!
//! Nearly every such deadline is cancelled long before it is due (the request head arrives, the upstream
//! answers), so what matters is what arming and cancelling cost. A tokio timer costs a timer-wheel entry and, often,
//! a write to the runtime's wake-up eventfd plus an extra `epoll_wait` round; on pass-through that was about half
//! a microsecond of the ~14 µs a request costs (`bench/proxy.sh`). Here, arming is a slot in a list under an
//! uncontended lock, and one ticker task per timer wakes whatever is due at each tick while anything is armed. The
//! price is precision: a deadline fires up to one tick late, and the tick is a small fraction of the shortest
//! timeout it serves.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A source of coarse deadlines; cheap to clone (one shared list and ticker).
#[derive(Clone)]
pub struct CoarseTimer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for CoarseTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoarseTimer")
            .field("tick", &self.shared.tick)
            .finish()
    }
}

struct Shared {
    tick: Duration,
    armed: Mutex<Armed>,
    /// Wakes the idle ticker when the first deadline is armed, and when the timer is dropped.
    wake_ticker: Arc<Notify>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.wake_ticker.notify_one();
    }
}

/// Armed deadlines, in slots reused through a free list.
#[derive(Default)]
struct Armed {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Slots whose waker has not been woken yet.
    waiting: usize,
}

struct Slot {
    deadline: Instant,
    /// Taken when the ticker wakes it.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Armed> {
        // The list stays consistent whatever a panicking holder did: every change is a single assignment.
        self.armed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

impl CoarseTimer {
    /// A timer whose deadlines fire at most `tick` late. Spawns its ticker on the current tokio runtime; the
    /// ticker ends when the timer and all its sleeps are dropped.
    pub fn new(tick: Duration) -> CoarseTimer {
        let wake_ticker = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            tick: tick.max(Duration::from_millis(1)),
            armed: Mutex::new(Armed::default()),
            wake_ticker: wake_ticker.clone(),
        });
        tokio::spawn(run_ticker(Arc::downgrade(&shared), wake_ticker));
        CoarseTimer { shared }
    }

    /// A tick for timeouts no shorter than `shortest`: a twentieth of it, between 5 and 100 ms.
    pub fn tick_for(shortest: Duration) -> Duration {
        (shortest / 20).clamp(Duration::from_millis(5), Duration::from_millis(100))
    }

    /// A future that completes at (or up to one tick after) `deadline`.
    pub fn sleep_until(&self, deadline: Instant) -> CoarseSleep {
        CoarseSleep {
            shared: self.shared.clone(),
            deadline,
            slot: None,
            registered: None,
        }
    }

    /// Runs `future` until it finishes or `limit` has passed.
    pub async fn timeout<F: Future>(
        &self,
        limit: Duration,
        future: F,
    ) -> Result<F::Output, Elapsed> {
        let mut sleep = std::pin::pin!(self.sleep_until(Instant::now() + limit));
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            sleep.as_mut().poll(cx).map(|()| Err(Elapsed))
        })
        .await
    }
}

impl hyper::rt::Timer for CoarseTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(self.sleep_until(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CoarseTimer::sleep_until(self, deadline))
    }
}

/// Wakes due sleeps every tick while any is armed; parks on `wake_ticker` otherwise.
async fn run_ticker(shared: Weak<Shared>, wake_ticker: Arc<Notify>) {
    let mut due = Vec::new();
    loop {
        let tick = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let idle = shared.lock().waiting == 0;
            if idle {
                None
            } else {
                Some(shared.tick)
            }
        };
        match tick {
            // A deadline armed between the check and this wait left a permit: the wait ends at once.
            None => wake_ticker.notified().await,
            Some(tick) => {
                tokio::time::sleep(tick).await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let now = Instant::now();
                {
                    let mut armed = shared.lock();
                    let mut woken = 0;
                    for slot in armed.slots.iter_mut().flatten() {
                        if slot.deadline <= now {
                            if let Some(waker) = slot.waker.take() {
                                due.push(waker);
                                woken += 1;
                            }
                        }
                    }
                    armed.waiting -= woken;
                }
                // Woken outside the lock: a woken task may arm or cancel at once.
                for waker in due.drain(..) {
                    waker.wake();
                }
            }
        }
    }
}

/// A coarse deadline; unarmed until first polled, disarmed when dropped.
pub struct CoarseSleep {
    shared: Arc<Shared>,
    deadline: Instant,
    slot: Option<usize>,
    /// The waker last handed to the ticker, to skip the lock when a poll brings the same one.
    registered: Option<Waker>,
}

impl CoarseSleep {
    fn disarm(&mut self) {
        if let Some(at) = self.slot.take() {
            let mut armed = self.shared.lock();
            if let Some(Some(slot)) = armed.slots.get_mut(at).map(Option::take) {
                if slot.waker.is_some() {
                    armed.waiting -= 1;
                }
                armed.free.push(at);
            }
        }
        self.registered = None;
    }
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // The first poll follows right on the clock read that set the deadline (a request's timeout is armed as
        // its work starts), so only later polls read the clock again; a deadline already past when first polled
        // fires at the next tick, within the timer's contract.
        if this.slot.is_some() && Instant::now() >= this.deadline {
            this.disarm();
            return Poll::Ready(());
        }
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            return Poll::Pending;
        }
        let waker = cx.waker().clone();
        let first = {
            let mut armed = this.shared.lock();
            let first = armed.waiting == 0;
            match this.slot {
                Some(at) => {
                    if let Some(Some(slot)) = armed.slots.get_mut(at) {
                        if slot.waker.replace(waker.clone()).is_none() {
                            armed.waiting += 1;
                        }
                    }
                }
                None => {
                    let slot = Some(Slot {
                        deadline: this.deadline,
                        waker: Some(waker.clone()),
                    });
                    let at = match armed.free.pop() {
                        Some(at) => {
                            armed.slots[at] = slot;
                            at
                        }
                        None => {
                            armed.slots.push(slot);
                            armed.slots.len() - 1
                        }
                    };
                    armed.waiting += 1;
                    this.slot = Some(at);
                }
            }
            first
        };
        this.registered = Some(waker);
        if first {
            this.shared.wake_ticker.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl hyper::rt::Sleep for CoarseSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_fires_no_earlier_than_due_and_within_a_tick_or_so() {
        let timer = CoarseTimer::new(Duration::from_millis(10));
        let start = Instant::now();
        timer.sleep_until(start + Duration::from_millis(40)).await;
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(40), "{waited:?}");
        // Generous bound: a loaded CI machine may delay the ticker itself.
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    #[tokio::test]
    async fn timeout_returns_the_output_or_elapsed_and_cancelled_deadlines_leave_nothing_armed() {
        let timer = CoarseTimer::new(Duration::from_millis(5));
        assert_eq!(
            timer.timeout(Duration::from_secs(5), async { 7 }).await,
            Ok(7)
        );
        let never = std::future::pending::<()>();
        assert_eq!(
            timer.timeout(Duration::from_millis(20), never).await,
            Err(Elapsed)
        );
        for _ in 0..50 {
            let quick = tokio::task::yield_now();
            assert_eq!(timer.timeout(Duration::from_secs(30), quick).await, Ok(()));
        }
        let armed = timer.shared.lock();
        assert_eq!(armed.waiting, 0);
        assert!(armed.slots.iter().all(Option::is_none));
        assert!(
            armed.slots.len() <= 2,
            "slots are reused: {}",
            armed.slots.len()
        );
    }

    #[tokio::test]
    async fn the_ticker_ends_when_the_timer_is_dropped() {
        let tasks = || {
            tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks()
        };
        let before = tasks();
        let timer = CoarseTimer::new(Duration::from_millis(5));
        let _ = timer
            .timeout(Duration::from_millis(10), std::future::pending::<()>())
            .await;
        assert_eq!(tasks(), before + 1, "the ticker runs while the timer lives");
        drop(timer);
        for _ in 0..100 {
            if tasks() == before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the ticker outlived its timer");
    }

    #[test]
    fn ticks_are_a_twentieth_of_the_shortest_timeout_within_bounds() {
        assert_eq!(
            CoarseTimer::tick_for(Duration::from_secs(10)),
            Duration::from_millis(100)
        );
        assert_eq!(
            CoarseTimer::tick_for(Duration::from_millis(300)),
            Duration::from_millis(15)
        );
        assert_eq!(
            CoarseTimer::tick_for(Duration::from_millis(20)),
            Duration::from_millis(5)
        );
    }
}
