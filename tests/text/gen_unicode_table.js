// Generates src/text/unicode_delta.c: the code points that the linked PCRE2
// classifies differently from Hugging Face tokenizers (the oracle), with the
// oracle's general category and \s \d \w membership for each.
//
// Nothing is assumed about either side's Unicode version: the oracle is
// probed through its own regex engine (a Split pre-tokenizer with behavior
// Removed over every code point, so the pieces left are the code points
// outside the class), and PCRE2 through the pcre2_classes helper.
//
// usage: NODE_PATH=.../node_modules node gen_unicode_table.js PCRE2_CLASSES_BIN OUT.c [--check]
// --check verifies OUT.c instead of writing it: exit 1 unless it lists, with
// the oracle's view, every code point where this PCRE2 and the oracle differ.
'use strict';
const fs = require('fs');
const { execFileSync } = require('child_process');
const { Tokenizer } = require('tokenizers');

const GC = ['Lu', 'Ll', 'Lt', 'Lm', 'Lo', 'Mn', 'Mc', 'Me', 'Nd', 'Nl', 'No', 'Pc', 'Pd', 'Ps', 'Pe',
  'Pi', 'Pf', 'Po', 'Sm', 'Sc', 'Sk', 'So', 'Zs', 'Zl', 'Zp', 'Cc', 'Cf', 'Cs', 'Co', 'Cn'];
const FLAGS = [['s', '\\s', 'LD_UCD_SPACE'], ['d', '\\d', 'LD_UCD_DIGIT'], ['w', '\\w', 'LD_UCD_WORD']];

const cps = [];
for (let c = 0; c <= 0x10ffff; c++) if (c < 0xd800 || c > 0xdfff) cps.push(c);
const parts = [];
for (let i = 0; i < cps.length; i += 8192) parts.push(String.fromCodePoint(...cps.slice(i, i + 8192)));
const all = parts.join('');

function splitter(pattern) {
  return Tokenizer.fromString(JSON.stringify({
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: pattern }, behavior: 'Removed', invert: false },
    post_processor: null, decoder: null,
    model: { type: 'WordLevel', vocab: { '[UNK]': 0 }, unk_token: '[UNK]' },
  }));
}

// Membership of every code point (index into cps) in the oracle's class.
// Offsets of the pieces are in code points.
async function oracleClass(pattern) {
  const enc = await splitter(pattern).encode(all, null, { addSpecialTokens: false });
  const inClass = new Uint8Array(cps.length).fill(1);
  for (const [b, e] of enc.getOffsets()) inClass.fill(0, b, e);
  return inClass;
}

// attr = gc index | flag bits << 5, per code point index. The probes run
// concurrently (the binding encodes on a thread pool).
async function oracleAttrs() {
  const attr = new Int16Array(cps.length).fill(-1);
  const cats = GC.filter((g) => g !== 'Cs'); // no surrogates in the probe string
  const [catSets, flagSets, majorSets] = await Promise.all([
    Promise.all(cats.map((g) => oracleClass(`\\p{${g}}`))),
    Promise.all(FLAGS.map((f) => oracleClass(f[1]))),
    Promise.all([...'LMNPSZC'].map((m) => oracleClass(`\\p{${m}}`))),
  ]);
  catSets.forEach((m, k) => {
    const g = GC.indexOf(cats[k]);
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      if (attr[i] >= 0) throw new Error(`U+${cps[i].toString(16)} in ${GC[attr[i]]} and ${GC[g]}`);
      attr[i] = g;
    }
  });
  for (let i = 0; i < attr.length; i++)
    if (attr[i] < 0) throw new Error(`U+${cps[i].toString(16)} has no category in the oracle`);
  flagSets.forEach((m, f) => {
    for (let i = 0; i < m.length; i++) if (m[i]) attr[i] |= 1 << (5 + f);
  });
  // The rewriter evaluates \p{L} etc. as unions of two-letter categories;
  // make sure the oracle agrees.
  [...'LMNPSZC'].forEach((major, k) => {
    const m = majorSets[k];
    for (let i = 0; i < m.length; i++)
      if (m[i] !== (GC[attr[i] & 31][0] === major ? 1 : 0))
        throw new Error(`oracle \\p{${major}} is not the union of its categories at U+${cps[i].toString(16)}`);
  });
  return attr;
}

