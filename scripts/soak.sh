#!/usr/bin/env bash
# The long form of the soak test (tests/integration/cases/soak.rs): many
# clients for minutes, random message sizes (1 B to 48 MB), random
# half-closes and disconnects by clients and backend; every byte written
# before a clean close is checked, in order and by SHA-256; at the end the
# server's fds are back to the baseline and its RSS near it. Release build.
#
# Usage: scripts/soak.sh [SECONDS] [CLIENTS] [IDLE]    (default 300 32 1000)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
secs=${1:-300}
clients=${2:-32}
idle=${3:-1000}
# The idle connections and their server-side twins need descriptors.
ulimit -n "$(( idle * 2 + 1024 > $(ulimit -Hn) ? $(ulimit -Hn) : idle * 2 + 1024 ))"
MONGOSSL_SOAK_SECS=$secs MONGOSSL_SOAK_CLIENTS=$clients MONGOSSL_SOAK_IDLE=$idle \
    cargo test --release --quiet --test integration soak_ -- --nocapture 2>&1 |
    grep -v '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T'
