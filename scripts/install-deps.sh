#!/usr/bin/env bash
# Installs the Debian packages Ladder needs to build and test. Safe to re-run;
# does nothing when everything is already present.
set -euo pipefail

pkgs=(build-essential cmake ninja-build pkg-config clang libcjson-dev libpcre2-dev
      python3-numpy nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
