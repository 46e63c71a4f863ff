// Runs the official openai client against ladder serve: chat (streamed and
// not), completions, models, usage, stop sequences, seeds, logprobs (streamed
// and not), and an
// error of each kind. usage: node openai_test.mjs BASE_URL NPM_DIR
import { createRequire } from "module";
const [base, npmDir] = process.argv.slice(2);
const require = createRequire(npmDir + "/");
const OpenAI = require("openai").default ?? require("openai");

let fails = 0;
const check = (what, ok) => { console.log(`${ok ? "ok  " : "FAIL"}  ${what}`); if (!ok) fails++; };
const client = new OpenAI({ baseURL: base, apiKey: "sekret", maxRetries: 0 });
const model = "m";
const msgs = [{ role: "user", content: "Hello there" }];

const models = await client.models.list();
check("models lists the checkpoint", models.data.length === 1 && models.data[0].id === model);

const r = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, temperature: 0 });
check("chat: one choice, assistant role", r.choices.length === 1 && r.choices[0].message.role === "assistant");
check("chat: finish_reason length at max_tokens", r.choices[0].finish_reason === "length");
check("chat: usage adds up", r.usage.completion_tokens === 16 && r.usage.total_tokens === r.usage.prompt_tokens + 16);

const s = await client.chat.completions.create({ model, messages: msgs, max_tokens: 16, temperature: 0, stream: true,
  stream_options: { include_usage: true } });
let text = "", usage = null, finish = null;
for await (const ch of s) {
  if (ch.choices[0]) { text += ch.choices[0].delta.content ?? ""; finish = ch.choices[0].finish_reason ?? finish; }
  if (ch.usage) usage = ch.usage;
}
check("streamed chat gives the same text", text === r.choices[0].message.content);
check("streamed chat: usage in the last chunk", usage && usage.completion_tokens === 16);
check("streamed chat: finish_reason", finish === "length");

const c = await client.completions.create({ model, prompt: "the cat", max_tokens: 12, temperature: 0 });
check("completions", typeof c.choices[0].text === "string" && c.usage.completion_tokens === 12);
const ids = await client.completions.create({ model, prompt: [20, 30, 40], max_tokens: 4, temperature: 0 });
check("completions from token ids", ids.usage.prompt_tokens === 3);

// a stop sequence: the text of a greedy run up to some character of it
const full = await client.completions.create({ model, prompt: "stop test", max_tokens: 40, temperature: 0 });
const t = full.choices[0].text;
const cut = [...t].findIndex((ch, i) => i > 2 && /[a-z]/.test(ch));
if (cut > 0) {
  const stopCh = [...t][cut];
  const st = await client.completions.create({ model, prompt: "stop test", max_tokens: 40, temperature: 0, stop: [stopCh] });
  check(`stop sequence ${JSON.stringify(stopCh)} cuts the text before it`,
    st.choices[0].finish_reason === "stop" && t.startsWith(st.choices[0].text) && !st.choices[0].text.includes(stopCh));
} else check("stop sequence (the greedy text has a letter)", false);

const seeded = (seed) => client.chat.completions.create({ model, messages: msgs, max_tokens: 24, temperature: 1, seed });
const [a1, a2, b1] = [await seeded(11), await seeded(11), await seeded(12)];
check("same seed, same text", a1.choices[0].message.content === a2.choices[0].message.content);
check("another seed, other text", a1.choices[0].message.content !== b1.choices[0].message.content);

const lp = await client.chat.completions.create({ model, messages: msgs, max_tokens: 5, temperature: 0, logprobs: true,
  top_logprobs: 3 });
const lc = lp.choices[0].logprobs?.content ?? [];
check("logprobs: one entry per token with 3 alternatives",
  lc.length === 5 && lc.every((e) => e.logprob <= 0 && e.top_logprobs.length === 3));
check("greedy logprobs: the chosen token is the most likely", lc.every((e) => e.logprob === e.top_logprobs[0].logprob));

const ls = await client.chat.completions.create({ model, messages: msgs, max_tokens: 5, temperature: 0, logprobs: true,
  top_logprobs: 3, stream: true });
const streamed = [];
for await (const ch of ls) streamed.push(...(ch.choices[0]?.logprobs?.content ?? []));
check("streamed logprobs: the same entries as the whole reply",
  JSON.stringify(streamed) === JSON.stringify(lc));

const status = async (f) => { try { await f(); return 200; } catch (e) { return e.status; } };
check("400: malformed request", await status(() => client.chat.completions.create({ model, messages: "hi" })) === 400);
const noKey = new OpenAI({ baseURL: base, apiKey: "wrong", maxRetries: 0 });
check("401: wrong API key", await status(() => noKey.models.list()) === 401);
check("404: unknown route", await status(() => client.embeddings.create({ model, input: "x" })) === 404);
// 8 slots + 1 queued: a burst of 16 long requests gets 429s
const burst = await Promise.all(Array.from({ length: 16 }, (_, i) =>
  status(() => client.completions.create({ model, prompt: [i + 1], max_tokens: 300, temperature: 1, seed: i }))));
check(`429: a burst over the queue (${burst.join(" ")})`, burst.includes(429) && burst.includes(200));

console.log(`openai client: ${fails} failure(s)`);
process.exit(fails ? 1 : 0);
