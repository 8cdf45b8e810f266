#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
# installs what it needs (idempotently), builds the real FIPS provider,
# checks formatting and lints, runs `cargo test` (unit + integration tests
# with real TLS, certificates made at test time, FIPS against a real
# provider), then the integration script with real MongoDB clients
# (mongosh, PyMongo, the Node driver) and a real MongoDB-speaking server,
# a TLS scan with sslyze (scripts/tls-scan.sh), and the fuzz targets for a
# few seconds each (scripts/fuzz.sh).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '\n=== %s\n' "$*" >&2; }

# System packages for building openssl-sys and the FIPS provider.
need=()
command -v cc >/dev/null || need+=(build-essential)
command -v make >/dev/null || need+=(make)
command -v perl >/dev/null || need+=(perl)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v openssl >/dev/null || need+=(openssl)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
if ((${#need[@]})); then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "cargo is required (rustup)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >/dev/null 2>&1 || true

say "FIPS provider (OpenSSL 3.0.8, built once and cached)"
MONGOSSL_FIPS_DIR="$(bash fips/build-provider.sh | tail -1)"
export MONGOSSL_FIPS_DIR
# CI must run the FIPS tests for real: a skip is a failure here.
export MONGOSSL_REQUIRE_FIPS=1

say "cargo fmt --check"
cargo fmt --check

say "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

say "cargo test"
cargo test --quiet 2>&1

say "1,000 slow clients against the handshake timeout"
bash scripts/slow-clients.sh 500

say "release build"
cargo build --release --quiet

say "install script into a staging prefix"
stage="$(mktemp -d)"
bash scripts/install.sh --prefix "$stage" --no-systemctl --binary "$ROOT/target/release/mongossl" >/dev/null
for f in usr/local/bin/mongossl etc/systemd/system/mongossl.service etc/systemd/system/mongossl.socket \
    etc/mongossl/mongossl.conf etc/mongossl/key-password; do
    [[ -e "$stage/$f" ]] || { echo "install.sh did not install $f" >&2; exit 1; }
done
[[ "$(stat -c %a "$stage/etc/mongossl/key-password")" == 600 ]] || { echo "key-password is not 0600" >&2; exit 1; }
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify "$stage/etc/systemd/system/mongossl.service" 2>&1 | grep -v 'Failed to resolve\|not executable\|No such file' || true
fi
rm -rf "$stage"

say "TLS scan of the running server (sslyze)"
MONGOSSL_BIN="$ROOT/target/release/mongossl" bash scripts/tls-scan.sh

say "fuzz targets, ${MONGOSSL_FUZZ_SECONDS:-20} s each (cargo-fuzz)"
cargo fmt --check --manifest-path fuzz/Cargo.toml
bash scripts/fuzz.sh "${MONGOSSL_FUZZ_SECONDS:-20}"
RUSTC_BOOTSTRAP=1 cargo clippy --quiet --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

say "integration with real MongoDB clients and server"
MONGOSSL_BIN="$ROOT/target/release/mongossl" bash scripts/integration.sh

say "vendored OpenSSL 3.5 LTS build (--features vendored): the integration tests against it"
CARGO_TARGET_DIR="$ROOT/target/vendored" cargo build --release --features vendored --quiet
MONGOSSL_TEST_BIN="$ROOT/target/vendored/release/mongossl" cargo test --quiet --test integration 2>&1
