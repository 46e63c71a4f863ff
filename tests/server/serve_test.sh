#!/bin/sh
# ladder serve over HTTP with curl, on a synthesized tiny checkpoint (with its
# synthetic tokenizer): endpoints, OpenAI error objects per kind, streaming,
# determinism alone vs beside 7 other streams, seeds, prefix reuse (the same
# answers with and without a cache hit), the queue limit (429),
# clients that disconnect mid-stream (their slots freed), SIGTERM (exit 0).
# usage: serve_test.sh LADDER WORKDIR       exit 77: skipped
L=$1
W=$2
command -v curl >/dev/null 2>&1 || { echo "skipped: curl is not installed"; exit 77; }
rm -rf "$W" && mkdir -p "$W" || exit 1
fails=0
ok() { echo "ok    $1"; }
bad() { echo "FAIL  $1"; fails=$((fails + 1)); }
check() { # what, then a command
  what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
"$L" synth --preset tiny --seed 3 --tokenizer -o "$W/m" >"$W/synth.log" 2>&1 || { cat "$W/synth.log"; exit 1; }
"$L" serve -m "$W/m" --port 0 --port-file "$W/port" --parallel 8 --queue 2 --ctx 512 --max-tokens 400 \
  --api-key sekret >"$W/serve.log" 2>&1 &
PID=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$W/port" ] || { echo "FAIL  the server did not start"; cat "$W/serve.log"; kill $PID; exit 1; }
U=http://127.0.0.1:$(cat "$W/port")
K="Authorization: Bearer sekret"
# status code and body of one request: req NAME METHOD PATH [BODY] [no-auth]
req() {
  if [ "${5:-}" = no-auth ]; then
    curl -s -o "$W/$1.body" -w '%{http_code}' -X "$2" "$U$3" ${4:+-d "$4"}
  else
    curl -s -o "$W/$1.body" -w '%{http_code}' -X "$2" -H "$K" "$U$3" ${4:+-d "$4"}
  fi
}
has() { grep -q -- "$2" "$W/$1.body"; }

check "GET /health needs no key" test "$(req health GET /health '' no-auth)" = 200
check "no key: 401" test "$(req nokey GET /v1/models '' no-auth)" = 401
check "401 body is an OpenAI error object" has nokey '"error":{"message":'
check "GET /v1/models" test "$(req models GET /v1/models)" = 200
check "the model id is the directory's name" has models '"id":"m"'
check "unknown route: 404" test "$(req nf GET /v2/nothing)" = 404
check "malformed JSON: 400" test "$(req badjson POST /v1/chat/completions '{"messages":')" = 400
check "messages of the wrong type: 400" test "$(req badtype POST /v1/chat/completions '{"messages":"hi"}')" = 400
check "unknown role: 400" test "$(req badrole POST /v1/chat/completions '{"messages":[{"role":"wizard","content":"x"}]}')" = 400
check "unknown role names the problem" has badrole 'role'
long=$(seq -s, 1 600)
check "prompt longer than the context: 400" test "$(req long POST /v1/completions "{\"prompt\":[$long]}")" = 400
check "max_tokens above the limit: 400" test "$(req maxtok POST /v1/completions '{"prompt":"hi","max_tokens":100000}')" = 400

chat='{"messages":[{"role":"user","content":"Hello"}],"max_tokens":12,"temperature":0}'
check "chat completion" test "$(req chat POST /v1/chat/completions "$chat")" = 200
check "chat completion has usage" has chat '"usage":{"prompt_tokens":'
check "chat completion has a finish_reason" has chat '"finish_reason":"length"'
stream='{"messages":[{"role":"user","content":"Hello"}],"max_tokens":12,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}'
check "streamed chat" test "$(req stream POST /v1/chat/completions "$stream")" = 200
check "stream ends with [DONE]" has stream 'data: \[DONE\]'
check "stream carries usage" has stream '"usage":{"prompt_tokens":'
check "tokenize" test "$(req tok POST /tokenize '{"content":"hello world"}')" = 200
check "apply-template renders the V4 prompt" test "$(req tpl POST /apply-template '{"messages":[{"role":"user","content":"Hi"}]}')" = 200
check "apply-template output" has tpl '"prompt":"<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜></think>"'

# determinism: the same greedy request, and the same seeded one, alone and
# then while 7 others stream
one='{"prompt":[5,9,200,31,77,401,12,8],"max_tokens":40,"temperature":0}'
s1='{"prompt":"seed test","max_tokens":30,"temperature":1,"seed":5}'
s2='{"prompt":"seed test","max_tokens":30,"temperature":1,"seed":6}'
req alone POST /v1/completions "$one" >/dev/null
req seeda POST /v1/completions "$s1" >/dev/null
bg=""
for j in 1 2 3 4 5 6 7; do
  curl -s -N -H "$K" "$U/v1/completions" -d "{\"prompt\":[$j,3,$((j * 11))],\"max_tokens\":300,\"ignore_eos\":true,\"temperature\":0.9,\"seed\":$j,\"stream\":true}" \
    >"$W/bg$j.out" &
  bg="$bg $!"
done
sleep 0.2
req busy POST /v1/completions "$one" >/dev/null
req seedb POST /v1/completions "$s1" >/dev/null
req during GET /metrics >/dev/null
for p in $bg; do wait "$p"; done
req seedc POST /v1/completions "$s2" >/dev/null
norm() { sed 's/"id":"[^"]*"//; s/"created":[0-9]*//' "$W/$1.body" >"$W/$1.norm"; }
for f in alone busy seeda seedb seedc; do norm $f; done
check "greedy tokens alone == beside 7 streams" cmp -s "$W/alone.norm" "$W/busy.norm"
check "seeded tokens alone == beside 7 streams" cmp -s "$W/seeda.norm" "$W/seedb.norm"
check "the 7 streams were still running then" grep -q '^ladder_running_sequences [1-9]' "$W/during.body"
check "the 7 streams ended" test "$(cat "$W"/bg*.out | grep -c 'data: \[DONE\]')" = 7
check "another seed, another text" sh -c "! cmp -s '$W/seeda.norm' '$W/seedc.norm'"

# prefix reuse: a shared system prompt, then a conversation's next turn,
# each asked twice (the second time resumed from the prefix cache); greedy
# and seeded answers identical with and without the hit
sys=$(seq -s ' ' 1000 1029)
t1="{\"role\":\"system\",\"content\":\"numbers $sys\"},{\"role\":\"user\",\"content\":\"Hello there\"}"
t2="$t1,{\"role\":\"assistant\",\"content\":\"Hi! How can I help?\"},{\"role\":\"user\",\"content\":\"Count on\"}"
n=0
for msgs in "$t1" "$t2"; do
  for samp in '"temperature":0' '"temperature":1,"seed":11'; do
    n=$((n + 1))
    body="{\"messages\":[$msgs],\"max_tokens\":16,$samp}"
    req pfx${n}a POST /v1/chat/completions "$body" >/dev/null
    req pfx${n}b POST /v1/chat/completions "$body" >/dev/null
    sed 's/"id":"[^"]*"//; s/"created":[0-9]*//; s/"cached_tokens":[0-9]*//' "$W/pfx${n}a.body" >"$W/pfx${n}a.norm"
    sed 's/"id":"[^"]*"//; s/"created":[0-9]*//; s/"cached_tokens":[0-9]*//' "$W/pfx${n}b.body" >"$W/pfx${n}b.norm"
    check "prefix reuse #$n: the same answer with and without a hit" cmp -s "$W/pfx${n}a.norm" "$W/pfx${n}b.norm"
    check "prefix reuse #$n: the repeat resumed cached tokens" grep -q '"cached_tokens":[1-9]' "$W/pfx${n}b.body"
  done
done
check "the first turn resumed nothing" grep -q '"cached_tokens":0' "$W/pfx1a.body"
check "the second turn resumed the first's system prompt" grep -q '"cached_tokens":[1-9]' "$W/pfx3a.body"
req metrics GET /metrics >/dev/null
check "/metrics counts prefix-cache hits" grep -q '^ladder_prefix_cache_hits_total [1-9]' "$W/metrics.body"

# a client that gives up on a whole (not streamed) reply: its generation stops
gen_total() { req metrics GET /metrics >/dev/null; sed -n 's/^ladder_generation_tokens_total //p' "$W/metrics.body"; }
g0=$(gen_total)
curl -s -o /dev/null --max-time 0.05 -H "$K" "$U/v1/completions" \
  -d '{"prompt":[1,2,3],"max_tokens":400,"ignore_eos":true,"temperature":0}'
i=0
while [ $i -lt 100 ]; do
  req metrics GET /metrics >/dev/null
  grep -q '^ladder_running_sequences 0$' "$W/metrics.body" && break
  sleep 0.05; i=$((i + 1))
done
g1=$(gen_total)
check "a non-streamed request whose client left stops early ($((g1 - g0)) of 400 tokens)" test $((g1 - g0)) -lt 400

# 8 slots + 2 queued: the 11th and later concurrent requests are refused
pids=""
for j in $(seq 1 14); do
  curl -s -o /dev/null -w '%{http_code}\n' -H "$K" "$U/v1/completions" \
    -d "{\"prompt\":[$j,4],\"max_tokens\":400,\"temperature\":0.5,\"seed\":$j,\"stream\":true}" >"$W/flood$j.code" &
  pids="$pids $!"
done
sleep 1.5
codes=$(cat "$W"/flood*.code 2>/dev/null | tr '\n' ' ')
check "a full queue answers 429 ($codes)" grep -q 429 "$W"/flood*.code
# the clients still streaming go away mid-stream
for p in $pids; do kill "$p" 2>/dev/null; done
i=0
while [ $i -lt 100 ]; do
  req metrics GET /metrics >/dev/null
  grep -q '^ladder_running_sequences 0$' "$W/metrics.body" && grep -q '^ladder_queue_depth 0$' "$W/metrics.body" && break
  sleep 0.1; i=$((i + 1))
done
check "disconnected clients' slots are freed" grep -q '^ladder_running_sequences 0$' "$W/metrics.body"
check "/metrics counts 429s" grep -q 'ladder_requests_total{status="429"}' "$W/metrics.body"
check "/metrics observed time to first token" grep -q '^ladder_time_to_first_token_seconds_count [1-9]' "$W/metrics.body"
check "/metrics observed inter-token latency" grep -q '^ladder_inter_token_latency_seconds_count [1-9]' "$W/metrics.body"

kill -TERM $PID
i=0
while kill -0 $PID 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $PID 2>/dev/null; then bad "SIGTERM stops the server"; kill -9 $PID; else
  wait $PID; rc=$?
  check "SIGTERM: exit status 0 ($rc)" test $rc -eq 0
fi
[ $fails -eq 0 ] || { echo "--- server log"; cat "$W/serve.log"; }
echo "server: $fails failure(s)"
[ $fails -eq 0 ]
