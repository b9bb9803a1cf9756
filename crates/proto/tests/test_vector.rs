//! PROTOCOL.md's test vector, asserted. Every constant below is printed verbatim in
//! PROTOCOL.md ("Test vector"); each is checked twice: against the chain's own code, and
//! against an independent recomputation from the documented byte layouts with plain SHA-256
//! and Ed25519, as an implementer of another node would write it.

mod common;

use common::*;
use ed25519_dalek::{Signature as EdSignature, SigningKey, Verifier};
use sha2::{Digest, Sha256};
use votechain_chain::{Block, Hash};
use votechain_proto::*;
use votechain_sansio::TokenMinter;

const BALLOT_BYTES: &str = "766f7465636861696e2f62616c6c6f742f763100000f436c61737320707265736964656e7403044164616d03426f6209436174686572696e65000000080000";
const BALLOT_HASH: &str = "aee81de55d126291f74ebf74012b89ec4ee0ba4ded58077b2781826eee8b6c82";
const GENESIS_HEADER: &str = "564f5445000000010000000800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000aee81de55d126291f74ebf74012b89ec4ee0ba4ded58077b2781826eee8b6c82e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8550000000000000000";
const GENESIS_HASH: &str = "1ef8db214a648c23c3d8ce4ea92e4bd91d02cb28d66e0252136629253604f15a";
const VOTER_PUBLIC: &str = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
const VOTE_SIGNING_BYTES: &str = "766f7465636861696e2f766f74652f7631001ef8db214a648c23c3d8ce4ea92e4bd91d02cb28d66e0252136629253604f15a8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c000000044164616d";
const VOTE_SIGNATURE: &str = "a9ea2804f93b70ba0449812a49fb198d4a1a86edbbe5d902953412cad67214296e7e94e39f121b3936a1545b5646618d77d12f0cfe9a2765997d3482dfd98705";
const VOTE_ID: &str = "ad072f6559ac384f8eea8c9e27ad247bc5273dcda52e16348d1c940348a8a943";
const BLOCK1_PAYLOAD_ROOT: &str =
    "5a08839dd2c17fbfbae14924267ad25e78f94eea28ad309ed9a65ad18e0e4a5e";
const BLOCK1_MINER_HASH: &str = "2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90";
const BLOCK1_HEADER: &str = "564f544500000001000000080000000100000000000000010000019b76daa8001ef8db214a648c23c3d8ce4ea92e4bd91d02cb28d66e0252136629253604f15a5a08839dd2c17fbfbae14924267ad25e78f94eea28ad309ed9a65ad18e0e4a5e2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e900000000000000085";
const BLOCK1_HASH: &str = "00a02a7f172606419c8b5eb812eae0fa7e359029cb674ac4d591679433fb0f3c";
const TOKEN: &str = "0fdc9b75c88b56a970637d4d2910f2a4";

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hx(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// The 136-byte header from the table in PROTOCOL.md, field by field.
#[allow(clippy::too_many_arguments)]
fn header_bytes(
    difficulty: u32,
    vote_count: u32,
    height: u64,
    timestamp_ms: u64,
    prev: &[u8; 32],
    payload_root: &[u8; 32],
    miner_hash: &[u8; 32],
    nonce: u64,
) -> Vec<u8> {
    let mut b = Vec::with_capacity(136);
    b.extend_from_slice(b"VOTE");
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&difficulty.to_be_bytes());
    b.extend_from_slice(&vote_count.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&timestamp_ms.to_be_bytes());
    b.extend_from_slice(prev);
    b.extend_from_slice(payload_root);
    b.extend_from_slice(miner_hash);
    b.extend_from_slice(&nonce.to_be_bytes());
    assert_eq!(b.len(), 136);
    b
}

