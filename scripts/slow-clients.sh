#!/usr/bin/env bash
# The large form of the slow-client test (tests/integration/cases/slow.rs):
# 500 silent and 500 one-byte-per-round connections, all closed by the
# handshake timeout while a good client is served.
#
# Usage: scripts/slow-clients.sh [EACH]    (default 500)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
each=${1:-500}
ulimit -n "$(( each * 4 + 1024 > $(ulimit -Hn) ? $(ulimit -Hn) : each * 4 + 1024 ))"
MONGOSSL_SLOW_CLIENTS=$each cargo test --quiet --test integration silent_and_dripping 2>&1 |
    grep -v '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T'
