#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a bounded time, starting from
# the corpus kept in the repo (fuzz/corpus/TARGET, never written to: new
# inputs go to a scratch folder). A crash or hang fails the script and its
# input is copied to fuzz/artifacts/TARGET/ for a regression seed.
#
# cargo-fuzz comes from crates.io (cargo install, pinned). It builds with
# -Zsanitizer=address; the machine's toolchain is stable, so the build
# uses RUSTC_BOOTSTRAP=1 to allow that flag (cargo-fuzz's usual nightly
# is not needed).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60, all)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CARGO_FUZZ_VERSION=0.13.2
secs=${1:-60}
shift || true
cd "$ROOT/fuzz"

if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    echo "fuzz: cargo install cargo-fuzz@$CARGO_FUZZ_VERSION" >&2
    cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" >&2
fi
export RUSTC_BOOTSTRAP=1

targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)

echo "fuzz: building ${targets[*]}" >&2
cargo fuzz build -O >&2

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
passed=0 failed=0
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "$scratch/artifacts-$t" "corpus/$t"
    # -max_len bounds one input; -timeout turns a hang into a finding.
    if cargo fuzz run -O "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=20 -rss_limit_mb=4096 \
        -artifact_prefix="$scratch/artifacts-$t/" -print_final_stats=1 \
        >"$scratch/$t.log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$' || echo '?')
        echo "PASS: $t ($runs runs in ${secs} s)"
        passed=$((passed + 1))
    else
        echo "FAIL: $t"
        grep -E 'panicked|ERROR|SUMMARY' "$scratch/$t.log" | head -5 || true
        mkdir -p "artifacts/$t"
        cp "$scratch/artifacts-$t/"* "artifacts/$t/" 2>/dev/null || true
        echo "  input(s) saved in fuzz/artifacts/$t/; log tail:"
        tail -n 20 "$scratch/$t.log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
