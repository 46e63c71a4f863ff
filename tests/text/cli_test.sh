#!/bin/sh
# Contract checks of the text subcommands: --help, clear one-line errors with
# non-zero exit on bad flags and input, and the gold chat cases via the CLI
# when LADDER_SHARED holds them. usage: cli_test.sh LADDER_BIN TINY_TOKENIZER_JSON
L=$1 TOK=$2
fails=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fails=$((fails + 1)); }
for c in tokenize detokenize encode-chat parse-completion; do
  "$L" $c --help | grep -q "^usage: ladder $c" && ok "$c --help" || bad "$c --help"
  out=$("$L" $c --no-such-flag 2>&1 </dev/null); rc=$?
  [ $rc -ne 0 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "error" &&
    ok "$c rejects a bad flag" || bad "$c bad flag (rc=$rc): $out"
done
ids=$("$L" tokenize -t "$TOK" -p "the thing 123") && [ "$ids" = "116 257 256 104 260 32 265" ] &&
  ok "tokenize -p" || bad "tokenize -p: $ids"
[ "$("$L" tokenize -t "$TOK" --bos -p "he")" = "276 257" ] && ok "tokenize --bos" || bad "tokenize --bos"
printf 'he\n' > "${TMPDIR:-/tmp}/ladder_cli_$$.txt"
[ "$("$L" tokenize -t "$TOK" --input "${TMPDIR:-/tmp}/ladder_cli_$$.txt")" = "257 10" ] && ok "tokenize --input" || bad "tokenize --input"
rm -f "${TMPDIR:-/tmp}/ladder_cli_$$.txt"
[ "$(echo "116 257 256 104 260" | "$L" detokenize -t "$TOK")" = "the thing" ] && ok "detokenize" || bad "detokenize"
[ "$(echo "228 184 173" | "$L" detokenize -t "$TOK" --stream)" = "中" ] && ok "detokenize --stream" || bad "detokenize --stream"
echo "1 x" | "$L" detokenize -t "$TOK" >/dev/null 2>&1 && bad "detokenize accepts junk" || ok "detokenize rejects junk"
echo "99999999" | "$L" detokenize -t "$TOK" >/dev/null 2>&1 && bad "detokenize unknown id" || ok "detokenize rejects unknown id"
echo '{}' > "${TMPDIR:-/tmp}/ladder_badtok_$$.json"
out=$("$L" tokenize -t "${TMPDIR:-/tmp}/ladder_badtok_$$.json" -p x 2>&1) && bad "bad tokenizer accepted" ||
  { echo "$out" | grep -q "model" && ok "bad tokenizer.json: $out" || bad "bad tokenizer message: $out"; }
rm -f "${TMPDIR:-/tmp}/ladder_badtok_$$.json"
# cJSON would cut strings at a NUL: refused with a clear message instead.
printf '{"model":{"type":"BPE","vocab":{"a\\u0000b":0}}}' > "${TMPDIR:-/tmp}/ladder_nultok_$$.json"
out=$("$L" tokenize -t "${TMPDIR:-/tmp}/ladder_nultok_$$.json" -p x 2>&1) && bad "tokenizer with \\u0000 accepted" ||
  { echo "$out" | grep -q 'u0000' && ok "tokenizer.json with \\u0000: $out" || bad "\\u0000 message: $out"; }
rm -f "${TMPDIR:-/tmp}/ladder_nultok_$$.json"
out=$(printf '[{"role":"user","content":"a\\u0000b"}]' | "$L" encode-chat --thinking-mode chat 2>&1) &&
  bad "encode-chat accepts \\u0000" || { echo "$out" | grep -q 'NUL' && ok "encode-chat \\u0000: $out" || bad "encode-chat \\u0000: $out"; }
out=$(printf '[{"role":"user","content":"a\\\\u0000b"}]' | "$L" encode-chat --thinking-mode chat 2>&1) &&
  ok "encode-chat keeps an escaped backslash before u0000" || bad "encode-chat \\\\u0000: $out"
echo 'not json' | "$L" encode-chat --thinking-mode chat >/dev/null 2>&1 && bad "encode-chat junk" || ok "encode-chat rejects junk"
"$L" encode-chat --thinking-mode maybe </dev/null >/dev/null 2>&1 && bad "bad mode accepted" || ok "encode-chat rejects a bad mode"
out=$(echo '[{"role":"user","content":"hi"}]' | "$L" encode-chat --thinking-mode thinking)
[ "$out" = "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜><think>" ] && ok "encode-chat minimal" || bad "encode-chat minimal: $out"
out=$(printf 'r</think>c<｜end▁of▁sentence｜>' | "$L" parse-completion --thinking-mode thinking)
[ "$out" = '{"role": "assistant", "content": "c", "reasoning_content": "r", "tool_calls": []}' ] &&
  ok "parse-completion" || bad "parse-completion: $out"
out=$(printf 'no end' | "$L" parse-completion --thinking-mode chat 2>&1) && bad "parse accepts junk" ||
  { echo "$out" | grep -q "missing EOS" && ok "parse-completion error: $out" || bad "parse message: $out"; }
G=${LADDER_SHARED:-}/encoding-dsv4
if [ -n "${LADDER_SHARED:-}" ] && [ -f "$G/test_input_1.json" ]; then
  for i in 1 2 3 4; do
    m=thinking; [ $i = 4 ] && m=chat
    "$L" encode-chat --thinking-mode $m < "$G/test_input_$i.json" | cmp -s - "$G/test_output_$i.txt" &&
      ok "encode-chat gold case $i byte-identical" || bad "encode-chat gold case $i"
  done
else
  echo "note: LADDER_SHARED not set; gold cases via the CLI not checked here"
fi
[ $fails -eq 0 ] && echo "all CLI checks passed" || echo "$fails CLI check(s) failed"
[ $fails -eq 0 ]
