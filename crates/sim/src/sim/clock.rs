//! Time as each host sees it, and the one-shot timers the simulator arms for the cores.
//!
//! Every host (peer or tracker) has a [`Clock`]: virtual time plus [`EPOCH_MS`] plus its own
//! skew, drawn once when it is added. Cores are given their local time and answer deadlines in
//! it; [`Clock::to_virtual`] converts a deadline back. Each core has one [`Timer`]: an event
//! carries the timer's generation, so cancelling (a crash) or re-arming earlier makes the events
//! already in the heap stale instead of removing them.

use super::events::Event;
use super::{PeerId, Sim, EPOCH_MS};
use rand::Rng;

/// A host's clock: virtual time seen through a fixed offset.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// How far ahead (positive) or behind this host's clock runs, in milliseconds.
    skew_ms: i64,
}

impl Clock {
    /// A clock with no skew: what scripted hostile peers see.
    pub(super) const EXACT: Clock = Clock { skew_ms: 0 };

    /// The host's clock (Unix milliseconds) at virtual time `now`.
    pub(super) fn local(self, now: u64) -> u64 {
        (EPOCH_MS + now).saturating_add_signed(self.skew_ms)
    }

    /// The virtual time at which the host's clock reads `local` (0 if that is before the start).
    pub(super) fn to_virtual(self, local: u64) -> u64 {
        (local.saturating_add_signed(-self.skew_ms)).saturating_sub(EPOCH_MS)
    }
}

/// A core's one timer. See the module docs.
#[derive(Debug, Default)]
pub(super) struct Timer {
    /// Bumped on every arming and cancellation; only the event of the current generation fires.
    generation: u64,
    /// The virtual time it is armed for, if armed.
    armed: Option<u64>,
}

impl Timer {
    /// Arms the timer for `at` and returns the generation its event must carry, or `None` when
    /// it is already armed no later than `at`: when that fires the core finds nothing due (an
    /// early `handle_timeout` is harmless) and the later deadline is armed then. Re-arming on
    /// every later deadline filled the heap with stale timers.
    fn arm(&mut self, at: u64) -> Option<u64> {
        if self.armed.is_some_and(|armed| armed <= at) {
            return None;
        }
        self.generation += 1;
        self.armed = Some(at);
        Some(self.generation)
    }

    /// An event of `generation` arrived: true (and the timer disarmed) if it is current.
    pub(super) fn fire(&mut self, generation: u64) -> bool {
        if self.generation != generation {
            return false;
        }
        self.armed = None;
        true
    }

    /// Cancels the timer: any event already scheduled is stale.
    pub(super) fn cancel(&mut self) {
        self.generation += 1;
        self.armed = None;
    }

    /// Forgets the deadline without cancelling it: an event already scheduled still fires (an
    /// early `handle_timeout` is harmless), and the next deadline is armed whatever it is.
    pub(super) fn forget(&mut self) {
        self.armed = None;
    }
}

/// When the event of a deadline `at` is scheduled: a deadline already due fires in the next
/// millisecond, so a core that keeps asking for "now" cannot stall virtual time.
fn fire_at(at: u64, now: u64) -> u64 {
    if at <= now {
        now + 1
    } else {
        at
    }
}

impl Sim {
    /// Peer `id`'s local clock now (virtual time plus its skew, as Unix milliseconds).
    pub fn peer_clock_ms(&self, id: usize) -> u64 {
        self.peers[id].clock.local(self.now)
    }

    /// A new host's clock, its skew drawn uniformly in `-max_skew_ms..=max_skew_ms`.
    pub(super) fn draw_clock(&mut self) -> Clock {
        let max = self.cfg.max_skew_ms as i64;
        let skew_ms = if max == 0 {
            0
        } else {
            self.rng.gen_range(-max..=max)
        };
        Clock { skew_ms }
    }

    /// Arms peer `id`'s timer for virtual time `at`.
    pub(super) fn arm_peer_at(&mut self, id: PeerId, at: u64) {
        let Some(generation) = self.peers[id].timer.arm(at) else {
            return;
        };
        self.schedule(
            fire_at(at, self.now),
            Event::PeerTimer {
                peer: id,
                generation,
            },
        );
    }

    /// Arms the tracker's timer for virtual time `at`.
    pub(super) fn arm_tracker_at(&mut self, at: u64) {
        let Some(generation) = self.tracker.as_mut().and_then(|t| t.timer.arm(at)) else {
            return;
        };
        self.schedule(fire_at(at, self.now), Event::TrackerTimer { generation });
    }
}
