#!/usr/bin/env bash
# Installs the Debian packages named as arguments that are not installed yet (as root, or
# through sudo), bounded in time. Used by the cross-build scripts (linux-arm64, Windows).
#
#   bash scripts/apt-need.sh package...
set -euo pipefail
need=()
for p in "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
[ ${#need[@]} -gt 0 ] || exit 0
echo "== apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo --preserve-env=DEBIAN_FRONTEND)
timeout 300 "${as_root[@]}" apt-get update -qq
timeout 900 "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
