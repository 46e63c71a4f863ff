#!/usr/bin/env bash
# Load test of ladder serve, on loopback only and bounded in time:
#   1. CLIENTS clients stream chat completions back to back for SECONDS;
#      every request must end 200 with "data: [DONE]", and the server's
#      resident memory must stay flat after warm-up (the first fifth of the run).
#   2. 16 clients start streaming and half of them disconnect mid-stream:
#      /metrics must show every slot free and the queue empty soon after.
#   3. SIGTERM: the server exits 0.
# usage: scripts/load-test.sh [--clients N] [--seconds S] [--ladder BIN] [-m DIR] [--no-rss]
#   --no-rss: skip the memory check (sanitizer builds hold freed memory in
#   quarantine, so their resident memory grows without a leak). Default: 64 clients for 300 s on a synthesized tiny checkpoint (its
#   synthetic tokenizer included); needs curl.
set -euo pipefail
cd "$(dirname "$0")/.."
clients=64 secs=300 ladder=build/ladder dir="" rss=1
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients=$2; shift ;;
    --seconds) secs=$2; shift ;;
    --ladder) ladder=$2; shift ;;
    -m) dir=$2; shift ;;
    --no-rss) rss=0 ;;
    *) echo "usage: scripts/load-test.sh [--clients N] [--seconds S] [--ladder BIN] [-m DIR] [--no-rss]" >&2; exit 2 ;;
  esac
  shift
done
command -v curl >/dev/null || { echo "skipped: curl is not installed"; exit 77; }
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
if [ -z "$dir" ]; then
  "$ladder" synth --preset tiny --seed 9 --tokenizer -o "$work/m" 2>/dev/null
  dir=$work/m
fi
# a small prefix cache: it reaches its bound during warm-up, so memory that
# grows after that is not the cache's
"$ladder" serve -m "$dir" --port 0 --port-file "$work/port" --parallel 16 --queue 1024 --ctx 1024 \
  --max-tokens 256 --max-conns 512 --prefix-cache 4 >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "FAIL  the server did not start"; cat "$work/serve.log"; exit 1; }
url=http://127.0.0.1:$(cat "$work/port")
fail=0

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
echo "phase 1: $clients clients streaming for $secs s"
end=$((SECONDS + secs))
client() {
  local i=$1 ok=0 bad=0 n=0 out code
  while [ $SECONDS -lt $end ]; do
    n=$((n + 1))
    out=$(curl -s -N --max-time 120 -w '\n%{http_code}' "$url/v1/chat/completions" -d \
      "{\"messages\":[{\"role\":\"user\",\"content\":\"client $i request $n\"}],\"max_tokens\":$((16 + (i * 7 + n * 13) % 112)),\"temperature\":0.8,\"seed\":$n,\"stream\":true}" ||
      true)
    code=${out##*$'\n'}
    if [ "$code" = 200 ] && grep -q 'data: \[DONE\]' <<<"$out"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  done
  echo "$ok $bad" >"$work/client$i"
}
for i in $(seq "$clients"); do client "$i" & done
warm=$((secs / 5)) samples=()
while [ $SECONDS -lt $end ]; do
  samples+=("$SECONDS:$(rss_kb)")
  sleep 2
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
ok=0 bad=0
for i in $(seq "$clients"); do read -r a b <"$work/client$i"; ok=$((ok + a)); bad=$((bad + b)); done
start_rss=0 max_rss=0
t0=${samples[0]%%:*}
for s in "${samples[@]}"; do
  t=${s%%:*} r=${s##*:}
  if [ $((t - t0)) -ge $warm ] && [ "$start_rss" -eq 0 ]; then start_rss=$r; fi
  if [ "$start_rss" -ne 0 ] && [ "$r" -gt "$max_rss" ]; then max_rss=$r; fi
done
echo "  requests: $ok completed, $bad failed"
[ "$bad" -eq 0 ] && [ "$ok" -gt 0 ] || fail=1
if [ $rss = 0 ]; then
  echo "  resident memory: not checked (--no-rss)"
elif [ "$start_rss" -gt 0 ]; then
  # flat: at most 5% (and 8 MB of allocator slack) above the level after warm-up
  limit=$((start_rss + start_rss / 20 + 8192))
  echo "  resident memory after warm-up: $((start_rss / 1024)) MB, at most $((max_rss / 1024)) MB later (limit $((limit / 1024)) MB)"
  [ "$max_rss" -le "$limit" ] || fail=1
fi

echo "phase 2: 16 clients, 8 of them disconnect mid-stream"
pids=()
for i in $(seq 16); do
  curl -s -N --max-time 60 "$url/v1/completions" -d \
    "{\"prompt\":[$i,5,9],\"max_tokens\":256,\"temperature\":1,\"seed\":$i,\"stream\":true}" >"$work/p2_$i" &
  pids+=($!)
done
sleep 0.5
for i in $(seq 0 2 15); do kill "${pids[$i]}" 2>/dev/null || true; done
free=0
for _ in $(seq 100); do
  m=$(curl -s "$url/metrics")
  if grep -q '^ladder_running_sequences 0$' <<<"$m" && grep -q '^ladder_queue_depth 0$' <<<"$m"; then free=1; break; fi
  sleep 0.2
done
for i in $(seq 1 2 15); do wait "${pids[$i]}" 2>/dev/null || true; done
m=$(curl -s "$url/metrics")
finished=$(cat "$work"/p2_* | grep -c 'data: \[DONE\]' || true)
echo "  slots freed: $([ $free = 1 ] && echo yes || echo NO); streams that ran to the end: $finished (the 8 kept connected must; a cut one may have ended first)"
echo "  $(grep '^ladder_running_sequences' <<<"$m"), $(grep '^ladder_queue_depth' <<<"$m")"
[ $free = 1 ] && grep -q '^ladder_running_sequences 0$' <<<"$m" && [ "$finished" -ge 8 ] || fail=1

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
echo "SIGTERM: exit status $rc"
[ $rc -eq 0 ] || fail=1
[ $fail -eq 0 ] && echo "load test: passed" || { echo "load test: FAILED"; tail -20 "$work/serve.log"; exit 1; }
