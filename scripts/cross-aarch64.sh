#!/usr/bin/env bash
# The aarch64 port, proven without an Arm machine: cross-builds Ladder with
# Debian's aarch64 toolchain (arm64 libraries through multiarch) into
# ./build-aarch64 and runs it under qemu-user:
#   - detection: the best path qemu's CPU models report (max with 256-bit
#     SVE, max with 128-bit SVE, an ARMv8.2 core without FHM, an ARMv8.0 one)
#   - the cpu backend's kernel unit checks (tests/unit/test_cpu.c, its
#     "kernels" part): every path's tiles bit for bit against scalar
#   - conformance against ref on every aarch64 path: the quick op set and
#     every layer of each ../shared/oracle case
#   - the scalar path: every layer (its ops are the x86 build's scalar code,
#     and too slow under emulation for the op set)
#   - `ladder logits` on each oracle case, byte-identical (cmp) on every
#     path to the x86 build in HOST_BUILD (default ./build)
# Prints "skipped: ..." and exits 0 when the cross tools cannot be installed.
# Options: --full (the whole op set, not --quick), --paths "a b" (paths to run).
set -euo pipefail
cd "$(dirname "$0")/.."
host_build=${HOST_BUILD:-build}
quick=--quick
paths="sve256 asimdfhm neon"
while [ $# -gt 0 ]; do
  case "$1" in
    --full) quick= ;;
    --paths) paths=$2; shift ;;
    *) echo "usage: scripts/cross-aarch64.sh [--full] [--paths \"sve256 asimdfhm neon\"]" >&2; exit 2 ;;
  esac
  shift
done

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
need=()
for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static libcjson-dev:arm64 libpcre2-dev:arm64 libmicrohttpd-dev:arm64 libedit-dev:arm64; do
  installed "$p" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  if ! { dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64; } ||
     ! $SUDO apt-get update -qq ||
     ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; then
    echo "skipped: the aarch64 cross tools (${need[*]}) could not be installed"
    exit 0
  fi
fi

cmake -S . -B build-aarch64 -G Ninja --no-warn-unused-cli -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-aarch64 --target ladder test_cpu -j"$(nproc)"
[ -x "$host_build/ladder" ] || cmake --build "$host_build" --target ladder
arm=./build-aarch64/ladder
# One thread: Debian 12's qemu-user (7.2) never returns from the guest's first
# pthread_create on current host kernels; the thread pool is portable C11
# atomics, and thread-count independence is tested on the build machine.
export LADDER_THREADS=1
qemu() { qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu "$1" "${@:2}"; }
cpu_sve256="max,sve-default-vector-length=32"
fail=0
check() { # what, then the command
  local what=$1; shift
  if "$@"; then echo "  ok    $what"; else echo "  FAIL  $what"; fail=1; fi
}

echo "detection (the path a plain run picks):"
best() { qemu "$1" "$arm" --version | sed -n 's/.*this CPU runs: \([a-z0-9]*\)).*/\1/p'; }
for c in "$cpu_sve256:sve256" "max,sve-default-vector-length=16:asimdfhm" "cortex-a76:neon" "cortex-a53:neon"; do
  got=$(best "${c%:*}")
  check "qemu -cpu ${c%:*}: $got (want ${c##*:})" test "$got" = "${c##*:}"
done

echo "kernel unit checks (every path against scalar, bit for bit):"
rc=0
out=$(qemu "$cpu_sve256" ./build-aarch64/tests/test_cpu kernels 2>&1) || rc=$?
check "test_cpu kernels: $(tail -1 <<<"$out")" test $rc -eq 0
[ $rc -eq 0 ] || grep -i fail <<<"$out" | head -5

cases=()
for d in ../shared/oracle/*/; do [ -f "$d/config.json" ] && cases+=("${d%/}"); done
if [ ${#cases[@]} -eq 0 ]; then
  echo "note: ../shared/oracle is absent; conformance runs on ops only, logits are not compared"
fi
margs=()
for d in "${cases[@]}"; do margs+=(-m "$d"); done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in "${cases[@]}"; do
  "$host_build/ladder" logits -m "$d" --prompt-ids "$d/golden/prompt_ids.i32" --forced-ids "$d/golden/forced_ids.i32" \
    -b cpu -o "$tmp/$(basename "$d").x86.f32" >/dev/null
done

# One path's checks; each path runs as its own single-threaded qemu process,
# so the paths run side by side on a machine's cores.
run_path() {
  local isa=$1 what args log
  fail=0
  echo "path $isa:"
  if [ "$isa" = scalar ]; then
    [ ${#cases[@]} -gt 0 ] || return 0
    what="conform: every layer of ${#cases[@]} oracle cases"
    args=(--layers-only)
  else
    what="conform ${quick:---full}: ops and every layer of ${#cases[@]} oracle cases"
    args=($quick)
  fi
  log="build-aarch64/conform-$isa.txt"
  if LADDER_CPU_ISA=$isa qemu "$cpu_sve256" "$arm" conform -b cpu "${args[@]}" "${margs[@]}" >"$log" 2>&1; then
    echo "  ok    $what: $(tail -1 "$log")"
  else
    echo "  FAIL  $what (log: $log)"; grep -E "FAIL|error" "$log" | head -5; fail=1
  fi
  for d in "${cases[@]}"; do
    n=$(basename "$d")
    LADDER_CPU_ISA=$isa qemu "$cpu_sve256" "$arm" logits -m "$d" --prompt-ids "$d/golden/prompt_ids.i32" \
      --forced-ids "$d/golden/forced_ids.i32" -b cpu -o "$tmp/$n.$isa.f32" >/dev/null
    check "logits of $n byte-identical to x86 ($(stat -c %s "$tmp/$n.$isa.f32") bytes)" cmp "$tmp/$n.x86.f32" "$tmp/$n.$isa.f32"
  done
  return $fail
}
pids=()
for isa in $paths scalar; do
  run_path "$isa" >"$tmp/path-$isa.out" 2>&1 &
  pids+=($!)
done
i=0
for isa in $paths scalar; do
  wait "${pids[$i]}" || fail=1
  cat "$tmp/path-$isa.out"
  i=$((i + 1))
done
[ $fail -eq 0 ] && echo "aarch64: all checks passed" || { echo "aarch64: FAILED"; exit 1; }
