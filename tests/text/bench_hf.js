// Encode throughput of HF tokenizers (node binding) on one thread, same
// measurement as text_bench.c. Writes the corpus first when --write-corpus.
// usage: node bench_hf.js TOKENIZER_JSON TEXT_FILE [REPEATS] [--write-corpus]
'use strict';
const fs = require('fs');
const { Tokenizer } = require('tokenizers');
const { corpus } = require('./gen_text.js');

async function main() {
  const [tokPath, textPath] = process.argv.slice(2, 4);
  const reps = Number(process.argv[4] || 5);
  if (process.argv.includes('--write-corpus')) fs.writeFileSync(textPath, corpus(1234, 1100000).join(''));
  const t0 = process.hrtime.bigint();
  const tok = Tokenizer.fromFile(tokPath);
  const tLoad = Number(process.hrtime.bigint() - t0) / 1e9;
  const text = fs.readFileSync(textPath, 'utf8');
  const n = Buffer.byteLength(text);
  let first = 0, best = Infinity, nids = 0;
  for (let r = 0; r <= reps; r++) {
    const s = process.hrtime.bigint();
    const enc = await tok.encode(text, null, { addSpecialTokens: false });
    const dt = Number(process.hrtime.bigint() - s) / 1e9;
    nids = enc.getLength();
    if (r === 0) first = dt; else best = Math.min(best, dt);
  }
  // Same text again as line-aligned chunks of <= 4 KB (prompt-sized inputs).
  const chunks = [];
  let cur = '';
  for (const line of text.split(/(?<=\n)/)) {
    if (cur && Buffer.byteLength(cur) + Buffer.byteLength(line) > 4096) { chunks.push(cur); cur = ''; }
    cur += line;
  }
  if (cur) chunks.push(cur);
  let bestChunk = Infinity;
  for (let r = 0; r < reps; r++) {
    const s = process.hrtime.bigint();
    for (const c of chunks) await tok.encode(c, null, { addSpecialTokens: false });
    bestChunk = Math.min(bestChunk, Number(process.hrtime.bigint() - s) / 1e9);
  }
  console.log(`hf tokenizers: load ${tLoad.toFixed(3)} s; ${n} bytes -> ${nids} ids; ` +
    `cold ${(n / first / 1e6).toFixed(2)} MB/s; warm best of ${reps} ${(n / best / 1e6).toFixed(2)} MB/s; ` +
    `${chunks.length} chunks of <=4KB: ${(n / bestChunk / 1e6).toFixed(2)} MB/s`);
}
main().catch((e) => { console.error('bench_hf: ' + e.message); process.exit(1); });
