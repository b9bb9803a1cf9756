//! Measurement 1: the sans-IO registry driven directly on a fake clock, on this thread, with
//! every peer registered through the CHALLENGE dance: the steady-state load (each peer answers
//! every POKE with a pre-encoded POKE_ACK; only handling the answers is timed), the cost of a
//! heartbeat tick, and a hostile mix (garbage and unverified registrations from 4,096 rotating
//! sources).

use super::Args;
use anyhow::{ensure, Context as _};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use votechain_proto::{decode, encode, with_envelope, Envelope, Message, PokeAck, RegisterPeer};
use votechain_tracker::{Config, Registry};

/// What measurement 1 found.
pub(super) struct Core {
    pub(super) acks_per_s: f64,
    pub(super) tick_us_per_peer: f64,
    pub(super) hostile_per_s: f64,
}

fn peer_addr(i: usize) -> SocketAddr {
    let i = i as u32;
    SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 9_000))
}

/// Registers `addr` through the dance, on the registry's clock `now`.
fn register_direct(reg: &mut Registry, now: u64, addr: SocketAddr) -> anyhow::Result<()> {
    let register = encode(&RegisterPeer::default().into())?;
    reg.handle_datagram(now, addr, &register);
    let mut token = None;
    while let Some(output) = reg.poll_output() {
        let Some(t) = output.into_transmit() else {
            continue;
        };
        if let Ok(Message::Challenge(c)) = decode(&t.bytes) {
            token = Some(c.token);
        }
    }
    let token = token.context("no CHALLENGE")?;
    reg.handle_datagram(
        now,
        addr,
        &with_envelope(&register, &Envelope::echoing(&token)),
    );
    while reg.poll_output().is_some() {}
    ensure!(reg.is_registered(&addr), "{addr} did not register");
    Ok(())
}

/// Runs measurement 1, printing its figures as it goes.
pub(super) fn core_throughput(args: &Args) -> anyhow::Result<Core> {
    println!("1. registry driven directly (fake clock, this thread)");
    let mut config = Config::demo();
    config.max_peers = args.peers;
    let mut reg = Registry::new(config, StdRng::seed_from_u64(1))?;
    for i in 0..args.peers {
        register_direct(&mut reg, 0, peer_addr(i))?;
    }
    let (mut ack_time, mut tick_time, mut acks) = (Duration::ZERO, Duration::ZERO, 0u64);
    let mut batch: Vec<(SocketAddr, Vec<u8>)> = Vec::with_capacity(args.peers);
    for round in 1..=args.rounds {
        let now = round * 1_000;
        let t0 = Instant::now();
        reg.handle_timeout(now);
        let mut pokes = Vec::with_capacity(args.peers);
        while let Some(output) = reg.poll_output() {
            let Some(t) = output.into_transmit() else {
                continue;
            };
            pokes.push(t);
        }
        tick_time += t0.elapsed();
        // Answers are prepared outside the timed part: only handling them is measured.
        batch.clear();
        for t in pokes {
            if let Ok(Message::Poke(p)) = decode(&t.bytes) {
                batch.push((t.to, encode(&PokeAck { nonce: p.nonce }.into())?));
            }
        }
        let t0 = Instant::now();
        for (from, ack) in &batch {
            reg.handle_datagram(now + 5, *from, ack);
        }
        while reg.poll_output().is_some() {}
        ack_time += t0.elapsed();
        acks += batch.len() as u64;
    }
    let s = reg.stats();
    ensure!(s.evicted == 0, "the core evicted {} live peers", s.evicted);
    ensure!(
        s.poke_acks_ok == acks,
        "{} of {acks} acks accepted",
        s.poke_acks_ok
    );
    let acks_per_s = acks as f64 / ack_time.as_secs_f64();
    let tick_us_per_peer = tick_time.as_secs_f64() * 1e6 / (args.rounds as f64 * args.peers as f64);
    println!("   {acks} POKE_ACKs in {ack_time:.2?}: {acks_per_s:.0}/s; ticks {tick_us_per_peer:.2} µs per member");

    // Hostile mix from 4,096 rotating unregistered sources.
    let mut rng = StdRng::seed_from_u64(2);
    let garbage: Vec<Vec<u8>> = vec![
        br#"{"type":"REGISTER_PEER"}"#.to_vec(),
        br#"{"type":"REQUEST_BALLOT"}"#.to_vec(),
        br#"{"type":"GET_BLOCK"}"#.to_vec(),
        br#"{"type":"HELLO"}"#.to_vec(),
        br#"{"type":"POKE_ACK","nonce":"x"}"#.to_vec(),
        b"not json at all".to_vec(),
        vec![0xff; 64],
        format!("{}{}", "[".repeat(500), "]".repeat(500)).into_bytes(),
    ];
    let n = 200_000u64;
    let inputs: Vec<(SocketAddr, &[u8])> = (0..n)
        .map(|_| {
            let from = SocketAddr::from(([192, 0, 2, 1], 1_024 + rng.gen_range(0..4_096u16)));
            (from, garbage[rng.gen_range(0..garbage.len())].as_slice())
        })
        .collect();
    let now = args.rounds * 1_000 + 100;
    let t0 = Instant::now();
    for (i, (from, d)) in inputs.iter().enumerate() {
        reg.handle_datagram(now + i as u64 / 1_000, *from, d);
        while reg.poll_output().is_some() {}
    }
    let hostile_per_s = n as f64 / t0.elapsed().as_secs_f64();
    println!("   {n} hostile datagrams: {hostile_per_s:.0}/s");
    Ok(Core {
        acks_per_s,
        tick_us_per_peer,
        hostile_per_s,
    })
}
