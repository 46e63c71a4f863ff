// Deterministic text generators for the tokenizer tests: a multilingual
// corpus expanded from seed_corpus.txt, and short fuzz strings that mix in a
// tokenizer's added-token texts. Same seed, same output, on every machine.
'use strict';
const fs = require('fs');
const path = require('path');

function rng(seed) { // mulberry32
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const pick = (arr) => arr[int(arr.length)];
  return { next, int, pick };
}

// Code point ranges, chosen to hit every regex class the patterns use.
const RANGES = [
  [0x20, 0x7e], [0xa0, 0xff], [0x100, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff],
  [0x590, 0x5ff], [0x600, 0x6ff], [0x660, 0x669], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff],
  [0x1e00, 0x1eff], [0x2000, 0x206f], [0x2070, 0x209f], [0x20a0, 0x20cf], [0x2100, 0x214f],
  [0x2190, 0x22ff], [0x2460, 0x24ff], [0x2e80, 0x2fdf], [0x3000, 0x303f], [0x3040, 0x30ff],
  [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe30, 0xfe4f],
  [0xff00, 0xffef], [0x10000, 0x1007f], [0x1d400, 0x1d7ff], [0x1f300, 0x1f64f], [0x1f680, 0x1f6ff],
  [0x1f900, 0x1f9ff], [0x20000, 0x2a6df],
];
const WS = [' ', '  ', '\t', '\n', '\r\n', '\r', '\u00a0', '\u3000', '\u2003', '\u0085', '\u200b',
  '\u2028', '\u000b', '\u000c', ' \n ', '\n\n', '   \t\n'];
const MARKS = ['\u0301', '\u0300', '\u0308', '\u0327', '\u0303', '\u20dd', '\u093f', '\u0e31', '\u1161', '\u11a8',
  '\ufe0f', '\u200d', '\u0489'];
const EMOJI = ['😀', '👍🏽', '👨‍👩‍👧‍👦', '🏳️‍🌈', '🇯🇵', '❤️', '1️⃣', '🧑🏿‍💻', '🤖', '🎉'];
const CONTRACTIONS = ["'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'LL", "'d", "'D", "’s", "ſ", "'ſ", "K"];

// Code points where PCRE2 and the oracle's regex engine disagree before
// ladder patches its regexes (src/text/unicode_delta.c: newer Unicode
// versions, \s \d \w differences), plus named Unicode 15/16 examples.
const EDGE = (() => {
  const c = fs.readFileSync(path.join(__dirname, '../../src/text/unicode_delta.c'), 'utf8');
  const runs = [...c.matchAll(/\{0x([0-9A-F]+), 0x([0-9A-F]+),/g)].map((m) => [parseInt(m[1], 16), parseInt(m[2], 16)]);
  return runs.concat([0x1f6dc, 0x1fae9, 0x1fa89, 0x11f50, 0x16d40, 0x1e5d0, 0x0897, 0x1c89, 0xa7cb, 0x2ffc,
    0x31ef, 0x180e, 0x1b4e, 0x10d40, 0x1ccf0, 0x31350, 0x2ebf0].map((x) => [x, x]));
})();

function randCp(r) {
  const [lo, hi] = r.pick(r.next() < 0.1 ? EDGE : RANGES);
  return String.fromCodePoint(lo + r.int(hi - lo + 1));
}

function digits(r) {
  let s = '';
  const n = 1 + r.int(r.next() < 0.8 ? 8 : 40);
  for (let i = 0; i < n; i++) s += String(r.int(10));
  if (r.next() < 0.2) s += r.pick(['.', ',', ' ', '-', '/']) + digits(r);
  if (r.next() < 0.05) s = s.replace(/\d/g, (d) => String.fromCodePoint(0x660 + Number(d)));
  if (r.next() < 0.05) s = s.replace(/\d/g, (d) => String.fromCodePoint(0xff10 + Number(d)));
  return s;
}

function loadSeed() {
  const text = fs.readFileSync(path.join(__dirname, 'seed_corpus.txt'), 'utf8');
  const lines = text.split('\n').filter((l) => l.length);
  const words = text.split(/\s+/).filter((w) => w.length);
  return { lines, words };
}

// One corpus document: seed lines and shuffled words with injected runs.
function corpusDoc(r, seed, target) {
  const parts = [];
  let len = 0;
  const crlf = r.next() < 0.25;
  while (len < target) {
    const k = r.next();
    let p;
    if (k < 0.35) p = r.pick(seed.lines) + (crlf ? '\r\n' : '\n');
    else if (k < 0.6) {
      const n = 3 + r.int(20);
      const ws = [];
      for (let i = 0; i < n; i++) ws.push(r.pick(seed.words));
      p = ws.join(r.next() < 0.9 ? ' ' : '');
    } else if (k < 0.68) p = ' ' + digits(r);
    else if (k < 0.76) p = r.pick(WS).repeat(1 + r.int(6));
    else if (k < 0.82) p = randCp(r) + r.pick(MARKS) + (r.next() < 0.5 ? r.pick(MARKS) : '');
    else if (k < 0.88) p = r.pick(EMOJI).repeat(1 + r.int(3));
    else if (k < 0.94) {
      p = '';
      const n = 1 + r.int(30);
      const base = r.pick(RANGES);
      for (let i = 0; i < n; i++) p += String.fromCodePoint(base[0] + r.int(base[1] - base[0] + 1));
    } else p = r.pick(CONTRACTIONS) + ' ';
    parts.push(p);
    len += Buffer.byteLength(p);
  }
  return parts.join(r.next() < 0.7 ? '' : ' ');
}

function corpus(seedNum, minBytes) {
  const r = rng(seedNum);
  const seed = loadSeed();
  const docs = [];
  let total = 0;
  while (total < minBytes) {
    const d = corpusDoc(r, seed, 500 + r.int(4000));
    docs.push(d);
    total += Buffer.byteLength(d);
  }
  return docs;
}

// Short adversarial strings around added tokens and regex edges.
function fuzzStrings(seedNum, count, addedTokens) {
  const r = rng(seedNum);
  const seed = loadSeed();
  const out = [];
  for (let i = 0; i < count; i++) {
    let s = '';
    const atoms = r.int(12);
    for (let a = 0; a < atoms; a++) {
      const k = r.next();
      if (k < 0.18 && addedTokens.length) s += r.pick(addedTokens);
      else if (k < 0.24 && addedTokens.length) {
        const t = r.pick(addedTokens);
        const cut = [...t];
        s += cut.slice(0, 1 + r.int(cut.length)).join('');
      } else if (k < 0.36) s += r.pick(WS);
      else if (k < 0.46) s += digits(r);
      else if (k < 0.56) s += r.pick(CONTRACTIONS);
      else if (k < 0.66) s += r.pick(seed.words);
      else if (k < 0.72) s += r.pick(MARKS);
      else if (k < 0.76) s += r.pick(EMOJI);
      else if (k < 0.83) s += String.fromCharCode(0x20 + r.int(95));
      else if (k < 0.86) s += String.fromCodePoint(...[1, 2].map(() => { const [lo, hi] = r.pick(EDGE); return lo + r.int(hi - lo + 1); }));
      else s += randCp(r);
    }
    out.push(s);
  }
  return out;
}

module.exports = { rng, corpus, fuzzStrings };
