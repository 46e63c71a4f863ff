// Writes tokenizer test cases encoded by Hugging Face `tokenizers` (the
// oracle): one JSON line per case {"kind", "hex" (UTF-8 bytes), "ids"}.
// usage: node oracle_cases.js TOKENIZER_JSON OUT_FILE [--strip-added]
//        [--corpus-bytes N] [--fuzz N] [--seed N] [--corpus-out TXT IDS]
// --corpus-out also writes the corpus as one text file and the oracle ids
// of that whole file (one line), for checking the `ladder tokenize` CLI.
// --strip-added encodes with every added token removed from the tokenizer,
// the reference for ladder's special-as-text mode.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer } = require('tokenizers');
const { corpus, fuzzStrings } = require('./gen_text.js');

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}

async function main() {
  const [tokPath, outPath] = process.argv.slice(2, 4);
  const strip = process.argv.includes('--strip-added');
  const seed = Number(arg('--seed', '1234'));
  const corpusBytes = Number(arg('--corpus-bytes', String(1100000)));
  const nFuzz = Number(arg('--fuzz', '10000'));
  const json = JSON.parse(fs.readFileSync(tokPath, 'utf8'));
  const added = (json.added_tokens || []).map((t) => t.content);
  let tok;
  if (strip) {
    json.added_tokens = [];
    const tmp = path.join(os.tmpdir(), `ladder-strip-${process.pid}.json`);
    fs.writeFileSync(tmp, JSON.stringify(json));
    tok = Tokenizer.fromFile(tmp);
    fs.unlinkSync(tmp);
  } else {
    tok = Tokenizer.fromFile(tokPath);
  }
  const out = fs.createWriteStream(outPath);
  const write = async (kind, text) => {
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const line = JSON.stringify({ kind, hex: Buffer.from(text, 'utf8').toString('hex'), ids: enc.getIds() });
    if (!out.write(line + '\n')) await new Promise((r) => out.once('drain', r));
  };
  let bytes = 0;
  const docs = corpus(seed, corpusBytes);
  for (const d of docs) {
    bytes += Buffer.byteLength(d);
    await write('corpus', d);
  }
  const ci = process.argv.indexOf('--corpus-out');
  if (ci > 0) {
    const whole = docs.join('');
    fs.writeFileSync(process.argv[ci + 1], whole);
    const enc = await tok.encode(whole, null, { addSpecialTokens: false });
    fs.writeFileSync(process.argv[ci + 2], enc.getIds().join(' ') + '\n');
  }
  const fz = fuzzStrings(seed + 1, nFuzz, added);
  for (const s of fz) await write('fuzz', s);
  await new Promise((r) => out.end(r));
  console.log(`oracle: ${docs.length} corpus docs (${bytes} bytes), ${fz.length} fuzz strings -> ${outPath}`);
}

main().catch((e) => { console.error('oracle_cases: ' + e.message); process.exit(1); });
