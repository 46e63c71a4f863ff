#!/bin/sh
# The official `openai` npm client, unchanged, against ladder serve on a
# synthesized tiny checkpoint with its synthetic tokenizer (openai_test.mjs).
# Opt-in like the other npm tests (it downloads the client into NPM_DIR, a
# build-tree folder): LADDER_NPM_ORACLE=1. Exit 77: skipped.
# usage: openai_test.sh LADDER WORKDIR NPM_DIR
L=$1
W=$2
N=$3
if [ "${LADDER_NPM_ORACLE:-0}" != 1 ]; then
  echo "skipped: the openai client test is opt-in (it downloads from npm): LADDER_NPM_ORACLE=1"
  exit 77
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { echo "skipped: node/npm not installed"; exit 77; }
if [ ! -f "$N/node_modules/openai/package.json" ]; then
  mkdir -p "$N" && cd "$N" || exit 1
  [ -f package.json ] || echo '{"name":"ladder-openai-test","private":true}' >package.json
  if ! timeout 240 npm install --no-audit --no-fund --no-save --fetch-retries=1 --fetch-timeout=30000 \
       openai@4.104.0 >npm-install.log 2>&1; then
    echo "skipped: npm install failed (no network?); see $N/npm-install.log"
    exit 77
  fi
  cd - >/dev/null || exit 1
fi
rm -rf "$W" && mkdir -p "$W" || exit 1
"$L" synth --preset tiny --seed 5 --tokenizer -o "$W/m" >"$W/synth.log" 2>&1 || { cat "$W/synth.log"; exit 1; }
"$L" serve -m "$W/m" --port 0 --port-file "$W/port" --parallel 8 --queue 1 --ctx 512 --max-tokens 400 \
  --api-key sekret >"$W/serve.log" 2>&1 &
PID=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -s "$W/port" ] || { echo "FAIL  the server did not start"; cat "$W/serve.log"; kill $PID; exit 1; }
NODE_PATH="$N/node_modules" node "$(dirname "$0")/openai_test.mjs" "http://127.0.0.1:$(cat "$W/port")/v1" "$N"
rc=$?
kill -TERM $PID
wait $PID || { echo "FAIL  the server did not exit 0 on SIGTERM"; rc=1; }
[ $rc -eq 0 ] || cat "$W/serve.log"
exit $rc
