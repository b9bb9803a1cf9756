//! The tracker host: the real [`Registry`] at [`TRACKER_ADDR`], on its own skewed clock. A crash
//! drops the registry (it keeps no state worth saving) and a restart starts a fresh one on the
//! same address with a fresh seed. After every input its transmits and events are drained and
//! its one timer re-armed from `poll_timeout`.

use super::clock::{Clock, Timer};
use super::delivery::Endpoint;
use super::{Sim, TRACKER_ADDR};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use votechain_tracker::{Output as TrackerOutput, Registry};

/// The tracker: its configuration, its core while it runs, its clock and timer.
pub(super) struct TrackerSlot {
    /// What every restart starts the registry with.
    config: votechain_tracker::Config,
    /// The core, while it runs.
    registry: Option<Registry<ChaCha8Rng>>,
    /// Its clock, skewed like a peer's.
    clock: Clock,
    /// Its one timer.
    pub(super) timer: Timer,
}

impl Sim {
    /// Starts the tracker at [`TRACKER_ADDR`].
    pub fn add_tracker(&mut self) -> SocketAddr {
        let clock = self.draw_clock();
        let config = votechain_tracker::Config::new(self.ballot.clone());
        self.tracker = Some(TrackerSlot {
            config,
            registry: None,
            clock,
            timer: Timer::default(),
        });
        self.endpoints.insert(TRACKER_ADDR, Endpoint::Tracker);
        self.restart_tracker();
        TRACKER_ADDR
    }

    /// True when the tracker is running.
    pub fn tracker_up(&self) -> bool {
        self.tracker.as_ref().is_some_and(|t| t.registry.is_some())
    }

    /// The tracker core, while it runs.
    pub fn tracker(&self) -> Option<&Registry<ChaCha8Rng>> {
        self.tracker.as_ref().and_then(|t| t.registry.as_ref())
    }

    /// Crashes the tracker (it keeps no state worth saving).
    pub fn crash_tracker(&mut self) {
        if let Some(t) = self.tracker.as_mut() {
            t.registry = None;
            t.timer.cancel();
        }
        self.trace("crash-tracker", 0u8, &[]);
    }

    /// Starts a fresh tracker on the same address.
    pub fn restart_tracker(&mut self) {
        let seed: u64 = self.rng.gen();
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        if t.registry.is_some() {
            return;
        }
        let registry = Registry::new(t.config.clone(), ChaCha8Rng::seed_from_u64(seed))
            .expect("simulations use a valid tracker configuration");
        t.registry = Some(registry);
        self.trace("boot-tracker", 0u8, &seed.to_be_bytes());
        self.arm_tracker();
    }

    /// The tracker's timer event of `generation` fired.
    pub(super) fn tracker_timer(&mut self, generation: u64) {
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        if !t.timer.fire(generation) {
            return;
        }
        let local = t.clock.local(self.now);
        if let Some(r) = t.registry.as_mut() {
            r.handle_timeout(local);
        }
        self.trace("tracker-timer", 0u8, &[]);
        self.drain_tracker();
    }

    /// A datagram from `from` arrived at the tracker's address.
    pub(super) fn deliver_to_tracker(&mut self, from: SocketAddr, bytes: &[u8]) {
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        let local = t.clock.local(self.now);
        let Some(registry) = t.registry.as_mut() else {
            self.stats.to_down += 1;
            return;
        };
        self.stats.delivered += 1;
        registry.handle_datagram(local, from, bytes);
        self.trace("deliver-tracker", from, bytes);
        self.drain_tracker();
    }

    /// Drains the registry's transmits and events, then re-arms its timer.
    fn drain_tracker(&mut self) {
        let mut sends = Vec::new();
        let mut events = Vec::new();
        let Some(registry) = self.tracker.as_mut().and_then(|t| t.registry.as_mut()) else {
            return;
        };
        while let Some(output) = registry.poll_output() {
            match output {
                TrackerOutput::Send(t) => sends.push(t),
                TrackerOutput::Event(e) => events.push(e),
                TrackerOutput::Persist(never) | TrackerOutput::Mine(Some(never)) => match never {},
                TrackerOutput::Mine(None) => {}
            }
        }
        for e in events {
            self.trace("tracker-event", 0u8, format!("{e:?}").as_bytes());
        }
        for t in sends {
            self.trace("tracker-send", t.to, &t.bytes);
            self.send(TRACKER_ADDR, t.to, t.bytes.into());
        }
        self.arm_tracker();
    }

    /// Arms the tracker's timer from the registry's `poll_timeout`, never before the next
    /// millisecond.
    fn arm_tracker(&mut self) {
        let Some(t) = self.tracker.as_mut() else {
            return;
        };
        let Some(registry) = t.registry.as_mut() else {
            return;
        };
        let Some(local) = registry.poll_timeout() else {
            t.timer.forget();
            return;
        };
        let at = t.clock.to_virtual(local).max(self.now + 1);
        self.arm_tracker_at(at);
    }
}
