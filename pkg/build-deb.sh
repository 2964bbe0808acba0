#!/bin/bash
# Build vigil_VERSION_amd64.deb from a staged tree with dpkg-deb: the two
# binaries in /usr/sbin, /etc/vigil/vigil.toml (a conffile) and an empty
# /etc/vigil/units, the docs, and a postinst that re-executes a running
# vigil on upgrade. It installs beside systemd and does not take
# /sbin/init: boot it with init=/usr/sbin/vigil.
#   pkg/build-deb.sh [--bin DIR] [--out DIR]
#     --bin DIR  where vigil and vigilctl are (default: the release build)
#     --out DIR  where the .deb goes (default: target/deb)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$REPO/target/x86_64-unknown-linux-gnu/release
OUT=$REPO/target/deb
while [ $# -gt 0 ]; do
  case "$1" in
  --bin) BIN=$2; shift 2 ;;
  --out) OUT=$2; shift 2 ;;
  *) echo "pkg/build-deb.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ "$BIN" = "$REPO/target/x86_64-unknown-linux-gnu/release" ]; then
  (cd "$REPO" && cargo build --release >&2)
fi
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/Cargo.toml" | head -n1)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
chmod 0755 "$STAGE"
install -D -m 0755 "$BIN/vigil" "$STAGE/usr/sbin/vigil"
install -D -m 0755 "$BIN/vigilctl" "$STAGE/usr/sbin/vigilctl"
strip "$STAGE/usr/sbin/vigil" "$STAGE/usr/sbin/vigilctl" 2>/dev/null || true
install -D -m 0644 "$REPO/pkg/vigil.toml" "$STAGE/etc/vigil/vigil.toml"
install -d -m 0755 "$STAGE/etc/vigil/units"
DOC=$STAGE/usr/share/doc/vigil
install -d "$DOC"
install -m 0644 "$REPO/README.md" "$REPO"/docs/*.md "$DOC/"
printf 'vigil\n\nLicense: MIT\n' >"$DOC/copyright"
install -d "$STAGE/DEBIAN"
install -m 0755 "$REPO/pkg/debian/postinst" "$STAGE/DEBIAN/postinst"
echo /etc/vigil/vigil.toml >"$STAGE/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
cat >"$STAGE/DEBIAN/control" <<CONTROL
Package: vigil
Version: $VERSION
Architecture: amd64
Maintainer: vigil developers <vigil@localhost>
Installed-Size: $SIZE
Section: admin
Priority: optional
Description: init system (PID 1) and service manager
 vigil boots a Linux machine as PID 1 (mounts, udev, fstab, swap, gettys),
 supervises services declared in TOML units, captures their output, and
 can re-execute itself in place on upgrade. It installs beside systemd and
 does not take /sbin/init: boot it with init=/usr/sbin/vigil.
CONTROL
mkdir -p "$OUT"
DEB=$OUT/vigil_${VERSION}_amd64.deb
dpkg-deb --build --root-owner-group "$STAGE" "$DEB" >&2
echo "$DEB"
