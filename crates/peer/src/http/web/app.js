// The page's controller: loads every view from the JSON API (API.md), then keeps it live from
// the event stream (/api/events) — an event marks views stale, and one debounced round of
// requests redraws them, so a burst of blocks costs one refetch. Nothing polls on a timer: with
// the stream down, EventSource reconnects by itself, and each (re)connection refetches
// everything once to catch what was missed. `tally` and `peers` events carry their view's JSON
// and are drawn as they come.

import * as views from './views.js';
import * as sign from './sign.js';

// Errors of any kind, for people (the #error line) and for the browser test (this list).
const errors = (window.votechainErrors = []);
const noteError = (text) => errors.push(String(text));
addEventListener('error', (e) => noteError(e.message || `failed to load ${e.target?.src || e.target?.href}`), true);
addEventListener('unhandledrejection', (e) => noteError(e.reason?.message || e.reason));
document.addEventListener('securitypolicyviolation', (e) => noteError(`blocked by the page's policy: ${e.violatedDirective} ${e.blockedURI}`));

const $ = (id) => document.getElementById(id);
const KEY_STORE = 'votechain.voter-key';
const BLOCKS_SHOWN = 12;
const PENDING_SHOWN = 50;

const state = {
  status: null,       // the last GET /api/status
  blocks: [],         // the strip, newest first
  selected: null,     // height of the block in #block-detail
  ballots: [],        // every counted vote id seen, oldest first
  ballotsHeight: 0,   // the chain height the ballot list is complete up to
  ballotsFull: true,  // the next ballot load starts from block 1 (first load, reorg)
  myVote: null,       // the vote id in #vote-receipt, followed live
  myVoteNote: '',     // what the page found about that id
  lookup: null,       // the vote id in #receipt-result, followed live
  key: null,          // the browser's voter key {public, secret}
};

/** One JSON request: {status, body}; a network failure throws. */
async function api(path, init) {
  const response = await fetch(path, { headers: { accept: 'application/json' }, ...init });
  let body;
  try {
    body = await response.json();
  } catch {
    body = { error: `The peer answered ${response.status} without JSON.` };
  }
  return { status: response.status, body };
}

/** The body of a GET that must succeed. */
async function get(path) {
  const { status, body } = await api(path);
  if (status !== 200) throw new Error(body.error || `${path} answered ${status}.`);
  return body;
}

function showError(e) {
  const line = $('error');
  line.textContent = `The peer could not be reached or refused a request: ${e.message || e}`;
  line.hidden = false;
  noteError(line.textContent);
}

const known = () => Boolean(state.status?.election);

// Each view's loader; `refresh(...names)` runs them once the current burst of events is over.
const loaders = {
  async status() {
    const s = await get('/api/status');
    const was = state.status?.election?.id;
    state.status = s;
    views.status(s);
    if (s.election) views.choices(s.election.options);
    if (s.election && s.election.id !== was && was !== undefined) refresh(...Object.keys(loaders));
  },
  async tally() {
    if (known()) views.tally(await get('/api/tally'));
  },
  async blocks() {
    if (!known()) return;
    const b = await get(`/api/blocks?limit=${BLOCKS_SHOWN}`);
    state.blocks = b.blocks;
    views.blocks(b.blocks, state.selected, openBlock);
    views.raw('raw-blocks', b);
    if (state.selected !== null) await openBlock(state.selected, false);
  },
  async pending() {
    if (known()) views.pending(await get(`/api/pending?limit=${PENDING_SHOWN}`));
  },
  async peers() {
    views.peers(await get('/api/peers'));
  },
  async ballots() {
    if (!known()) return;
    let from = state.ballotsFull ? 1 : state.ballotsHeight + 1;
    state.ballotsFull = false;
    const kept = state.ballots.filter((b) => b.height < from);
    let page;
    // Pages of up to 1,000 ids; a long election is read once, then only its new blocks.
    for (let n = 0; n < 100; n++) {
      page = await get(`/api/ballots?from=${from}`);
      kept.push(...page.ballots);
      if (page.next_from === null) break;
      from = page.next_from;
    }
    state.ballots = kept;
    state.ballotsHeight = page.height;
    views.ballots(state.ballots, $('ballot-search').value);
    views.raw('raw-ballots', page);
  },
  async receipts() {
    if (state.myVote) {
      const r = await api(`/api/votes/${state.myVote}`);
      if (r.status === 200) {
        views.receipt('vote-receipt', r.body, state.myVoteNote);
        views.raw('raw-vote', r.body);
      }
    }
    if (state.lookup) await lookUp(state.lookup);
  },
};

