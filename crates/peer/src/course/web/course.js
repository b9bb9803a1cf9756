// The COMP 3010 peer's page: the status from /api/events (one `status` event per snapshot),
// the newest blocks and the peers fetched when the status says they changed, and a word form
// posting to /api/words. No build step, no framework.

// Errors of any kind, for the browser test (the same list the native page keeps).
const errors = (window.votechainErrors = []);
const noteError = (text) => errors.push(String(text));
addEventListener("error", (e) => noteError(e.message || `failed to load ${e.target?.src || e.target?.href}`), true);
addEventListener("unhandledrejection", (e) => noteError(e.reason?.message || e.reason));
document.addEventListener("securitypolicyviolation", (e) => noteError(`blocked by the page's policy: ${e.violatedDirective} ${e.blockedURI}`));

const $ = (id) => document.getElementById(id);

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

let lastTop = undefined;
let lastPeers = -1;

async function getJson(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

async function refreshBlocks() {
  const blocks = await getJson("/api/blocks?limit=20");
  fill(document.querySelector("#blocks tbody"), blocks.map((b) => {
    const tr = document.createElement("tr");
    cell(tr, b.height);
    cell(tr, b.hash.slice(0, 16) + "…");
    cell(tr, b.minedBy);
    cell(tr, b.messages.join(" | "));
    cell(tr, new Date(b.timestamp * 1000).toLocaleString());
    return tr;
  }));
}

async function refreshPeers() {
  const peers = await getJson("/api/peers");
  fill(document.querySelector("#peers tbody"), peers.map((p) => {
    const tr = document.createElement("tr");
    cell(tr, p.address);
    cell(tr, p.name);
    cell(tr, p.seed ? "seed" : p.talked ? "talked" : "claimed");
    cell(tr, `${Math.round(p.heard_ms_ago / 1000)} s ago`);
    return tr;
  }));
}

function showStatus(s) {
  $("name").textContent = `“${s.name}” at ${s.address}`;
  const sync = s.sync ? ` · syncing ${s.sync.have} of ${s.sync.want}` : "";
  const top = s.top ? ` · top ${s.top.slice(0, 12)}…` : " · no chain yet";
  $("status").textContent =
    `${s.blocks} blocks${top} · difficulty ${s.difficulty} · ${s.peers} peers · ` +
    `mining ${s.mining ? "on" : "off"}${sync}`;
  $("words").textContent = s.words_waiting.length
    ? `Waiting to be mined: ${s.words_waiting.join(", ")}`
    : "";
  if (s.top !== lastTop) {
    lastTop = s.top;
    refreshBlocks().catch(() => {});
  }
  if (s.peers !== lastPeers) {
    lastPeers = s.peers;
    refreshPeers().catch(() => {});
  }
  showPool(s.pool);
  document.body.dataset.ready = "true";
}

function hashRate(h) {
  for (const [unit, size] of [["GH/s", 1e9], ["MH/s", 1e6], ["kH/s", 1e3]]) {
    if (h >= size) return `${(h / size).toPrecision(3)} ${unit}`;
  }
  return `${Math.round(h)} H/s`;
}

/** The mining port's miners and shares (hidden without a mining port). */
function showPool(p) {
  $("pool-view").hidden = !p;
  if (!p) return;
  const sh = p.shares;
  const rejected = sh.duplicate + sh.low + sh.bad_prefix + sh.unauthorized + sh.not_subscribed + sh.rate_limited;
  $("pool-summary").textContent =
    `${p.miners.length} miners at ${hashRate(p.hash_rate)} (${p.connections} connections); ` +
    `${p.blocks_found} blocks found; shares: ${sh.accepted} accepted, ${sh.stale} stale, ${rejected} rejected.`;
  fill(document.querySelector("#pool-miners tbody"), p.miners.map((m) => {
    const tr = document.createElement("tr");
    tr.dataset.miner = m.name;
    cell(tr, m.name);
    cell(tr, hashRate(m.hash_rate));
    cell(tr, String(m.accepted));
    cell(tr, `${m.share_bits} bits`);
    return tr;
  }));
}

$("word-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const word = $("word").value;
  const r = await fetch("/api/words", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ word }),
  });
  const body = await r.json().catch(() => ({}));
  $("word-result").textContent = !r.ok
    ? body.error || `error ${r.status}`
    : body.mining
      ? `“${word}” will be mined.`
      : `“${word}” waits: mining is off on this peer.`;
  if (r.ok) $("word").value = "";
});

const events = new EventSource("/api/events");
events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
events.onopen = () => { document.body.dataset.live = "true"; };
events.onerror = () => {
  document.body.dataset.live = "false";
  $("status").textContent = "reconnecting…";
};
