//! The one output convention of every sans-IO core (the peer's `Node`, the tracker's
//! `Registry`): after each input the shell drains `poll_output()` until it returns `None`, doing
//! each [`Output`] in order, then arms one timer at `poll_timeout()` (`None`: no timer, wait for
//! a datagram). Order matters: a [`Output::Persist`] comes before the datagram that acknowledges
//! what it stores, so the shell syncs it to disk before sending anything that follows.

use std::net::SocketAddr;

/// One datagram to send from the core's socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub to: SocketAddr,
    /// The encoded datagram, envelope included.
    pub bytes: Vec<u8>,
}

/// Something the shell must do, in order. A core without a store or a miner sets `Record` or
/// `Job` to [`std::convert::Infallible`], so its shell matches those arms with `match x {}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<Record, Job, Event> {
    /// Send a datagram.
    Send(Transmit),
    /// Append to the store and sync before doing anything that follows.
    Persist(Record),
    /// Mine this job from now on (replacing any previous job), or stop mining (`None`).
    Mine(Option<Job>),
    /// Something worth telling the user, the logs or a test.
    Event(Event),
}

impl<Record, Job, Event> Output<Record, Job, Event> {
    /// The datagram, when this output is one; for drivers that only move datagrams (benchmarks,
    /// fuzzers) and drop the rest.
    pub fn into_transmit(self) -> Option<Transmit> {
        match self {
            Output::Send(t) => Some(t),
            Output::Persist(_) | Output::Mine(_) | Output::Event(_) => None,
        }
    }
}