const stale = new Set();
const running = {}; // per view, its last load: a view's loads run one after another
let flushing = null;
/** Marks views stale; they are fetched once, shortly, however many events mark them. */
function refresh(...names) {
  names.forEach((n) => stale.add(n));
  if (!flushing) {
    flushing = new Promise((done) => setTimeout(done, 100)).then(async () => {
      const names = [...stale];
      stale.clear();
      flushing = null;
      const load = (n) => {
        running[n] = (running[n] || Promise.resolve()).catch(() => {}).then(() => loaders[n]());
        return running[n];
      };
      // The other views need to know the election: the status says it, so it comes first.
      const first = names.includes('status') ? await Promise.allSettled([load('status')]) : [];
      const rest = await Promise.allSettled(names.filter((n) => n !== 'status').map(load));
      const results = [...first, ...rest];
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) showError(failed.reason);
      else $('error').hidden = true;
    });
  }
  return flushing;
}

const everything = () => Object.keys(loaders);

/** Opens block `height` in #block-detail. */
async function openBlock(height, focus = true) {
  state.selected = height;
  const { status, body } = await api(`/api/blocks/${height}`);
  if (status !== 200) {
    showError(new Error(body.error));
    return;
  }
  views.blockDetail(body);
  for (const b of document.querySelectorAll('#blocks [data-height]')) {
    b.setAttribute('aria-pressed', String(Number(b.dataset.height) === height));
  }
  if (focus) $('block-detail').focus();
}

/** Looks a receipt up into #receipt-result. */
async function lookUp(id) {
  const path = `/api/votes/${id}`;
  const r = await api(path);
  views.receipt('receipt-result', r.status === 200 ? r.body : { status: 'error', error: r.body.error });
  views.raw('raw-receipt', r.body);
  $('receipt-path').textContent = path;
}

function connect() {
  const stream = new EventSource('/api/events');
  stream.addEventListener('open', () => {
    document.body.dataset.live = 'true';
    $('live-text').textContent = 'Live';
    // Whatever happened while we were away: fetch it all once.
    state.ballotsFull = true;
    refresh(...everything());
  });
  stream.addEventListener('error', () => {
    document.body.dataset.live = 'false';
    $('live-text').textContent = 'Reconnecting…';
    if (stream.readyState === EventSource.CLOSED) {
      stream.close();
      // A refused stream (the peer restarting) is retried; EventSource retries the rest itself.
      setTimeout(connect, 3000);
    }
  });
  const onTip = (e) => {
    const d = JSON.parse(e.data);
    if (d.reorg_depth > 0) state.ballotsFull = true;
    refresh('status', 'tally', 'blocks', 'pending', 'ballots', 'receipts');
  };
  stream.addEventListener('tip', onTip);
  stream.addEventListener('block', onTip);
  stream.addEventListener('reorg', onTip);
  stream.addEventListener('vote', () => refresh('status', 'tally', 'pending', 'receipts'));
  stream.addEventListener('election', () => refresh(...everything()));
  stream.addEventListener('synced', () => {
    state.ballotsFull = true;
    refresh(...everything());
  });
  stream.addEventListener('tally', (e) => views.tally(JSON.parse(e.data)));
  stream.addEventListener('pool', (e) => views.pool(JSON.parse(e.data)));
  stream.addEventListener('peers', (e) => {
    const p = JSON.parse(e.data);
    views.peers(p);
    $('peer-count').textContent = p.peers.filter((x) => x.state === 'ok').length;
  });
}

// The voter key kept in this browser.
function showKey() {
  $('key-public').textContent = state.key ? state.key.public : 'none yet';
  $('key-export').disabled = !state.key;
}

function keyNote(text) {
  $('key-note').textContent = text;
}

async function loadKey() {
  const stored = localStorage.getItem(KEY_STORE);
  if (stored) {
    try {
      state.key = await sign.parseKey(stored);
    } catch (e) {
      keyNote(`The key stored in this browser is damaged (${e.message}) — make or import another.`);
    }
  }
  showKey();
}

