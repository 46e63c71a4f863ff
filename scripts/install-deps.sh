#!/usr/bin/env bash
# Installs the Debian packages Ladder needs to build and test. Safe to re-run;
# does nothing when everything is already present.
#   required: compiler, CMake, Ninja, pkg-config, cJSON, PCRE2, libmicrohttpd (the server), libedit (chat)
#   optional: node + npm (tokenizer oracle tests; they skip without them), curl (the
#             server's HTTP test),
#             OpenCL ICD loader, headers and PoCL (the opencl backend; built only when found)
set -euo pipefail

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
updated=0
apt_install() {
  [ $updated -eq 1 ] || { $SUDO apt-get update -qq; updated=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

missing=()
for p in build-essential cmake ninja-build pkg-config libcjson-dev libpcre2-dev libmicrohttpd-dev libedit-dev; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "installing (optional): nodejs npm" >&2
  apt_install nodejs npm || echo "note: node/npm unavailable; tokenizer oracle tests will be skipped" >&2
fi
if ! command -v curl >/dev/null; then
  echo "installing (optional): curl" >&2
  apt_install curl || echo "note: curl unavailable; the server's HTTP test will be skipped" >&2
fi
if ! installed ocl-icd-opencl-dev || ! installed opencl-headers || ! installed pocl-opencl-icd; then
  echo "installing (optional): pocl-opencl-icd ocl-icd-opencl-dev opencl-headers" >&2
  apt_install pocl-opencl-icd ocl-icd-opencl-dev opencl-headers ||
    echo "note: OpenCL packages unavailable; the opencl backend will not be built" >&2
fi
exit 0
