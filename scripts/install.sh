#!/usr/bin/env bash
# Installs mongossl as a systemd service, idempotently:
#   the release binary      -> $PREFIX/usr/local/bin/mongossl
#   unit and socket files   -> $PREFIX/etc/systemd/system/
#   an example config       -> $PREFIX/etc/mongossl/mongossl.conf (kept if present)
#   the key password file   -> $PREFIX/etc/mongossl/key-password (empty, 0600, kept if present)
#   the docs                -> $PREFIX/usr/local/share/doc/mongossl/
# and creates the system user `mongossl`. Then, unless --no-systemctl,
# reloads systemd (it does not enable or start the service: put your PEM
# file in place first; see docs/operations.md).
#
#   scripts/install.sh [--prefix DIR] [--no-systemctl] [--binary PATH]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX=""
SYSTEMCTL=1
BINARY=""
while (($#)); do
    case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --no-systemctl) SYSTEMCTL=0; shift ;;
    --binary) BINARY="$2"; shift 2 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [[ -z "$BINARY" ]]; then
    (cd "$ROOT" && cargo build --release --quiet)
    BINARY="$ROOT/target/release/mongossl"
fi

install -d -m 0755 "$PREFIX/usr/local/bin" "$PREFIX/etc/systemd/system" \
    "$PREFIX/usr/local/share/doc/mongossl"
install -d -m 0750 "$PREFIX/etc/mongossl"
install -m 0755 "$BINARY" "$PREFIX/usr/local/bin/mongossl"
install -m 0644 "$ROOT/scripts/systemd/mongossl.service" "$ROOT/scripts/systemd/mongossl.socket" \
    "$PREFIX/etc/systemd/system/"
install -m 0644 "$ROOT"/docs/*.md "$PREFIX/usr/local/share/doc/mongossl/"
[[ -e "$PREFIX/etc/mongossl/mongossl.conf" ]] ||
    install -m 0640 "$ROOT/scripts/systemd/mongossl.conf" "$PREFIX/etc/mongossl/mongossl.conf"
if [[ ! -e "$PREFIX/etc/mongossl/key-password" ]]; then
    install -m 0600 /dev/null "$PREFIX/etc/mongossl/key-password"
fi

if [[ -z "$PREFIX" ]]; then
    if ! getent passwd mongossl >/dev/null; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mongossl
    fi
    chgrp mongossl /etc/mongossl /etc/mongossl/mongossl.conf
fi
if ((SYSTEMCTL)) && [[ -z "$PREFIX" ]] && [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
fi
echo "installed mongossl under ${PREFIX:-/}; next: docs/operations.md"