function wireKeys() {
  $('key-new').addEventListener('click', async () => {
    try {
      const had = Boolean(state.key);
      state.key = await sign.newKey();
      localStorage.setItem(KEY_STORE, JSON.stringify(state.key));
      showKey();
      keyNote(had
        ? 'A new key replaced the previous one in this browser. It stays here; the peer only sees signed votes.'
        : 'A new key was made and kept in this browser. It stays here; the peer only sees signed votes.');
    } catch (e) {
      keyNote(`No key could be made: ${e.message}`);
    }
  });
  $('key-export').addEventListener('click', () => {
    if (!state.key) return;
    const text = $('key-text');
    text.value = JSON.stringify(state.key);
    text.focus();
    text.select();
    keyNote('The key file is in the box: copy it somewhere safe. Whoever has it can vote as you.');
  });
  $('key-import').addEventListener('click', async () => {
    try {
      state.key = await sign.parseKey($('key-text').value);
      localStorage.setItem(KEY_STORE, JSON.stringify(state.key));
      $('key-text').value = '';
      showKey();
      keyNote('The key was imported and is kept in this browser.');
    } catch (e) {
      keyNote(`Not imported: ${e.message}`);
    }
  });
  const mode = () => {
    const browser = $('vote-mode-browser').checked;
    $('browser-key').hidden = !browser;
    $('peer-key').hidden = browser;
  };
  $('vote-mode-browser').addEventListener('change', mode);
  $('vote-mode-peer').addEventListener('change', mode);
  mode();
}

/** Casts the vote of the form, then follows its receipt. */
async function castVote(event) {
  event.preventDefault();
  const button = $('vote-submit');
  const choice = $('vote-choice').value;
  const fail = (text) => {
    views.receipt('vote-receipt', { status: 'error', error: text });
    button.disabled = false;
  };
  if (!known()) return fail('The peer does not know the election yet.');
  if (!choice) return fail('Choose an option first.');
  button.disabled = true;
  let body;
  let computed = null;
  if ($('vote-mode-browser').checked) {
    if (!state.key) return fail('Make or import a key first (New key).');
    try {
      const signed = await sign.signVote(state.status.election.id, choice, state.key);
      body = signed.vote;
      computed = signed.id;
    } catch (e) {
      return fail(`The vote could not be signed here: ${e.message}`);
    }
  } else {
    const voter = $('vote-voter').value.trim();
    if (!voter) return fail('Name the voter whose key this peer holds.');
    body = { voter, choice };
  }
  let r;
  try {
    r = await api('/api/votes', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (e) {
    return fail(`The peer could not be reached: ${e.message}`);
  }
  button.disabled = false;
  views.raw('raw-vote', r.body);
  if (r.status !== 200) {
    const rejected = r.status === 422 ? { status: 'rejected', reason: r.body.error, vote_id: r.body.vote_id } : { status: 'error', error: r.body.error };
    state.myVote = null;
    return views.receipt('vote-receipt', rejected);
  }
  let note = '';
  if (computed) {
    note = computed === r.body.vote_id
      ? 'The vote id computed in this browser matches the peer’s.'
      : `The peer’s vote id differs from the one computed here (${computed}).`;
  }
  state.myVote = r.body.vote_id;
  state.myVoteNote = note;
  if (!$('receipt-id').value) $('receipt-id').value = r.body.vote_id;
  views.receipt('vote-receipt', r.body, note);
}

function wireForms() {
  $('vote-form').addEventListener('submit', castVote);
  $('receipt-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = $('receipt-id').value.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(id)) {
      state.lookup = null;
      views.receipt('receipt-result', { status: 'error', error: 'A vote id is 64 hex digits.' });
      return;
    }
    state.lookup = id;
    try {
      await lookUp(id);
    } catch (e) {
      showError(e);
    }
  });
  $('ballot-search').addEventListener('input', () => views.ballots(state.ballots, $('ballot-search').value));
}

async function start() {
  wireKeys();
  wireForms();
  await loadKey();
  connect();
  await refresh(...everything());
  document.body.dataset.ready = 'true';
}

start().catch(showError);
