// The console's in-browser verifier (gateway/console/static/verify-v1.mjs) in Node: the RFC 6962
// vectors (read in place from ../shared/vectors/rfc6962 beside the project, or
// $WSG_RFC6962_VECTORS; skipped with the reason when absent), and signed notes made here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import * as v from "../../gateway/console/static/verify-v1.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const VECTORS = process.env.WSG_RFC6962_VECTORS || resolve(here, "../../../shared/vectors/rfc6962");

function cases(kind) {
  const root = join(VECTORS, kind);
  if (!existsSync(root)) return null;
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".json")) out.push([path.slice(root.length + 1), JSON.parse(readFileSync(path, "utf8"))]);
    }
  };
  walk(root);
  return out;
}

const b64 = (s) => v.base64Decode(s || "");
const hashes = (list) => (list || []).map((h) => v.base64Decode(h));

async function outcome(run) {
  try {
    await run();
    return false;
  } catch (e) {
    if (!(e instanceof v.VerifyError)) throw e;
    return true;
  }
}

for (const kind of ["inclusion", "consistency"]) {
  const found = cases(kind);
  test(`RFC 6962 ${kind} vectors`, { skip: found ? false : `RFC 6962 vectors not found at ${VECTORS}` }, async (t) => {
    assert.ok(found.length > 10, "the vector folder holds cases");
    const outcomes = new Set();
    for (const [name, c] of found) {
      const failed = await outcome(() =>
        kind === "inclusion"
          ? v.verifyInclusion(c.leafIdx, c.treeSize, b64(c.leafHash), hashes(c.proof), b64(c.root))
          : v.verifyConsistency(c.size1, c.size2, b64(c.root1), b64(c.root2), hashes(c.proof)),
      );
      assert.equal(failed, c.wantErr, `${name}: ${c.desc}`);
      outcomes.add(failed);
    }
    assert.deepEqual([...outcomes].sort(), [false, true], "both accepted and rejected cases");
  });
}

// A tree built here, its inclusion proofs, and mutations of them.
async function tree(leaves) {
  const hashesOf = await Promise.all(leaves.map((l) => v.leafHash(l)));
  async function root(lo, hi) {
    if (hi - lo === 1) return hashesOf[lo];
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    return v.nodeHash(await root(lo, lo + k), await root(lo + k, hi));
  }
  async function path(m, lo, hi) {
    if (hi - lo === 1) return [];
    let k = 1;
    while (k * 2 < hi - lo) k *= 2;
    return m < k
      ? [...(await path(m, lo, lo + k)), await root(lo + k, hi)]
      : [...(await path(m - k, lo + k, hi)), await root(lo, lo + k)];
  }
  return { root: await root(0, leaves.length), path: (m) => path(m, 0, leaves.length) };
}

test("every inclusion proof of a 13-leaf tree verifies, and a flipped bit fails", async () => {
  const leaves = Array.from({ length: 13 }, (_, i) => new TextEncoder().encode(`entry ${i}`));
  const t = await tree(leaves);
  for (let i = 0; i < leaves.length; i++) {
    const proof = await t.path(i);
    await v.verifyInclusion(i, leaves.length, await v.leafHash(leaves[i]), proof, t.root);
    if (proof.length) {
      const bad = proof.map((h) => h.slice());
      bad[0][0] ^= 1;
      const hash = await v.leafHash(leaves[i]);
      assert.ok(await outcome(() => v.verifyInclusion(i, leaves.length, hash, bad, t.root)));
    }
    const other = await v.leafHash(leaves[(i + 1) % leaves.length]);
    assert.ok(await outcome(() => v.verifyInclusion(i, leaves.length, other, proof, t.root)));
  }
});

// Signed notes: made with Node's WebCrypto the way gateway/audit/notes.py makes them.
async function signer(name) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const keyBytes = new Uint8Array([1, ...pub]);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array([...new TextEncoder().encode(name), 10, ...keyBytes])));
  const idBytes = digest.slice(0, 4);
  const id = Buffer.from(idBytes).toString("hex");
  const vkey = `${name}+${id}+${v.base64Encode(keyBytes)}`;
  async function sign(text) {
    const sig = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, new TextEncoder().encode(text)));
    return `${text}\n\u2014 ${name} ${v.base64Encode(new Uint8Array([...idBytes, ...sig]))}\n`;
  }
  return { vkey, sign };
}

test("a checkpoint signed with the key opens; changed text, another key, or a bad key id fail", async () => {
  const s = await signer("wsg.local/audit");
  const root = v.base64Encode(new Uint8Array(32).fill(7));
  const body = `wsg.local/audit\n12\n${root}\n`;
  const note = await s.sign(body);
  const key = await v.parseVerifierKey(s.vkey);
  const cp = await v.openCheckpoint(note, key);
  assert.equal(cp.origin, "wsg.local/audit");
  assert.equal(cp.size, 12n);
  assert.ok(await outcome(() => v.openCheckpoint(note.replace("\n12\n", "\n13\n"), key)), "changed size");
  const other = await v.parseVerifierKey((await signer("wsg.local/audit")).vkey);
  assert.ok(await outcome(() => v.openCheckpoint(note, other)), "another key of the same name");
  const [name, id, bytes] = s.vkey.split("+");
  const wrongId = (parseInt(id, 16) ^ 1).toString(16).padStart(8, "0");
  assert.ok(await outcome(() => v.parseVerifierKey(`${name}+${wrongId}+${bytes}`)), "key id mismatch");
  assert.ok(await outcome(() => v.parseVerifierKey("not a key")), "garbage key");
});

test("a witness's signature beside ours is ignored; a note with only theirs is refused", async () => {
  const ours = await signer("wsg.local/audit");
  const witness = await signer("witness.example");
  const body = `wsg.local/audit\n3\n${v.base64Encode(new Uint8Array(32))}\n`;
  const signedByUs = await ours.sign(body);
  const theirLine = (await witness.sign(body)).split("\n\n")[1];
  const key = await v.parseVerifierKey(ours.vkey);
  await v.openCheckpoint(signedByUs + theirLine, key);
  assert.ok(await outcome(() => v.openCheckpoint(`${body}\n${theirLine}`, key)));
});

test("an inclusion proof in wsg's JSON shape checks against a checkpoint of its size only", async () => {
  const leaves = ["a", "b", "c"].map((s) => new TextEncoder().encode(s));
  const t = await tree(leaves);
  const proof = { tree_size: 3, index: 1, leaf: v.base64Encode(leaves[1]), proof: (await t.path(1)).map(v.base64Encode) };
  const leaf = await v.checkInclusionJson(proof, { size: 3n, root: t.root });
  assert.equal(new TextDecoder().decode(leaf), "b");
  assert.ok(await outcome(() => v.checkInclusionJson(proof, { size: 4n, root: t.root })), "other size");
  assert.ok(await outcome(() => v.checkInclusionJson({ ...proof, leaf: v.base64Encode(leaves[2]) }, { size: 3n, root: t.root })), "other leaf");
});