function pcre2Attrs(bin) {
  const text = execFileSync(bin, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const lines = text.split('\n').filter((l) => l);
  const header = lines.shift();
  const attr = new Int16Array(cps.length).fill(-1);
  const index = (cp) => (cp < 0xd800 ? cp : cp - 0x800);
  for (const l of lines) {
    const [lo, hi, gc, fl] = l.split(' ');
    let a = GC.indexOf(gc);
    FLAGS.forEach(([c], f) => { if (fl.includes(c)) a |= 1 << (5 + f); });
    attr.fill(a, index(parseInt(lo, 16)), index(parseInt(hi, 16)) + 1);
  }
  return { header, attr };
}

function flagNames(a) {
  const f = FLAGS.filter((_, k) => a & (1 << (5 + k))).map((x) => x[2]);
  return f.length ? f.join(' | ') : '0';
}

async function main() {
  const [bin, outPath] = process.argv.slice(2, 4);
  const check = process.argv.includes('--check');
  const ver = require('tokenizers/package.json').version;
  const oracle = await oracleAttrs();
  const { header, attr: pc } = pcre2Attrs(bin);
  const rows = [];
  let run = null;
  let n = 0;
  for (let i = 0; i < cps.length; i++) {
    if (oracle[i] === pc[i]) { run = null; continue; }
    n++;
    if (run && run.a === oracle[i] && run.hi + 1 === cps[i]) run.hi = cps[i];
    else rows.push((run = { lo: cps[i], hi: cps[i], a: oracle[i] }));
  }
  const hex = (c) => '0x' + c.toString(16).toUpperCase().padStart(4, '0');
  const out = [
    '/* Generated by tests/text/gen_unicode_table.js; do not edit.',
    ` * Oracle: Hugging Face tokenizers ${ver} (node). Compared with: ${header.slice(2)}.`,
    ` * ${n} code points in ${rows.length} runs where the two disagree on the general`,
    ' * category or on \\s \\d \\w; each run holds the oracle\'s view. */',
    '#include "text/unicode_compat.h"',
    '',
    'const ld_ucd_range ld_ucd_delta[] = {',
    ...rows.map((r) => `    {${hex(r.lo)}, ${hex(r.hi)}, LD_GC_${GC[r.a & 31]}, ${flagNames(r.a)}},`),
    '};',
    'const size_t ld_ucd_delta_n = sizeof ld_ucd_delta / sizeof ld_ucd_delta[0];',
    '',
  ].join('\n');
  if (check) {
    // The runtime needs every code point where this PCRE2 and the oracle
    // disagree to be in the table with the oracle's view; with another
    // PCRE2 version than the generating one the table may list more.
    const index = (cp) => (cp < 0xd800 ? cp : cp - 0x800);
    const listed = new Int16Array(cps.length).fill(-1);
    const old = fs.existsSync(outPath) ? fs.readFileSync(outPath, 'utf8') : '';
    for (const m of old.matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+), LD_GC_(\w\w), ([^}]*)\}/g)) {
      let a = GC.indexOf(m[3]);
      FLAGS.forEach(([, , name], f) => { if (m[4].includes(name)) a |= 1 << (5 + f); });
      listed.fill(a, index(parseInt(m[1], 16)), index(parseInt(m[2], 16)) + 1);
    }
    let bad = 0;
    for (let i = 0; i < cps.length; i++) {
      if ((listed[i] >= 0 && listed[i] !== oracle[i]) || (listed[i] < 0 && pc[i] !== oracle[i])) {
        if (bad++ < 5) console.error(`U+${cps[i].toString(16).toUpperCase()}: table ${listed[i]}, oracle ${oracle[i]}, PCRE2 ${pc[i]}`);
      }
    }
    if (bad) {
      console.error(`FAIL: ${outPath} misses or misstates ${bad} code points; regenerate it with gen_unicode_table.js`);
      process.exit(1);
    }
    console.log(`unicode table covers all ${n} code points where ${header.slice(2)} and the oracle disagree`);
  } else {
    fs.writeFileSync(outPath, out);
    console.log(`wrote ${outPath}: ${n} code points, ${rows.length} runs`);
  }
}

main().catch((e) => { console.error('gen_unicode_table: ' + e.message); process.exit(1); });
