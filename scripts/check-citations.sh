#!/usr/bin/env bash
# The repository stands on its own: source, tests and docs cite ARCHITECTURE.md, the
# README, or describe v9's behaviour in words, never a design document outside it.
# Fails listing every citation of one ("SPEC", "§", "Part A/B").
set -euo pipefail
cd "$(dirname "$0")/.."
found=$(git ls-files -- src lib entities services dao node-ipc.js __test__ bench scripts demo fuzz/fuzz_targets index.js index.mjs index.d.ts index.d.mts \
  '*.md' .ci/run package.json Cargo.toml \
  | grep -v '^scripts/check-citations.sh$' \
  | xargs grep -nE '\bSPEC\b|§|\bPart [AB]\b' -- || true)
if [ -n "$found" ]; then
  echo "citations of a document outside the repository:" >&2
  echo "$found" >&2
  exit 1
fi
echo "no external citations"
