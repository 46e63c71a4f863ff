#!/bin/sh
# ladder chat fed from a pipe: commands, multi-turn, and the same greedy
# answer to the same first message after /reset (the session's reuse of its
# cached turns must not leak into a new conversation).
# usage: chat_test.sh LADDER WORKDIR
L=$1
W=$2
rm -rf "$W" && mkdir -p "$W" || exit 1
"$L" synth --preset tiny --seed 4 --tokenizer -o "$W/m" >/dev/null 2>&1 || exit 1
printf 'Hello\nAnd then?\n/reset\nHello\n/think\nWhy\n/nope\n/quit\nnot read\n' |
  "$L" chat -m "$W/m" -n 6 --temperature 0 >"$W/out" 2>"$W/err"
rc=$?
fails=0
t() { if eval "$2"; then echo "ok    $1"; else echo "FAIL  $1"; fails=$((fails + 1)); fi; }
t "exit status 0 ($rc)" '[ $rc -eq 0 ]'
t "the reset is acknowledged" 'grep -q "(conversation cleared)" "$W/out"'
t "same first answer after /reset" '[ "$(sed -n 1p "$W/out")" = "$(sed -n 4p "$W/out")" ]'
t "thinking mode shows the reasoning apart" 'grep -q "^\[thinking\] " "$W/out"'
t "unknown commands are named" 'grep -q "unknown command /nope" "$W/out"'
t "nothing after /quit is answered" '[ "$(grep -c . "$W/out")" -eq 7 ]'
[ $fails -eq 0 ] || { cat "$W/out"; cat "$W/err"; }
exit $fails
