// Rendering: each view of the page drawn from the API's JSON (API.md), with DOM nodes and text
// only (never HTML strings, so nothing a peer or voter sends can become markup). app.js decides
// when to fetch; these functions only draw.

const $ = (id) => document.getElementById(id);

/** A hash rate for people: 950 H/s, 12.3 kH/s, 1.84 MH/s. */
function hashRate(h) {
  const units = [['MH/s', 1e6], ['kH/s', 1e3]];
  for (const [unit, size] of units) {
    if (h >= size) return `${(h / size).toPrecision(3)} ${unit}`;
  }
  return `${Math.round(h)} H/s`;
}

/** An element with attributes (`text` sets its text) and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** The first digits of a hash. */
export const short = (h, n = 8) => (h ? String(h).slice(0, n) : '—');

/** An election id as a fingerprint people can compare aloud: 16 digits in groups of four. */
export const fingerprint = (id) => (id ? id.slice(0, 16).match(/.{4}/g).join(' ') : '—');

/** How long ago a Unix-ms time was, in words. */
export function ago(ms) {
  if (ms === null || ms === undefined) return 'never';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

const hashCode = (h, n) => el('code', { class: 'hash', title: h, text: short(h, n) });

/** Fills a raw-JSON panel. */
export function raw(id, value) {
  $(id).textContent = JSON.stringify(value, null, 2);
}

/** The status header. */
export function status(s) {
  const e = s.election;
  $('election-title').textContent = e ? e.title : 'Waiting for the ballot…';
  document.title = e ? `${e.title} · votechain` : 'votechain';
  const fp = $('election-fingerprint');
  fp.textContent = e ? fingerprint(e.id) : '—';
  fp.title = e ? `Election id ${e.id}` : 'The election is not known yet';
  $('tip-height').textContent = s.height ?? '—';
  const tip = $('tip-hash');
  tip.textContent = short(s.tip);
  tip.title = s.tip ?? '';
  $('peer-count').textContent = s.peers;
  $('pending-count').textContent = s.pending;
  let mining = s.mining ? 'on' : 'off';
  if (s.mining && typeof s.hash_rate === 'number') mining += ` · ${hashRate(s.hash_rate)}`;
  mining += ` · ${s.blocks_mined} mined`;
  $('mining').textContent = mining;
  const t = s.tracker || {};
  $('tracker-state').textContent = {
    none: 'none (seeds only)',
    registered: 'registered',
    registering: `registering (${Math.round((t.unanswered_ms || 0) / 1000)} s unanswered)`,
    refused: `refused: it serves “${t.title}”`,
  }[t.state] || String(t.state);
  $('sync-state').textContent = s.syncing ? 'syncing…' : 'in sync';
  $('peer-name').textContent = s.name;
  pool(s.pool);
  raw('raw-status', s);
}

/** The mining port's miners and shares (the section is hidden without a mining port). */
export function pool(p) {
  $('pool-view').hidden = !p;
  if (!p) return;
  const sh = p.shares;
  const rejected = sh.duplicate + sh.low + sh.bad_prefix + sh.unauthorized + sh.not_subscribed + sh.rate_limited;
  $('pool-summary').textContent = `${p.miners.length} miner${p.miners.length === 1 ? '' : 's'} at ${hashRate(p.hash_rate)} `
    + `(${p.connections} connection${p.connections === 1 ? '' : 's'}); ${p.blocks_found} block${p.blocks_found === 1 ? '' : 's'} found; `
    + `shares: ${sh.accepted} accepted, ${sh.stale} stale, ${rejected} rejected.`;
  const rows = p.miners.map((m) => el('tr', { 'data-miner': m.name },
    el('td', { text: m.name }), el('td', { text: hashRate(m.hash_rate) }), el('td', { text: m.accepted }),
    el('td', { text: `${m.share_bits} bits` })));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 4, class: 'note', text: 'No miner is connected.' })));
  $('pool-miners').replaceChildren(...rows);
}

