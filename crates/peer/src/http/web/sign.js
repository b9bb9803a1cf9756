// Voting with a key the peer never sees: voter keys made, kept and used in the browser.
//
// A key is the key-file object `votechain-keys` reads and writes: {"public": hex, "secret": hex},
// the secret being the 32-byte Ed25519 seed. Signing uses WebCrypto's Ed25519 where the browser
// has it, else the vendored noble implementation (vendor/README.md), loaded only then: a page
// served on a LAN address is not a secure context and has no crypto.subtle at all. Ed25519
// signatures are deterministic, so both give the same bytes as the peer's Rust code, and the
// vote id computed here must equal the one in the peer's receipt.
//
// What is signed (crates/chain/src/vote.rs): "votechain/vote/v1\0" ‖ election id (32 bytes) ‖
// voter public key (32 bytes) ‖ u32 big-endian byte length of the UTF-8 choice ‖ the choice;
// the vote id is SHA-256(signing bytes ‖ signature).

const DOMAIN = new TextEncoder().encode('votechain/vote/v1\0');

/** Lower-case hex of bytes. */
export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Bytes of an even-length hex string; throws a sentence on anything else. */
export function unhex(text, length) {
  const t = String(text).trim();
  if (!/^([0-9a-fA-F]{2})*$/.test(t) || (length && t.length !== 2 * length)) {
    throw new Error(`Expected ${length ? 2 * length + ' ' : ''}hex digits.`);
  }
  const out = new Uint8Array(t.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(t.substr(2 * i, 2), 16);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64url = (text) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

/** The bytes a voter signs for `choice` in `electionHex` with the public key `publicHex`. */
export function signingBytes(electionHex, publicHex, choice) {
  const text = new TextEncoder().encode(choice);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, text.length, false);
  return concat(DOMAIN, unhex(electionHex, 32), unhex(publicHex, 32), len, text);
}

let noble = null;
/** The vendored implementation, loaded on first need. */
async function loadNoble() {
  if (!noble) {
    const [ed, hashes] = await Promise.all([
      import('./vendor/noble-ed25519.js'),
      import('./vendor/noble-hashes/sha2.js'),
    ]);
    ed.etc.sha512Sync = (...m) => hashes.sha512(ed.etc.concatBytes(...m));
    noble = { ed, sha256: hashes.sha256 };
  }
  return noble;
}

let webCrypto = null;
/** Whether this browser signs Ed25519 with WebCrypto (a secure context that has it). */
export function hasWebCrypto() {
  if (!webCrypto) {
    webCrypto = (async () => {
      if (!globalThis.crypto?.subtle) return false;
      try {
        await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
        return true;
      } catch {
        return false;
      }
    })();
  }
  return webCrypto;
}

/** Which implementation signs here: 'webcrypto' or 'noble' (`force` chooses, for tests). */
export async function backend(force) {
  if (force) return force;
  return (await hasWebCrypto()) ? 'webcrypto' : 'noble';
}

/** A fresh key {public, secret}. */
export async function newKey(force) {
  if ((await backend(force)) === 'webcrypto') {
    const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
    const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
    return { public: hex(unb64url(jwk.x)), secret: hex(unb64url(jwk.d)) };
  }
  const { ed } = await loadNoble();
  const secret = ed.utils.randomPrivateKey();
  return { public: hex(ed.getPublicKey(secret)), secret: hex(secret) };
}

async function sign(bytes, key, force) {
  if ((await backend(force)) === 'webcrypto') {
    const jwk = { kty: 'OKP', crv: 'Ed25519', d: b64url(unhex(key.secret, 32)), x: b64url(unhex(key.public, 32)) };
    const secret = await crypto.subtle.importKey('jwk', jwk, { name: 'Ed25519' }, false, ['sign']);
    return new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, secret, bytes));
  }
  const { ed } = await loadNoble();
  return ed.sign(bytes, unhex(key.secret, 32));
}

async function verify(signature, bytes, publicHex, force) {
  if ((await backend(force)) === 'webcrypto') {
    const pub = await crypto.subtle.importKey('raw', unhex(publicHex, 32), { name: 'Ed25519' }, false, ['verify']);
    return crypto.subtle.verify({ name: 'Ed25519' }, pub, signature, bytes);
  }
  const { ed } = await loadNoble();
  return ed.verify(signature, bytes, unhex(publicHex, 32));
}

/** SHA-256 of bytes, as hex. */
export async function sha256Hex(bytes, force) {
  if ((await backend(force)) === 'webcrypto' && globalThis.crypto?.subtle) {
    return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
  }
  const { sha256 } = await loadNoble();
  return hex(sha256(bytes));
}

/**
 * Reads a key file's text: {"public", "secret"} (the secret alone, 64 hex digits, will do too),
 * and checks the halves belong together by signing and verifying. Throws a sentence.
 */
export async function parseKey(text, force) {
  let key;
  const t = String(text).trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) {
    // WebCrypto derives no public key from a bare seed: the noble module does, either way.
    const { ed } = await loadNoble();
    key = { public: hex(ed.getPublicKey(unhex(t, 32))), secret: t.toLowerCase() };
  } else {
    try {
      key = JSON.parse(t);
    } catch {
      throw new Error('The key is neither a key file ({"public", "secret"}) nor 64 hex digits.');
    }
    if (typeof key?.public !== 'string' || typeof key?.secret !== 'string') {
      throw new Error('A key file has a "public" and a "secret" field, both hex.');
    }
    key = { public: key.public.trim().toLowerCase(), secret: key.secret.trim().toLowerCase() };
    unhex(key.public, 32);
    unhex(key.secret, 32);
  }
  const probe = new TextEncoder().encode('votechain key check');
  let ok = false;
  try {
    ok = await verify(await sign(probe, key, force), probe, key.public, force);
  } catch {
    ok = false;
  }
  if (!ok) throw new Error('The public key does not belong to the secret key.');
  return key;
}

/**
 * Signs `choice` in the election `electionHex` with `key`: the vote as the wire JSON and its id.
 */
export async function signVote(electionHex, choice, key, force) {
  const bytes = signingBytes(electionHex, key.public, choice);
  const signature = await sign(bytes, key, force);
  const id = await sha256Hex(concat(bytes, signature), force);
  return {
    vote: { election: electionHex, voter: key.public, choice, signature: hex(signature) },
    id,
  };
}
