#!/usr/bin/env bash
# Builds Ladder and runs the whole test suite twice: a normal optimized build
# (./build) and an AddressSanitizer + UndefinedBehaviorSanitizer build
# (./build-asan), then the aarch64 port under qemu (scripts/cross-aarch64.sh,
# ./build-aarch64). Pass --fast to skip the sanitizer and aarch64 passes.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
# ctest lists skipped tests without their reason; every test prints it as its
# first line of output ("skipped: ..."), so show those lines
skips() {
  awk '/^[0-9]+\/[0-9]+ Test: /{name=$3} /^Output:/{getline; getline; if (tolower($0) ~ /^skip/) print "  " name ": " $0}' \
    "$1/Testing/Temporary/LastTest.log" | sort -u | sed '1i skipped, and why:'
}
# how long each pass took, printed as it ends (the suite's budget is ~15 min on 2 cores)
t0=$SECONDS
took() { echo "== $1: $((SECONDS - t0)) s"; t0=$SECONDS; }
scripts/build.sh
# LADDER_NPM_ORACLE=1: the tokenizer tests against Hugging Face's own library
# (label npm-oracle) run too; they skip with a message without node/npm/network.
LADDER_NPM_ORACLE=1 ctest --test-dir build --output-on-failure -j"$jobs" -LE bench
skips build
took "build and test"
if [ "${1:-}" != "--fast" ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLADDER_SANITIZE=ON >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE 'npm-oracle|bench'
  skips build-asan
  took "sanitizer build and test"
fi
if [ "${1:-}" != "--fast" ]; then
  scripts/cross-aarch64.sh
  took "aarch64 under qemu"
fi