/** The options of the vote form's choice list. */
export function choices(options) {
  const select = $('vote-choice');
  const now = Array.from(select.options, (o) => o.value);
  if (now.join('\n') === options.join('\n')) return;
  select.replaceChildren(...options.map((o) => el('option', { value: o, text: o })));
}

/** The tally as bars: confirmed solid, pending striped, both with their numbers. */
export function tally(t) {
  const root = $('tally');
  const max = Math.max(1, ...t.options.map((o) => o.confirmed + o.pending));
  const rows = t.options.map((o) => {
    let row = Array.from(root.children).find((r) => r.dataset.option === o.option);
    if (!row) {
      row = el('div', { class: 'bar-row', 'data-option': o.option },
        el('span', { class: 'bar-label', text: o.option }),
        el('span', { class: 'bar', 'aria-hidden': 'true' },
          el('span', { class: 'fill confirmed' }), el('span', { class: 'fill pending' })),
        el('span', { class: 'bar-count' }));
    }
    row.dataset.confirmed = o.confirmed;
    row.dataset.pending = o.pending;
    const [confirmed, pending] = row.querySelectorAll('.fill');
    confirmed.style.width = `${(100 * o.confirmed) / max}%`;
    pending.style.width = `${(100 * o.pending) / max}%`;
    row.querySelector('.bar-count').textContent =
      `${o.confirmed} confirmed${o.pending ? ` + ${o.pending} pending` : ''}`;
    return row;
  });
  // Rows stay the same nodes, changed in place: a screen reader hears what changed, not all.
  if (rows.length !== root.children.length || rows.some((r, i) => root.children[i] !== r)) root.replaceChildren(...rows);
  const total = t.options.reduce((n, o) => n + o.confirmed, 0);
  $('tally-note').textContent = `${total} vote${total === 1 ? '' : 's'} confirmed at height ${t.height}; pending votes wait in the pool.`;
  raw('raw-tally', t);
}

/** The block strip, newest first; `onOpen(height)` shows a block. */
export function blocks(list, selected, onOpen) {
  const items = list.map((b) => {
    const button = el('button', {
      type: 'button', class: 'block', 'data-height': b.height, 'aria-pressed': String(b.height === selected),
      'aria-label': `Block ${b.height}, ${b.vote_count} votes, mined by ${b.miner || 'unknown'}`,
    },
    el('span', { class: 'height', text: `#${b.height}` }),
    el('span', { class: 'votes', text: `${b.vote_count} vote${b.vote_count === 1 ? '' : 's'}` }),
    el('span', { class: 'miner', text: b.miner || (b.height === 0 ? 'genesis' : '—') }),
    el('span', { class: 'time', text: b.height === 0 ? 'the ballot' : ago(b.timestamp_ms) }));
    button.addEventListener('click', () => onOpen(b.height));
    return el('li', {}, button);
  });
  $('blocks').replaceChildren(...items);
}

/** The detail of one block: header fields, confirmations and votes. */
export function blockDetail(b) {
  const root = $('block-detail');
  root.hidden = false;
  const field = (name, value) => [el('dt', { text: name }), el('dd', {}, value)];
  const code = (h) => el('code', { class: 'hash wrap', text: h });
  const votes = b.votes.length
    ? el('table', {},
      el('thead', {}, el('tr', {}, el('th', { scope: 'col', text: 'Vote id' }), el('th', { scope: 'col', text: 'Choice' }), el('th', { scope: 'col', text: 'Voter key' }))),
      el('tbody', {}, ...b.votes.map((v) => el('tr', { 'data-vote-id': v.id }, el('td', {}, hashCode(v.id, 16)), el('td', { text: v.choice }), el('td', {}, hashCode(v.voter, 12))))))
    : el('p', { class: 'note', text: 'No votes in this block.' });
  root.replaceChildren(
    el('h3', { text: `Block ${b.height}` }),
    el('dl', { class: 'fields' },
      ...field('Hash', code(b.hash)),
      ...field('Previous', code(b.prev)),
      ...field('Confirmations', String(b.confirmations)),
      ...field('Time', new Date(b.timestamp_ms).toLocaleString()),
      ...field('Miner', b.miner || '—'),
      ...field('Difficulty', `${b.difficulty} bits`),
      ...field('Nonce', String(b.nonce)),
      ...field('Payload root', code(b.payload_root))),
    el('div', { class: 'scroll' }, votes),
    el('details', { class: 'raw' }, el('summary', {}, 'Raw JSON ', el('a', { href: `/api/blocks/${b.height}`, text: `/api/blocks/${b.height}` })),
      el('pre', { text: JSON.stringify(b, null, 2) })));
  root.dataset.height = b.height;
}

