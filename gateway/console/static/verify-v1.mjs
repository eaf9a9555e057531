// verify-v1.mjs: checks a transparency log's proofs in the browser, with no help from the server.
//
// Version 1 of the console's verifier; a changed algorithm gets a new file name, so a page
// never runs a script its auditor did not expect. Pure functions, no DOM (the page glue is
// audit-v1.mjs), so Node runs the same file against the RFC 6962 test vectors.
//
// - RFC 6962 / RFC 9162 Merkle proofs over SHA-256: leaf hash H(0x00 || leaf), node hash
//   H(0x01 || left || right); inclusion and consistency proofs verified as the reference
//   implementation (transparency-dev/merkle) does, sizes as BigInt (trees up to 2^64).
// - C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and tlog-checkpoint
//   bodies (https://c2sp.org/tlog-checkpoint), as gateway/audit/notes.py writes them. Keys are
//   "<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>"; the key id is the first four
//   bytes of SHA-256(name || 0x0A || 0x01 || public key). Signatures use WebCrypto's Ed25519.

export const VERSION = "1";

const subtle = globalThis.crypto.subtle;
const encoder = new TextEncoder();

export class VerifyError extends Error {}

function fail(message) {
  throw new VerifyError(message);
}

// -- bytes ----------------------------------------------------------------------------------

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function base64Decode(text, what = "value") {
  if (typeof text !== "string" || !B64.test(text)) fail(`${what} is not standard base64`);
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

export function base64Encode(bytes) {
  let raw = "";
  for (const b of bytes) raw += String.fromCharCode(b);
  return btoa(raw);
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

async function sha256(...parts) {
  return new Uint8Array(await subtle.digest("SHA-256", concat(parts)));
}

// -- RFC 6962 Merkle proofs -----------------------------------------------------------------

export async function leafHash(leaf) {
  return sha256(Uint8Array.of(0), leaf);
}

export async function nodeHash(left, right) {
  return sha256(Uint8Array.of(1), left, right);
}

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function onesCount(n) {
  let count = 0;
  for (const c of n.toString(2)) if (c === "1") count++;
  return count;
}

function trailingZeros(n) {
  let count = 0;
  while (n > 0n && (n & 1n) === 0n) {
    n >>= 1n;
    count++;
  }
  return count;
}

function decompose(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  return [inner, onesCount(index >> BigInt(inner))];
}

async function chainInner(seed, proof, index) {
  for (let i = 0; i < proof.length; i++) {
    seed = ((index >> BigInt(i)) & 1n) === 0n ? await nodeHash(seed, proof[i]) : await nodeHash(proof[i], seed);
  }
  return seed;
}

async function chainInnerRight(seed, proof, index) {
  for (let i = 0; i < proof.length; i++) {
    if (((index >> BigInt(i)) & 1n) === 1n) seed = await nodeHash(proof[i], seed);
  }
  return seed;
}

async function chainBorderRight(seed, proof) {
  for (const h of proof) seed = await nodeHash(h, seed);
  return seed;
}

function checkHashes(proof) {
  proof.forEach((h, i) => {
    if (h.length !== 32) fail(`proof hash ${i} is ${h.length} bytes, not 32`);
  });
}

export async function rootFromInclusionProof(index, size, leafHashBytes, proof) {
  index = BigInt(index);
  size = BigInt(size);
  if (index < 0n || index >= size) fail(`index ${index} is not below the tree size ${size}`);
  if (leafHashBytes.length !== 32) fail(`the leaf hash is ${leafHashBytes.length} bytes, not 32`);
  checkHashes(proof);
  const [inner, border] = decompose(index, size);
  if (proof.length !== inner + border) {
    fail(`the proof has ${proof.length} hashes; a tree of ${size} needs ${inner + border} for entry ${index}`);
  }
  const partial = await chainInner(leafHashBytes, proof.slice(0, inner), index);
  return chainBorderRight(partial, proof.slice(inner));
}

export async function verifyInclusion(index, size, leafHashBytes, proof, root) {
  const computed = await rootFromInclusionProof(index, size, leafHashBytes, proof);
  if (!equalBytes(computed, root)) fail("the proof does not lead to the checkpoint's root hash");
}

export async function verifyConsistency(size1, size2, root1, root2, proof) {
  size1 = BigInt(size1);
  size2 = BigInt(size2);
  if (size2 < size1) fail(`the newer tree (${size2}) is smaller than the older one (${size1})`);
  if (size1 === size2) {
    if (proof.length > 0) fail("equal tree sizes need an empty proof");
    if (size1 === 0n && !equalBytes(root1, await sha256())) fail("that is not the empty tree's root");
    if (!equalBytes(root1, root2)) fail("two trees of the same size have different roots");
    return;
  }
  if (size1 === 0n) fail("a consistency proof from the empty tree proves nothing");
  if (proof.length === 0) fail("the consistency proof is empty");
  checkHashes(proof);
  let [inner, border] = decompose(size1 - 1n, size2);
  const shift = trailingZeros(size1);
  inner -= shift;
  let seed = proof[0];
  let start = 1;
  if (size1 === 1n << BigInt(shift)) {
    seed = root1;
    start = 0;
  }
  if (proof.length !== start + inner + border) {
    fail(`the proof has ${proof.length} hashes; ${start + inner + border} are needed`);
  }
  const rest = proof.slice(start);
  const mask = (size1 - 1n) >> BigInt(shift);
  let hash1 = await chainInnerRight(seed, rest.slice(0, inner), mask);
  hash1 = await chainBorderRight(hash1, rest.slice(inner));
  if (!equalBytes(hash1, root1)) fail("the proof does not lead to the older root");
  let hash2 = await chainInner(seed, rest.slice(0, inner), mask);
  hash2 = await chainBorderRight(hash2, rest.slice(inner));
  if (!equalBytes(hash2, root2)) fail("the proof does not lead to the newer root");
}

// -- C2SP signed notes and checkpoints ------------------------------------------------------

function validName(name) {
  return name.length > 0 && !/[+\s]/u.test(name);
}

async function keyId(name, keyBytes) {
  const digest = await sha256(encoder.encode(name), Uint8Array.of(0x0a), keyBytes);
  return ((digest[0] << 24) | (digest[1] << 16) | (digest[2] << 8) | digest[3]) >>> 0;
}

export async function parseVerifierKey(text) {
  text = String(text).trim();
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first < 0 || second < 0) fail("a verifier key is <name>+<key id>+<key>");
  const [name, idHex, key64] = [text.slice(0, first), text.slice(first + 1, second), text.slice(second + 1)];
  if (!validName(name)) fail(`the key name ${JSON.stringify(name)} is not valid`);
  if (!/^[0-9a-fA-F]{8}$/.test(idHex)) fail("the key id is not 8 hex digits");
  const key = base64Decode(key64, "the key");
  if (key.length === 0 || key[0] !== 0x01) fail("only Ed25519 keys (algorithm 0x01) are known");
  if (key.length !== 33) fail(`an Ed25519 key is 32 bytes, this one ${key.length - 1}`);
  const id = await keyId(name, key);
  if (id !== parseInt(idHex, 16)) fail("the key id does not match the key's name and bytes");
  const publicKey = await subtle.importKey("raw", key.slice(1), { name: "Ed25519" }, false, ["verify"]);
  return { name, id, publicKey, text };
}

// Opens a signed note with one key: the text, if that key signed it (and its signature holds).
export async function openNote(note, key) {
  if (typeof note !== "string" || !note.endsWith("\n")) fail("a signed note ends with a newline");
  if (/[\u0000-\u0009\u000b-\u001f]/u.test(note)) fail("the note holds control characters");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) fail("the note has no signature block");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2).split("\n");
  lines.pop(); // the text after the final newline is empty
  if (lines.length === 0 || lines.length > 100) fail("the note has no signatures, or too many");
  let verified = false;
  for (const line of lines) {
    const match = /^\u2014 (\S+) (\S+)$/u.exec(line);
    if (!match) fail(`malformed signature line ${JSON.stringify(line.slice(0, 80))}`);
    const [, name, sig64] = match;
    const sig = base64Decode(sig64, "a signature");
    if (sig.length < 5) fail("a signature is too short");
    const id = ((sig[0] << 24) | (sig[1] << 16) | (sig[2] << 8) | sig[3]) >>> 0;
    if (name !== key.name || id !== key.id || verified) continue; // someone else's (a witness)
    const ok = await subtle.verify({ name: "Ed25519" }, key.publicKey, sig.slice(4), encoder.encode(text));
    if (!ok) fail(`the signature by ${key.name} does not verify: the note was changed or not signed with this key`);
    verified = true;
  }
  if (!verified) fail(`the note carries no signature by ${key.name} (key id ${key.id.toString(16).padStart(8, "0")})`);
  return text;
}

