// Reads a fixture the Python side made (a checkpoint signed by gateway/audit/notes.py, proofs
// from gateway/audit/tree.py) and prints what verify-v1.mjs makes of each case, as JSON.
import { readFileSync } from "node:fs";
import * as v from "../../gateway/console/static/verify-v1.mjs";

const fixture = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = {};
for (const [name, c] of Object.entries(fixture.cases)) {
  try {
    const key = await v.parseVerifierKey(c.key);
    const checkpoint = await v.openCheckpoint(c.note, key);
    if (c.inclusion) await v.checkInclusionJson(c.inclusion, checkpoint);
    if (c.consistency) {
      const old = await v.openCheckpoint(c.old_note, key);
      await v.verifyConsistency(old.size, checkpoint.size, old.root, checkpoint.root, c.consistency.proof.map((h) => v.base64Decode(h)));
    }
    results[name] = "ok";
  } catch (e) {
    if (!(e instanceof v.VerifyError)) throw e;
    results[name] = `refused: ${e.message}`;
  }
}
console.log(JSON.stringify(results));
