//! How the node talks: every datagram it sends gets its envelope of address cookies here
//! ([`Origin::envelope`]); replies to unproven requests stay within the anti-amplification
//! budget or become a CHALLENGE; requests are remembered for resending after the receiver's
//! CHALLENGE. Also the bookkeeping of what comes in and is not acted on: ignored messages,
//! undecodable datagrams, strikes, rate-limited warnings.

use super::{Event, Inbound, Node, Output};
use crate::peers::Source;
use rand::RngCore;
use std::net::SocketAddr;
use votechain_proto::limits::ENVELOPE_RESERVE;
use votechain_proto::{Challenge, Cookie, DecodeError, Envelope, Message, Verify};
use votechain_sansio::Transmit;

#[cfg(doc)]
use super::origin::Origin;

impl<R: RngCore> Node<R> {
    /// Encodes `message` in the profile's dialect, or logs why not: encoding our own messages
    /// fails only if a bound is broken, which is a bug worth a log line, not a crash.
    fn encode_or_log(&self, message: &Message) -> Option<Vec<u8>> {
        let dialect = self.cfg.profile.dialect();
        dialect
            .encode(message)
            .map_err(|e| tracing::error!("could not encode a {} message: {e}", message.type_name()))
            .ok()
    }

    /// Counts a well-formed message we do not act on.
    pub(super) fn ignore(&mut self, from: SocketAddr, why: &'static str) {
        tracing::debug!(%from, why, "ignored message");
        self.stats.ignored += 1;
    }

    /// Keeps the cookie `addr` gave us in a proven datagram, to echo in what we send it. The
    /// map is capped: when full, only addresses in the peer table (or the tracker) get a slot.
    pub(super) fn remember_cookie(&mut self, addr: SocketAddr, cookie: Cookie) {
        let (peers, tracker) = (&self.peers, &self.tracker);
        self.origin.remember_cookie(addr, cookie, |a| {
            peers.get(a).is_some() || tracker.is_tracker(a)
        });
    }

    /// Writes a warning caused by remote input, at most once per interval per `kind`.
    pub(super) fn warn_limited(
        &mut self,
        now_ms: u64,
        kind: &'static str,
        detail: std::fmt::Arguments,
    ) {
        if let Some(held_back) = self.log_limiter.allow(kind, now_ms) {
            if held_back > 0 {
                tracing::warn!("{kind}: {detail} ({held_back} more since the last such line)");
            } else {
                tracing::warn!("{kind}: {detail}");
            }
        }
    }

    pub(super) fn dropped(&mut self, from: SocketAddr, e: &DecodeError) {
        tracing::debug!(%from, error = %e, "undecodable datagram dropped");
        // No strike: nothing in an undecodable datagram proves who sent it, and a strike here
        // would let anyone get an honest peer banned by forging garbage "from" it.
        *self.stats.decode_errors.entry(e.kind()).or_default() += 1;
    }

    /// Gives `peer` misbehaviour points; bans it at the limit. Callers strike only for what
    /// `peer` provably did: a datagram that echoed our cookie, or silence after our request
    /// to its real address.
    pub(super) fn strike(&mut self, peer: SocketAddr, points: u32, now_ms: u64, reason: &str) {
        if self.peers.strike(
            &peer,
            points,
            self.cfg.strike_limit,
            self.cfg.ban_ms,
            now_ms,
        ) {
            self.catchup.downloader.forget_peer(&peer);
            // A sync whose last peer this was stopped: mining (off while syncing) resumes.
            self.mining.touch();
            self.out.push_back(Output::Event(Event::PeerBanned {
                peer,
                reason: reason.to_owned(),
            }));
        }
    }

    /// Queues an encoded message (without envelope) of wire type `ty` to `to`, adding the
    /// envelope: our cookie for `to`, and its cookie for us (see [`Origin::envelope`]).
    pub(super) fn push_send(&mut self, now_ms: u64, to: SocketAddr, ty: &'static str, body: &[u8]) {
        let envelope = match self.cfg.profile.handshakes().address_cookies {
            true => self.origin.envelope(&to, self.answering, now_ms),
            false => Envelope::default(),
        };
        let bytes = self.cfg.profile.dialect().seal(body, &envelope);
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        *self.stats.messages_out.entry(ty).or_default() += 1;
        self.out.push_back(Output::Send(Transmit { to, bytes }));
    }