#[test]
fn ballot_and_genesis() {
    let ballot = ballot();
    assert_eq!(hx(&ballot.canonical_bytes()), BALLOT_BYTES);
    assert_eq!(ballot.hash().to_hex(), BALLOT_HASH);
    let genesis = genesis();
    assert_eq!(hx(&genesis.header().to_bytes()), GENESIS_HEADER);
    assert_eq!(genesis.hash().to_hex(), GENESIS_HASH);

    // Independently: the documented ballot encoding, then the genesis header rule.
    let mut bytes = b"votechain/ballot/v1\0".to_vec();
    let title = "Class president";
    bytes.extend_from_slice(&(title.len() as u16).to_be_bytes());
    bytes.extend_from_slice(title.as_bytes());
    bytes.push(3);
    for option in ["Adam", "Bob", "Catherine"] {
        bytes.push(option.len() as u8);
        bytes.extend_from_slice(option.as_bytes());
    }
    bytes.extend_from_slice(&8u32.to_be_bytes());
    bytes.push(0); // no closing height
    bytes.push(0); // no voter roll
    assert_eq!(hx(&bytes), BALLOT_BYTES);
    let ballot_hash = sha256(&[&bytes]);
    assert_eq!(hx(&ballot_hash), BALLOT_HASH);
    let header = header_bytes(8, 0, 0, 0, &[0; 32], &ballot_hash, &sha256(&[b""]), 0);
    assert_eq!(hx(&header), GENESIS_HEADER);
    assert_eq!(hx(&sha256(&[&header])), GENESIS_HASH);
}

#[test]
fn signed_vote_and_its_id() {
    let vote = vote();
    assert_eq!(voter().public().to_hex(), VOTER_PUBLIC);
    assert_eq!(hx(&vote.signing_bytes()), VOTE_SIGNING_BYTES);
    assert_eq!(vote.signature.to_hex(), VOTE_SIGNATURE);
    assert_eq!(vote.id().to_hex(), VOTE_ID);
    assert_eq!(vote.verify_signature(), Ok(()));

    // Independently: Ed25519 (RFC 8032) from the seed, over the documented signing bytes.
    let key = SigningKey::from_bytes(&VOTER_SEED);
    assert_eq!(hx(key.verifying_key().as_bytes()), VOTER_PUBLIC);
    let mut msg = b"votechain/vote/v1\0".to_vec();
    msg.extend_from_slice(&hex::decode(GENESIS_HASH).unwrap());
    msg.extend_from_slice(key.verifying_key().as_bytes());
    msg.extend_from_slice(&4u32.to_be_bytes());
    msg.extend_from_slice(b"Adam");
    assert_eq!(hx(&msg), VOTE_SIGNING_BYTES);
    let signature = hex::decode(VOTE_SIGNATURE).unwrap();
    let signature = EdSignature::from_slice(&signature).unwrap();
    assert!(key.verifying_key().verify(&msg, &signature).is_ok());
    assert_eq!(hx(&sha256(&[&msg, &signature.to_bytes()])), VOTE_ID);
}

#[test]
fn block_at_height_one() {
    let block = block1();
    assert_eq!(block.header().payload_root.to_hex(), BLOCK1_PAYLOAD_ROOT);
    assert_eq!(block.header().miner_hash.to_hex(), BLOCK1_MINER_HASH);
    assert_eq!(hx(&block.header().to_bytes()), BLOCK1_HEADER);
    assert_eq!(block.hash().to_hex(), BLOCK1_HASH);
    assert!(block.hash().leading_zero_bits() >= ballot().difficulty);
    assert_eq!(BLOCK1_TIMESTAMP_MS, 1_767_225_600_000);
    assert_eq!(BLOCK1_NONCE, 133);

    // Independently: a one-leaf Merkle tree is its leaf, SHA-256(0x00 ‖ vote id).
    let vote_id = hex::decode(VOTE_ID).unwrap();
    let root = sha256(&[&[0x00], &vote_id]);
    assert_eq!(hx(&root), BLOCK1_PAYLOAD_ROOT);
    let miner_hash = sha256(&[b"alice"]);
    assert_eq!(hx(&miner_hash), BLOCK1_MINER_HASH);
    let prev: [u8; 32] = hex::decode(GENESIS_HASH).unwrap().try_into().unwrap();
    let header = header_bytes(8, 1, 1, 1_767_225_600_000, &prev, &root, &miner_hash, 133);
    assert_eq!(hx(&header), BLOCK1_HEADER);
    let hash = sha256(&[&header]);
    assert_eq!(hx(&hash), BLOCK1_HASH);
    // Proof of work: 8 leading zero bits, i.e. the first byte is zero.
    assert_eq!(hash[0], 0);
    // No smaller nonce meets the difficulty: 133 is what a miner counting from 0 finds.
    for nonce in 0..133 {
        let header = header_bytes(8, 1, 1, 1_767_225_600_000, &prev, &root, &miner_hash, nonce);
        assert_ne!(sha256(&[&header])[0], 0, "nonce {nonce}");
    }
}

