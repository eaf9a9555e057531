// audit-v1.mjs: the audit pages' glue around verify-v1.mjs. It fetches the signed checkpoint and
// the inclusion proofs of the entries shown, checks them with the key the auditor holds (never
// the server's), compares what each row shows with the proven bytes, and says what it found.
// The last checkpoint verified is kept in this browser (localStorage): the next one must be
// consistent with it, or the page says the log was rewritten.
import * as v from "./verify-v1.mjs";

const KEY_STORE = "wsg-verifier-key";
const KEPT_PREFIX = "wsg-kept-checkpoint:";
const decoder = new TextDecoder("utf-8", { fatal: true });
const $ = (id) => document.getElementById(id);

function say(element, text, ok) {
  if (!element) return;
  element.textContent = text;
  element.classList.toggle("ok", ok === true);
  element.classList.toggle("bad", ok === false);
}

async function getJson(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
  if (!response.ok) throw new v.VerifyError(`the server refused ${url.split("?")[0]} (${response.status})`);
  return response.json();
}

function shownRows() {
  return [...document.querySelectorAll("[data-index]")];
}

// What a cell shows for a field of the proven entry (the templates print "—" for nothing).
function shown(value) {
  return value === undefined || value === null ? "—" : String(value);
}

async function checkRow(row, proof, checkpoint) {
  const leaf = await v.checkInclusionJson(proof, checkpoint);
  let entry;
  try {
    entry = JSON.parse(decoder.decode(leaf));
  } catch {
    throw new v.VerifyError("the proven bytes are not a JSON entry");
  }
  if (String(entry.index) !== row.dataset.index) {
    throw new v.VerifyError(`the proven entry is number ${entry.index}, not ${row.dataset.index}`);
  }
  for (const cell of row.querySelectorAll("[data-field]")) {
    const field = cell.dataset.field;
    if (cell.textContent.trim() !== shown(entry[field])) {
      throw new v.VerifyError(`the page shows ${field} "${cell.textContent.trim()}" but the proven entry says "${shown(entry[field])}"`);
    }
  }
  return leaf;
}

async function keptConsistency(key, checkpoint) {
  const store = KEPT_PREFIX + key.text;
  const kept = JSON.parse(localStorage.getItem(store) || "null");
  let message = "";
  if (kept) {
    const oldSize = BigInt(kept.size);
    const oldRoot = v.base64Decode(kept.root);
    if (oldSize > checkpoint.size) {
      throw new v.VerifyError(`this browser verified a checkpoint of ${oldSize} entries before; the log now claims only ${checkpoint.size}: entries were cut`);
    }
    if (oldSize === checkpoint.size) {
      if (!v.equalBytes(oldRoot, checkpoint.root)) throw new v.VerifyError("the log was rewritten: same size as the checkpoint kept here, other root");
    } else if (oldSize > 0n) {
      const reply = await getJson(`/audit/consistency.json?old=${oldSize}&new=${checkpoint.size}`);
      const proof = reply.consistency;
      if (BigInt(proof.new_size) !== checkpoint.size) throw new v.VerifyError("the consistency proof is for another tree");
      await v.verifyConsistency(oldSize, checkpoint.size, oldRoot, checkpoint.root, proof.proof.map((h) => v.base64Decode(h)));
    }
    message = ` It extends the checkpoint of ${oldSize} entries this browser verified before.`;
  }
  localStorage.setItem(store, JSON.stringify({ size: checkpoint.size.toString(), root: v.base64Encode(checkpoint.root) }));
  return message;
}

let verified = null; // {key, checkpoint} once a verification succeeded on this page

async function verifyPage() {
  const status = $("verify-status");
  const input = $("verifier-key");
  const rows = shownRows();
  for (const row of rows) say(row.querySelector("[data-verified]"), "checking…");
  say(status, "Checking…");
  try {
    const key = await v.parseVerifierKey(input.value);
    if ($("remember-key")?.checked) localStorage.setItem(KEY_STORE, key.text);
    else localStorage.removeItem(KEY_STORE);
    const indexes = [...new Set(rows.map((r) => r.dataset.index))];
    const query = indexes.map((i) => `index=${encodeURIComponent(i)}`).join("&");
    const reply = await getJson(`/audit/proofs.json${query ? "?" + query : ""}`);
    const checkpoint = await v.openCheckpoint(reply.checkpoint, key);
    const consistent = await keptConsistency(key, checkpoint);
    verified = { key, checkpoint };
    const proofs = new Map(reply.proofs.map((p) => [String(p.index), p]));
    let good = 0;
    let bad = 0;
    for (const row of rows) {
      const cell = row.querySelector("[data-verified]");
      const proof = proofs.get(row.dataset.index);
      try {
        if (!proof) throw new v.VerifyError("the server sent no proof for this entry");
        const leaf = await checkRow(row, proof, checkpoint);
        const shownLeaf = $("verified-leaf");
        if (shownLeaf) shownLeaf.textContent = decoder.decode(leaf);
        say(cell, "✓ included", true);
        good++;
      } catch (e) {
        say(cell, `✗ not proven: ${e.message}`, false);
        bad++;
      }
    }
    const summary = `Checkpoint of ${checkpoint.size} entries signed by ${key.name}: signature valid.${consistent}` +
      (rows.length ? ` ${good} of ${rows.length} entries shown are proven included in it${bad ? `; ${bad} are NOT` : ""}.` : "") +
      " Checked by this browser, not by the server.";
    say(status, bad ? `Verification FAILED. ${summary}` : `Verified. ${summary}`, bad === 0);
  } catch (e) {
    verified = null;
    for (const row of rows) say(row.querySelector("[data-verified]"), "✗ not proven", false);
    say(status, `Verification FAILED: ${e.message}`, false);
  }
}

async function checkPastedProof() {
  const status = $("proof-status");
  try {
    if (!verified) await verifyPage();
    if (!verified) throw new v.VerifyError("the checkpoint did not verify with your key (see above)");
    let proof;
    try {
      proof = JSON.parse($("pasted-proof").value);
    } catch {
      throw new v.VerifyError("that is not JSON");
    }
    const leaf = await v.checkInclusionJson(proof, verified.checkpoint);
    say(status, `Proven: entry ${proof.index} is in the checkpoint of ${verified.checkpoint.size} entries. Its bytes: ${decoder.decode(leaf)}`, true);
  } catch (e) {
    say(status, `Not proven: ${e.message}`, false);
  }
}

function init() {
  const input = $("verifier-key");
  if (!input) return;
  const kept = localStorage.getItem(KEY_STORE);
  if (kept) {
    input.value = kept;
    const remember = $("remember-key");
    if (remember) remember.checked = true;
  }
  $("verify-button").addEventListener("click", verifyPage);
  $("check-proof")?.addEventListener("click", checkPastedProof);
  if (kept) verifyPage();
}

init();
