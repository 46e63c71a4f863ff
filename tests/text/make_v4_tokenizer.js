// Builds a DeepSeek-V4-like tokenizer.json from the V3 one by appending the
// special strings the V4 chat format uses and V3 lacks, with the next free
// ids. Half are special/unnormalized and half normalized, so both added-token
// passes are exercised. usage: node make_v4_tokenizer.js V3_JSON OUT_JSON
'use strict';
const fs = require('fs');
const [src, dst] = process.argv.slice(2);
const j = JSON.parse(fs.readFileSync(src, 'utf8'));
const have = new Set(j.added_tokens.map((t) => t.content));
let next = 0;
for (const t of j.added_tokens) next = Math.max(next, t.id + 1);
for (const id of Object.values(j.model.vocab)) next = Math.max(next, id + 1);
const add = ['<think>', '</think>', '｜DSML｜', '<｜latest_reminder｜>', '<｜action｜>', '<｜query｜>',
  '<｜authority｜>', '<｜domain｜>', '<｜title｜>', '<｜read_url｜>'];
add.forEach((content, i) => {
  if (have.has(content)) return;
  const special = i % 2 === 0;
  j.added_tokens.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false,
    normalized: !special, special });
});
fs.writeFileSync(dst, JSON.stringify(j));
