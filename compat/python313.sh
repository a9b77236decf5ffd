#!/usr/bin/env bash
# A CPython 3.13 for the matrix on a machine whose apt has none (Debian 12): Colab's Python
# since 2026-08. Debian 12's archive offers no 3.13 and PyPI no interpreter; Debian 13's archive
# holds the upstream source tarball of its python3.13 package, checked here against the
# SHA-256 its Sources index gives, then built without tests or optimisation (about 10 minutes
# on 2 cores). Needs root for the build dependencies (apt-get). Run by hand, not by CI:
#
#   bash compat/python313.sh [PREFIX]     # default ~/.cache/tp3-compat/python3.13
#   python3 compat/matrix.py --python PREFIX/bin/python3.13 colab-2026-08
set -euo pipefail
PREFIX=${1:-$HOME/.cache/tp3-compat/python3.13}
MIRROR=http://deb.debian.org/debian
[ -x "$PREFIX/bin/python3.13" ] && { echo "$PREFIX/bin/python3.13 is there"; exit 0; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
curl -fsS -o Sources.xz "$MIRROR/dists/trixie/main/source/Sources.xz"
# The tarball's name and SHA-256 in the python3.13 stanza of the index.
read -r SHA256 NAME < <(xzcat Sources.xz | awk '
  /^Package: python3.13$/ {found = 1}
  found && /^Checksums-Sha256:/ {sums = 1; next}
  found && sums && /^ / && $3 ~ /orig\.tar\.xz$/ {sha = $1; file = $3}
  found && sums && !/^ / {sums = 0}
  found && /^Directory:/ {dir = $2}
  found && /^$/ {print sha, dir "/" file; exit}')
curl -fsS -o python.tar.xz "$MIRROR/$NAME"
echo "$SHA256  python.tar.xz" | sha256sum -c -
if [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq build-essential libssl-dev zlib1g-dev libffi-dev \
    libbz2-dev liblzma-dev libsqlite3-dev libreadline-dev uuid-dev libgdbm-dev libncurses-dev >/dev/null
fi
tar xf python.tar.xz
cd Python-3.13.*
./configure --prefix="$PREFIX" --with-ensurepip=install >/dev/null
make -j"$(nproc)" >/dev/null
make install >/dev/null
"$PREFIX/bin/python3.13" -c "import ssl, sqlite3, lzma, bz2, ctypes; import sys; print(sys.version)"