    /// Encodes and queues `message` to `to`.
    pub(super) fn send(&mut self, now_ms: u64, to: SocketAddr, message: &Message) {
        if let Some(body) = self.encode_or_log(message) {
            self.push_send(now_ms, to, message.type_name(), &body);
        }
    }

    /// Encodes `message` once and queues it to every peer in good standing but `except`: the
    /// relay of a new block or vote.
    pub(super) fn broadcast(&mut self, now_ms: u64, message: &Message, except: Option<SocketAddr>) {
        let Some(body) = self.encode_or_log(message) else {
            return;
        };
        for to in self.peers.active(now_ms) {
            if Some(to) != except {
                self.push_send(now_ms, to, message.type_name(), &body);
            }
        }
    }

    /// Sends a request and remembers it, so it can be resent at once if `to` challenges us.
    pub(super) fn send_request(&mut self, now_ms: u64, to: SocketAddr, message: &Message) {
        let Some(bytes) = self.encode_or_log(message) else {
            return;
        };
        self.origin.sent_request(to, now_ms, &bytes);
        self.push_send(now_ms, to, message.type_name(), &bytes);
    }

    pub(super) fn send_requests(&mut self, now_ms: u64, to: SocketAddr, messages: Vec<Message>) {
        for m in messages {
            self.send_request(now_ms, to, &m);
        }
    }

    /// Answers `input`. A request that did not prove its origin gets the reply only if it fits
    /// the anti-amplification budget (with the envelope), and a CHALLENGE otherwise.
    pub(super) fn reply(&mut self, now_ms: u64, input: Inbound, message: &Message) {
        let Some(body) = self.encode_or_log(message) else {
            return;
        };
        let budget = self.cfg.profile.unverified_reply_budget(input.len);
        let fits = body.len() + ENVELOPE_RESERVE <= budget;
        if input.proven || fits {
            self.push_send(now_ms, input.from, message.type_name(), &body);
        } else {
            self.challenge(now_ms, input.from);
        }
    }

    /// Asks `to` to prove it receives our datagrams: its next request echoes the token.
    /// Without address cookies in the profile there is nothing to prove with: the request is
    /// dropped unanswered.
    pub(super) fn challenge(&mut self, now_ms: u64, to: SocketAddr) {
        if !self.cfg.profile.handshakes().address_cookies {
            return self.ignore(
                to,
                "a request that needs proof, in a profile without cookies",
            );
        }
        self.stats.challenges_sent += 1;
        let token = self.origin.token(&to, now_ms);
        self.send(now_ms, to, &Challenge { token }.into());
    }

    /// CHALLENGE: acted on only when it proves its origin (it echoes the cookie our request
    /// carried), so a forged CHALLENGE makes us send nothing. We VERIFY and resend what we
    /// recently asked, now carrying its cookie (a resent request can overtake the VERIFY and be
    /// challenged again, so a few challenges per request are answered). A gossip originator we
    /// contacted (see `on_gossip`) proves itself this way and joins the peer table.
    pub(super) fn on_challenge(&mut self, now_ms: u64, input: Inbound, token: String) {
        let from = input.from;
        if !input.proven {
            return self.ignore(from, "CHALLENGE without our cookie");
        }
        if let Some(cookie) = Cookie::parse(&token) {
            self.remember_cookie(from, cookie);
            // What we send next to the challenger echoes its token.
            self.answering = Some((from, cookie));
        }
        if self.gossip.contacted.contains_key(&from) {
            self.peers.add(from, Source::Gossip, now_ms);
        }
        let resends = self.origin.resends(&from);
        self.send(now_ms, from, &Verify { token }.into());
        for body in resends {
            self.push_send(now_ms, from, super::RESENT, &body);
        }
    }

    /// VERIFY: its token is our cookie, so it proves its origin; its envelope's cookie was kept
    /// in `handle_datagram`. Nothing else to do: requests carry their own proof.
    pub(super) fn on_verify(&mut self, input: Inbound) {
        if !input.proven {
            self.ignore(input.from, "VERIFY with a token we did not give");
        }
    }
}
