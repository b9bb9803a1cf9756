//! Sending: the one place datagrams are queued. Every datagram carries our address cookie for
//! its receiver and echoes the receiver's cookie for us (the one of the datagram being answered,
//! or the one a member last gave us in a proven datagram), so a member can tell our datagrams
//! from forged ones (PROTOCOL.md, "Address cookies").

use super::{Output, Registry};
use rand::RngCore;
use std::net::SocketAddr;
use tracing::debug;
use votechain_proto::{Envelope, Message};
use votechain_sansio::Transmit;

impl<R: RngCore> Registry<R> {
    /// Encodes `message` and queues it to `to`.
    pub(super) fn send_message(&mut self, now_ms: u64, to: SocketAddr, message: &Message) {
        match self.config.dialect.encode(message) {
            Ok(payload) => self.send(now_ms, to, message.type_name(), payload),
            // Our own messages are built within their bounds; log rather than panic if not.
            Err(error) => debug!(%to, %error, "could not encode {}", message.type_name()),
        }
    }

    /// Queues an encoded message (without envelope) of wire type `ty` to `to`, adding our cookie
    /// for it and its cookie for us: the one of the datagram being answered, or the one a member
    /// last gave us.
    pub(super) fn send(&mut self, now_ms: u64, to: SocketAddr, ty: &'static str, body: Vec<u8>) {
        let echo = match self.inbound {
            Some((from, Some(cookie))) if from == to => Some(cookie),
            _ => self.peers.get_mut(&to).and_then(|p| p.cookie),
        };
        let envelope = Envelope {
            cookie: Some(self.minter.cookie(&to, now_ms)),
            echo,
        };
        let bytes = self.config.dialect.seal(&body, &envelope);
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        // Callers name the type by hand where they send bytes encoded earlier: a misspelt name
        // would only show in the metrics, so the tests' debug builds check it.
        debug_assert!(
            votechain_proto::MESSAGE_TYPES.contains(&ty),
            "{ty} is no wire type"
        );
        *self.stats.messages_out.entry(ty).or_default() += 1;
        self.out.push_back(Output::Send(Transmit { to, bytes }));
    }
}
