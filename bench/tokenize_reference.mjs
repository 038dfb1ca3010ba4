// The reference side of lorafa-bench-tokenize: Hugging Face's `tokenizers` (npm; Rust through a
// Node binding) encoding the same text in the same two ways, printing the same fields.
//   node bench/tokenize_reference.mjs --tokenizer DIR --text FILE [--repeat N]
// The package is looked up in tests/fixtures/tokenizers/node (npm ci there first).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'tests', 'fixtures', 'tokenizers', 'node', 'package.json'));
const { Tokenizer } = require('tokenizers');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i >= 0 && i + 1 < args.length) return args[i + 1];
  if (fallback === undefined) {
    console.error(`usage: node tokenize_reference.mjs --tokenizer DIR --text FILE [--repeat N] (missing ${name})`);
    process.exit(2);
  }
  return fallback;
};
let tokenizerPath = option('--tokenizer');
const textPath = option('--text');
const repeats = Number(option('--repeat', '3'));
if (fs.statSync(tokenizerPath).isDirectory()) tokenizerPath = path.join(tokenizerPath, 'tokenizer.json');

const text = fs.readFileSync(textPath, 'utf8');
const megabytes = Buffer.byteLength(text, 'utf8') / 1e6;
const hashIds = (ids, hash = 2166136261) => {
  for (const id of ids) {
    hash = Math.imul((hash ^ id) >>> 0, 16777619) >>> 0;
  }
  return hash;
};
const hex = (h) => h.toString(16).padStart(8, '0');

let start = process.hrtime.bigint();
const tokenizer = Tokenizer.fromFile(tokenizerPath);
const seconds = () => Number(process.hrtime.bigint() - start) / 1e9;
console.log(`reference: tokenizers ${require('tokenizers/package.json').version}, loaded in ${seconds().toFixed(2)} s`);
console.log(`text: ${textPath}, ${megabytes.toFixed(2)} MB`);

let best = Infinity;
let cold = 0;
let ids = [];
for (let r = 0; r < repeats; ++r) {
  start = process.hrtime.bigint();
  ids = (await tokenizer.encode(text, null, { addSpecialTokens: false })).getIds();
  const s = seconds();
  if (r === 0) cold = s;
  best = Math.min(best, s);
}
console.log(`reference document: ${ids.length} tokens, ids hash ${hex(hashIds(ids))}, first run ${(megabytes / cold).toFixed(1)} MB/s, best of ${repeats} ${(megabytes / best).toFixed(1)} MB/s`);

const records = [];
for (let startAt = 0; startAt < text.length;) {
  let end = text.indexOf('\n\n', startAt);
  if (end < 0) end = text.length;
  records.push(text.slice(startAt, end));
  startAt = end + 2;
}
for (const mode of ['sequential', 'encodeBatch']) {
  best = Infinity;
  let count = 0;
  let hash = 2166136261;
  for (let r = 0; r < repeats; ++r) {
    count = 0;
    hash = 2166136261;
    start = process.hrtime.bigint();
    const encodings = mode === 'sequential'
      ? await (async () => { const out = []; for (const t of records) out.push(await tokenizer.encode(t, null, { addSpecialTokens: false })); return out; })()
      : await tokenizer.encodeBatch(records, { addSpecialTokens: false });
    for (const e of encodings) {
      const recordIds = e.getIds();
      count += recordIds.length;
      hash = hashIds(recordIds, hash);
    }
    best = Math.min(best, seconds());
  }
  const note = mode === 'sequential' ? '1 call at a time' : 'one batch call, parallel on all cores';
  console.log(`reference paragraphs (${mode}): ${records.length} records, ${count} tokens, ids hash ${hex(hash)}, best of ${repeats} ${(megabytes / best).toFixed(1)} MB/s (${note})`);
}