#[test]
fn block_json_decodes_to_the_vector() {
    // The NEW_BLOCK example of PROTOCOL.md: the receiver recomputes the derived header fields
    // and checks the claimed hash.
    let datagram = include_str!("snapshots/NEW_BLOCK.json").trim_end();
    let Ok(Message::NewBlock(NewBlock { block })) = decode(datagram.as_bytes()) else {
        panic!("the NEW_BLOCK snapshot decodes");
    };
    assert_eq!(block, block1());
    assert_eq!(block.hash(), Hash::from_hex(BLOCK1_HASH).unwrap());
    let genesis_json = serde_json::to_string(&genesis()).unwrap();
    let back: Block = serde_json::from_str(&genesis_json).unwrap();
    assert_eq!(back.hash().to_hex(), GENESIS_HASH);
}

#[test]
fn address_verification_token() {
    assert_eq!(token(), TOKEN);
    // Independently: first 16 bytes of SHA-256(domain ‖ secret ‖ "ip:port" ‖ window u64 BE),
    // 5-minute windows.
    let window = BLOCK1_TIMESTAMP_MS / 300_000;
    let digest = sha256(&[
        b"votechain/token/v1\0",
        &TOKEN_SECRET,
        b"127.0.0.1:6001",
        &window.to_be_bytes(),
    ]);
    assert_eq!(hx(&digest[..16]), TOKEN);
    let minter = TokenMinter::new(TOKEN_SECRET);
    assert!(minter.check(&peer_addr(), TOKEN, BLOCK1_TIMESTAMP_MS + 300_000));
    assert!(!minter.check(&peer_addr(), TOKEN, BLOCK1_TIMESTAMP_MS + 600_000));
}

/// The envelope example of PROTOCOL.md ("Address cookies"): a STATS whose sender gives the
/// receiver the cookie `11…11` and echoes the receiver's cookie for it, the vector's token.
const ENVELOPE_EXAMPLE: &str = r#"{"cookie":"11111111111111111111111111111111","echo":"0fdc9b75c88b56a970637d4d2910f2a4","type":"STATS"}"#;

#[test]
fn address_cookie_envelope() {
    let envelope = Envelope {
        cookie: Cookie::parse(&"1".repeat(32)),
        echo: Cookie::parse(TOKEN),
    };
    let bytes = encode_with(&Stats {}.into(), &envelope).unwrap();
    assert_eq!(std::str::from_utf8(&bytes).unwrap(), ENVELOPE_EXAMPLE);
    let (message, back) = decode_envelope(&bytes).unwrap();
    assert_eq!((message, back), (Stats {}.into(), envelope));
    // The echo proves the sender's address to the node that minted the token, and to no other
    // address and no other node.
    let minter = TokenMinter::new(TOKEN_SECRET);
    assert!(minter.proves(&peer_addr(), &back, BLOCK1_TIMESTAMP_MS));
    assert!(!minter.proves(
        &"127.0.0.1:6002".parse().unwrap(),
        &back,
        BLOCK1_TIMESTAMP_MS
    ));
    assert!(!TokenMinter::new([1; 32]).proves(&peer_addr(), &back, BLOCK1_TIMESTAMP_MS));
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../PROTOCOL.md");
    let doc = std::fs::read_to_string(doc_path).expect("PROTOCOL.md at the repository root");
    assert!(
        doc.contains(ENVELOPE_EXAMPLE),
        "PROTOCOL.md shows the envelope example"
    );
}

#[test]
fn protocol_md_prints_the_vector() {
    let doc_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../PROTOCOL.md");
    let doc = std::fs::read_to_string(doc_path).expect("PROTOCOL.md at the repository root");
    for value in [
        BALLOT_BYTES,
        BALLOT_HASH,
        GENESIS_HEADER,
        GENESIS_HASH,
        VOTER_PUBLIC,
        VOTE_SIGNING_BYTES,
        VOTE_SIGNATURE,
        VOTE_ID,
        BLOCK1_PAYLOAD_ROOT,
        BLOCK1_MINER_HASH,
        BLOCK1_HEADER,
        BLOCK1_HASH,
        TOKEN,
    ] {
        assert!(
            doc.contains(&format!("`{value}`")),
            "PROTOCOL.md lacks {value}"
        );
    }
    let block_json = serde_json::to_string(&block1()).unwrap();
    assert!(
        doc.contains(&format!("```json\n{block_json}\n```")),
        "block JSON example"
    );
    let vote_json = serde_json::to_string(&vote()).unwrap();
    assert!(
        doc.contains(&format!("```json\n{vote_json}\n```")),
        "vote JSON example"
    );
}
