#!/usr/bin/env bash
# Builds the addon for Windows (node-ipc-rs.win32-x64-gnu.node) on this Linux machine and runs
# the Windows tests (__test__/windows/*.test.cjs) in the official Windows node.exe under Wine,
# with Node's own test runner (node.exe --test). scripts/setup-windows.sh prepares the
# machine (apt-get the first time) and explains each workaround.
#
#   npm run test:windows
#
# Wine is not Windows: pipe-busy behaviour, security descriptors and timing can differ.
# A release still needs one run on a real Windows machine.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/@achrinza/node-ipc ] || { echo "run npm install first (the tests use the dev dependencies)" >&2; exit 1; }
DIR=${NODE_IPC_RS_WINDOWS_CACHE:-$HOME/.cache/node-ipc-rs/windows}
bash scripts/setup-windows.sh "$DIR"
# shellcheck disable=SC1091
. "$DIR/env.sh"

TARGET=x86_64-pc-windows-gnu
echo "== build ($TARGET)"
timeout 1800 "$CARGO" build --locked --release --target "$TARGET" --target-dir target/windows \
  -Zbuild-std=std,panic_unwind --config "target.$TARGET.linker=\"x86_64-w64-mingw32-gcc\""
ADDON=node-ipc-rs.win32-x64-gnu.node
cp "target/windows/$TARGET/release/node_ipc_rs.dll" "$ADDON"
# A PE file: "MZ", then at the offset in 0x3c "PE\0\0" and machine 0x8664 (x86-64).
node -e '
  const b = require("fs").readFileSync(process.argv[1]); const pe = b.readUInt32LE(0x3c)
  if (b.toString("latin1", 0, 2) !== "MZ" || b.readUInt32LE(pe) !== 0x4550 || b.readUInt16LE(pe + 4) !== 0x8664) process.exit(1)' "$ADDON" \
  || { echo "$ADDON is not an x86-64 Windows library" >&2; exit 1; }
# N-API is found in the host process at run time (napi's dyn-symbols): the DLL must import
# nothing from node.exe by name, or it would not load in hosts such as Electron.
if x86_64-w64-mingw32-objdump -p "$ADDON" | grep -i "DLL Name: node"; then
  echo "$ADDON imports from node.exe by name" >&2
  exit 1
fi

echo "== the core's unit tests, built for Windows, under Wine"
# Named pipes and the Windows error tables are tested here; output to a file, as below.
timeout 1800 "$CARGO" test --no-run --locked --lib --target "$TARGET" --target-dir target/windows \
  -Zbuild-std=std,panic_unwind --config "target.$TARGET.linker=\"x86_64-w64-mingw32-gcc\"" 2>&1 | tee target/windows/unit-build.log
unit=$(grep -o "target/windows/$TARGET/debug/deps/node_ipc_rs-[0-9a-f]*\.exe" target/windows/unit-build.log | tail -1)
[ -n "$unit" ] || { echo "no unit test executable was built" >&2; exit 1; }
unit_status=0
timeout -k 10 600 "$WINE" "$unit" > target/windows/unit.log 2>&1 || unit_status=$?
cat target/windows/unit.log
[ "$unit_status" -eq 0 ] || { echo "the core's unit tests failed under Wine ($unit_status)" >&2; exit 1; }

echo "== the tests in node.exe under Wine"
# Output to a file (never a Unix pipe, see setup-windows.sh), shown afterwards; the tests load
# this build through napi's NAPI_RS_NATIVE_LIBRARY_PATH (binding.js), since node.exe would
# look for the MSVC package.
out=$(mktemp)
# Whatever happens, no Windows process outlives the run (a node.exe left holding the
# examples' ports would break the next one).
trap 'timeout 60 wineserver -k >/dev/null 2>&1 || true; rm -f "$out"' EXIT
status=0
NAPI_RS_NATIVE_LIBRARY_PATH="Z:$(pwd)/$ADDON" \
  timeout -k 10 1200 "$WINE" "$NODE_EXE" --test --test-concurrency=1 --test-reporter=spec \
  __test__/windows/ > "$out" 2>&1 || status=$?
cat "$out"
exit "$status"