export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "") fail("a checkpoint has origin, size and root lines");
  const [origin, sizeText, root64] = lines;
  if (!origin) fail("the checkpoint has no origin");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) fail("the checkpoint's size is not a number");
  const root = base64Decode(root64, "the root hash");
  if (root.length !== 32) fail("the root hash is not 32 bytes");
  for (const extension of lines.slice(3, -1)) if (!extension) fail("empty extension line");
  return { origin, size: BigInt(sizeText), root };
}

// A signed checkpoint opened with the auditor's key: {origin, size, root}.
export async function openCheckpoint(note, key) {
  return parseCheckpoint(await openNote(note, key));
}

// An inclusion proof in the JSON shape of `wsg audit proof --json` ({tree_size, index, leaf,
// proof}) checked against a verified checkpoint; returns the leaf's bytes.
export async function checkInclusionJson(proof, checkpoint) {
  if (!proof || typeof proof !== "object") fail("the proof is not a JSON object");
  const { tree_size: treeSize, index } = proof;
  if (!Number.isSafeInteger(treeSize) || !Number.isSafeInteger(index)) fail("tree_size and index must be whole numbers");
  if (BigInt(treeSize) !== checkpoint.size) {
    fail(`the proof is for a tree of ${treeSize} entries; the checkpoint covers ${checkpoint.size}`);
  }
  if (!Array.isArray(proof.proof)) fail("the proof's hashes are missing");
  const leaf = base64Decode(proof.leaf, "the leaf");
  const hashes = proof.proof.map((h, i) => base64Decode(h, `proof hash ${i}`));
  await verifyInclusion(index, treeSize, await leafHash(leaf), hashes, checkpoint.root);
  return leaf;
}