/** The pending pool. */
export function pending(p) {
  const rows = p.votes.map((v) => el('tr', { 'data-vote-id': v.id },
    el('td', {}, hashCode(v.id, 16)), el('td', { text: v.choice }), el('td', {}, hashCode(v.voter, 12))));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 3, class: 'note', text: 'No vote is waiting.' })));
  else if (p.count > p.votes.length) rows.push(el('tr', {}, el('td', { colspan: 3, class: 'note', text: `… and ${p.count - p.votes.length} more.` })));
  $('pending').replaceChildren(...rows);
  raw('raw-pending', p);
}

/** The peer table. */
export function peers(p) {
  const rows = p.peers.map((x) => el('tr', { 'data-address': x.address },
    el('td', {}, el('code', { text: x.address })), el('td', { text: x.name || '—' }), el('td', { text: x.source }),
    el('td', { text: ago(x.last_heard_ms) }), el('td', { text: x.blocks ?? '—' }), el('td', { class: `state ${x.state === 'ok' ? 'ok' : 'bad'}`, text: x.state })));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 6, class: 'note', text: 'No peers yet.' })));
  $('peers').replaceChildren(...rows);
  raw('raw-peers', p);
}

/** The ballot list, filtered by a vote-id prefix, at most `cap` rows. */
export function ballots(list, prefix, cap = 200) {
  const p = prefix.trim().toLowerCase();
  const found = p ? list.filter((b) => b.vote_id.startsWith(p)) : list;
  const shown = found.slice(-cap).reverse();
  $('ballots').replaceChildren(...shown.map((b) => el('li', { 'data-vote-id': b.vote_id },
    el('code', { class: 'hash wrap', text: b.vote_id }), el('span', { class: 'note', text: ` in block ${b.height}` }))));
  $('ballots-count').textContent = p
    ? `${found.length} of ${list.length} counted votes start with “${p}”${found.length > cap ? `; the newest ${cap} shown` : ''}.`
    : `${list.length} counted vote${list.length === 1 ? '' : 's'}${list.length > cap ? `; the newest ${cap} shown, search to find others` : ''}.`;
}

/** A receipt into `id` (#vote-receipt or #receipt-result); `extra` adds a sentence. */
export function receipt(id, r, extra) {
  const root = $(id);
  const status = r.status || 'error';
  root.dataset.status = status;
  root.dataset.confirmations = r.confirmations ?? 0;
  if (r.vote_id) root.dataset.voteId = r.vote_id;
  const says = {
    pending: 'Pending: in the pool, waiting for a block.',
    confirmed: `Confirmed in block ${r.height} with ${r.confirmations} confirmation${r.confirmations === 1 ? '' : 's'}.`,
    rejected: `Rejected: ${r.reason || r.error || 'the peer refused it'}`,
    unknown: 'Unknown: this peer has not seen this vote.',
    error: r.error || 'The request failed.',
  }[status] || `Status ${status}.`;
  const parts = [el('p', { class: `status ${status}`, text: says })];
  if (r.vote_id) parts.push(el('p', {}, 'Vote id ', el('code', { class: 'hash wrap vote-id', text: r.vote_id })));
  if (status === 'confirmed') parts.push(el('p', { class: 'note', text: `Merkle proof: leaf ${r.index} of ${r.vote_count}, ${r.proof.length} sibling hash${r.proof.length === 1 ? '' : 'es'} (raw JSON below).` }));
  if (extra) parts.push(el('p', { class: 'note', text: extra }));
  root.replaceChildren(...parts);
}
