#!/usr/bin/env bash
# The opencl backend's conformance, as CI runs it: every op in quick mode,
# then every layer of both oracle checkpoints. Skips (exit 77) with the
# reason when the backend is not built (no OpenCL headers) or no OpenCL
# platform or device is present.
set -u
ladder=$1 shared=$2
out=$("$ladder" conform -b opencl --quick --op topk 2>&1)
case $out in
  *"unknown backend"*) echo "skipped: the opencl backend is not built (no OpenCL headers or ICD loader found)"; exit 77 ;;
  *"cannot run"*|*"unusable"*) echo "skipped: no OpenCL platform or device on this machine ($out)"; exit 77 ;;
esac
dirs=()
for c in v4-tiny-a v4-tiny-b; do
  [ -d "$shared/oracle/$c" ] && dirs+=(-m "$shared/oracle/$c")
done
[ ${#dirs[@]} -eq 0 ] && echo "note: $shared/oracle is absent; layers skipped, ops only"
exec "$ladder" conform -b opencl --quick "${dirs[@]}"
