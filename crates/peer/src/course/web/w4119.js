// The W4119 peer's page: the status from /api/events (a `status` event per snapshot, an `event`
// per thing the peer reports), the honest tally and the newest blocks fetched when the tip or
// the ballot changed, the peers when their number did, and a vote form posting to /api/votes.
// Everything from the network is inserted with textContent. No build step, no framework.

// Errors of any kind, for the browser test (the same list the other pages keep).
const errors = (window.votechainErrors = []);
const noteError = (text) => errors.push(String(text));
addEventListener("error", (e) => noteError(e.message || `failed to load ${e.target?.src || e.target?.href}`), true);
addEventListener("unhandledrejection", (e) => noteError(e.reason?.message || e.reason));
document.addEventListener("securitypolicyviolation", (e) => noteError(`blocked by the page's policy: ${e.violatedDirective} ${e.blockedURI}`));

const $ = (id) => document.getElementById(id);
const MAX_EVENTS = 30;

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function getJson(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

const shown = (text) => (text === null || text === undefined ? "(none)" : text);

async function refreshTally() {
  const t = await getJson("/api/tally");
  fill(document.querySelector("#tally tbody"), t.counts.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.option = c.option;
    tr.dataset.votes = c.votes;
    cell(tr, c.option);
    cell(tr, c.votes);
    return tr;
  }));
  $("total").textContent = t.total;
  $("tally").dataset.total = t.total;
  $("ballot-note").textContent = t.ballot_received ? "" : "The ballot has not arrived from the tracker yet.";
  fill(document.querySelector("#uncounted tbody"), t.uncounted.map((u) => {
    const tr = document.createElement("tr");
    tr.dataset.index = u.index;
    cell(tr, u.index);
    cell(tr, shown(u.voter));
    cell(tr, shown(u.choice));
    cell(tr, u.reason);
    return tr;
  }));
  const more = t.uncounted_total - t.uncounted.length;
  $("uncounted-note").textContent = t.uncounted_total === 0
    ? "Every vote in the chain is counted."
    : `${t.uncounted_total} not counted` + (more > 0 ? ` (the first ${t.uncounted.length} are listed).` : ".");
  $("uncounted").dataset.count = t.uncounted_total;
}

async function refreshBlocks() {
  const blocks = await getJson("/api/blocks?limit=20");
  fill(document.querySelector("#blocks tbody"), blocks.map((b) => {
    const tr = document.createElement("tr");
    tr.dataset.index = b.index;
    cell(tr, b.index);
    cell(tr, b.hash.slice(0, 16) + "…");
    cell(tr, b.timestamp);
    cell(tr, b.votes.length
      ? b.votes.map((v) => `${shown(v.voter)} → ${shown(v.choice)}`).join(", ")
      : b.index === 0 ? "(genesis)" : "(no votes)");
    return tr;
  }));
}

async function refreshPeers() {
  const peers = await getJson("/api/peers");
  $("peers-note").textContent = peers.length ? "" : "The tracker lists no other peer.";
  fill(document.querySelector("#peers tbody"), peers.map((p) => {
    const tr = document.createElement("tr");
    cell(tr, p.address);
    return tr;
  }));
}

function showBallot(ballot) {
  const select = $("choice");
  const keep = select.value;
  select.replaceChildren(...(ballot || []).map((option) => {
    const o = document.createElement("option");
    o.value = option;
    o.textContent = option;
    return o;
  }));
  if ((ballot || []).includes(keep)) select.value = keep;
}

let lastTip = undefined;
let lastBallot = undefined;
let lastPeers = -1;

function showStatus(s) {
  // Before the peer's first snapshot the status is empty.
  if (!s || s.profile !== "w4119") return;
  $("address").textContent = `at ${s.address}`;
  const ballot = s.ballot ? `ballot ${s.ballot.join(", ")}` : "no ballot yet";
  $("status").textContent =
    `${s.registered ? "registered with" : "registering with"} the tracker ${s.tracker} · ${ballot} · ` +
    `${s.blocks} blocks · tip ${s.tip.slice(0, 12)}… · ${s.peers} peers · ` +
    `votes: ${s.counted} counted, ${s.uncounted} not counted`;
  document.body.dataset.registered = s.registered;
  $("pending").textContent = s.pending.length
    ? `Being mined: ${s.pending.map((v) => `${shown(v.voter)} → ${shown(v.choice)}`).join(", ")}`
    : "";
  const ballotKey = JSON.stringify(s.ballot);
  if (ballotKey !== lastBallot) {
    lastBallot = ballotKey;
    showBallot(s.ballot);
  }
  if (s.tip + ballotKey !== lastTip) {
    lastTip = s.tip + ballotKey;
    refreshTally().catch(noteError);
    refreshBlocks().catch(noteError);
  }
  if (s.peers !== lastPeers) {
    lastPeers = s.peers;
    refreshPeers().catch(noteError);
  }
  document.body.dataset.ready = "true";
}

function showEvent(sentence) {
  const li = document.createElement("li");
  li.textContent = sentence;
  const list = $("events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

$("vote-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const voter = $("voter").value;
  const choice = $("choice").value;
  const result = $("vote-result");
  const r = await fetch("/api/votes", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ voter, choice }),
  });
  const body = await r.json().catch(() => ({}));
  result.textContent = r.ok ? body.message : body.error || `error ${r.status}`;
  result.dataset.status = r.status;
  if (r.ok) $("voter").value = "";
});

const events = new EventSource("/api/events");
events.addEventListener("status", (e) => showStatus(JSON.parse(e.data)));
events.addEventListener("event", (e) => showEvent(e.data));
events.onopen = () => { document.body.dataset.live = "true"; };
events.onerror = () => {
  document.body.dataset.live = "false";
  $("status").textContent = "reconnecting…";
};
