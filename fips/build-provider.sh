#!/usr/bin/env bash
# Builds OpenSSL 3.0.8's FIPS provider module once and caches it, with its
# fipsmodule.cnf and an OpenSSL config that activates it, outside the repo.
#
# Usage:  dir=$(fips/build-provider.sh | tail -1)
#         OPENSSL_MODULES="$dir" mongossl --sslFIPSMode --sslFIPSConfig "$dir/openssl-fips.cnf" ...
#
# Environment: MONGOSSL_CACHE (default ~/.cache/mongossl), CARGO_HOME (as cargo uses it).
# The cache directory's path is the last line of stdout; progress goes to stderr.
# Exit codes: 0 ok, 1 build or check failed, 3 building is impossible here
# (no compiler/make/perl/cargo and they cannot be installed).
#
# Why 3.0.8: it is a release whose FIPS provider went through FIPS 140
# validation, and Debian 12's own OpenSSL (3.0.x) ships no FIPS provider at
# all. The Rust registry package openssl-src 300.0.13+3.0.8 carries exactly that
# source, and cargo (which every mongossl developer has) can fetch it, so no
# other download path is needed. See fips/README.md for what this does and
# does not give you compared with a vendor-validated provider.
set -euo pipefail

readonly OPENSSL_SRC_CRATE="openssl-src"
readonly OPENSSL_SRC_VERSION="300.0.13+3.0.8"
readonly OPENSSL_RELEASE="3.0.8"
readonly CACHE_ROOT="${MONGOSSL_CACHE:-$HOME/.cache/mongossl}"
readonly CACHE_DIR="$CACHE_ROOT/fips-$OPENSSL_RELEASE"
readonly WORK_DIR="$CACHE_ROOT/fips-$OPENSSL_RELEASE.work"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly TEMPLATE="$SCRIPT_DIR/openssl-fips.cnf.in"

say() { printf 'build-provider: %s\n' "$*" >&2; }

# Exit code 3 means "this machine cannot build it": callers (test harnesses)
# use it to skip rather than fail.
die() {
    local code=$1
    shift
    {
        printf '\n'
        printf '************************************************************\n'
        printf '*** build-provider: %s\n' "$@"
        printf '************************************************************\n'
    } >&2
    exit "$code"
}

cached() {
    [[ -s "$CACHE_DIR/fips.so" && -s "$CACHE_DIR/fipsmodule.cnf" && -s "$CACHE_DIR/openssl-fips.cnf" ]]
}

# Proves the cached provider works with the system openssl tool: the fips
# provider is active at the expected version, SHA-256 is available and MD5
# (not FIPS-approved) is refused.
verify() {
    local listing
    if ! listing=$(OPENSSL_CONF="$CACHE_DIR/openssl-fips.cnf" OPENSSL_MODULES="$CACHE_DIR" \
        openssl list -providers -verbose 2>&1); then
        say "$listing"
        return 1
    fi
    # The listing has one block per provider; look inside the fips block only.
    local fips_block
    fips_block=$(printf '%s\n' "$listing" | awk '/^  [^ ]/ { in_fips = ($1 == "fips") } in_fips')
    if ! grep -q 'status: active' <<<"$fips_block"; then
        say "fips provider is not active:"
        say "$listing"
        return 1
    fi
    if ! grep -q "version: $OPENSSL_RELEASE" <<<"$fips_block"; then
        say "fips provider is not version $OPENSSL_RELEASE:"
        say "$listing"
        return 1
    fi
    if ! printf 'x' | OPENSSL_CONF="$CACHE_DIR/openssl-fips.cnf" OPENSSL_MODULES="$CACHE_DIR" \
        openssl dgst -sha256 >/dev/null 2>&1; then
        say "SHA-256 is not available through the fips provider"
        return 1
    fi
    if printf 'x' | OPENSSL_CONF="$CACHE_DIR/openssl-fips.cnf" OPENSSL_MODULES="$CACHE_DIR" \
        openssl dgst -md5 -propquery fips=yes >/dev/null 2>&1; then
        say "MD5 is still available with fips=yes: the provider is not enforcing FIPS"
        return 1
    fi
    say "verified: fips provider $OPENSSL_RELEASE active, SHA-256 works, MD5 refused"
}

for arg in "$@"; do
    case "$arg" in
    -h | --help)
        sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 0
        ;;
    *) die 1 "unknown argument: $arg (try --help)" ;;
    esac
done

# Fast path: a previous run finished (the files only appear together, see the
# rename below). The check costs a few tens of milliseconds and catches a
# cache that was edited, or a system openssl that no longer accepts it.
if cached && verify; then
    printf '%s\n' "$CACHE_DIR"
    exit 0
fi

mkdir -p "$CACHE_ROOT"

# Parallel test runs may all call this script; one builds, the others wait
# and then take the fast path.
exec 9>"$CACHE_ROOT/fips-$OPENSSL_RELEASE.lock"
if command -v flock >/dev/null 2>&1; then
    say "taking the build lock $CACHE_ROOT/fips-$OPENSSL_RELEASE.lock"
    flock 9
fi
if cached && verify; then
    printf '%s\n' "$CACHE_DIR"
    exit 0
fi
cached && say "the cached provider in $CACHE_DIR failed its check; building it again"

missing_tools() {
    local tool missing=()
    for tool in cc make perl; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    printf '%s\n' "${missing[@]}"
}

# Installs the compiler toolchain only if something is absent, and only with
# apt-get, because that is the one package manager we can name packages for.
ensure_tools() {
    local missing
    missing=$(missing_tools)
    if [[ -n "$missing" ]]; then
        say "missing tools: ${missing//$'\n'/ } - trying apt-get"
        local sudo=()
        if [[ $(id -u) != 0 ]]; then
            if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
                sudo=(sudo -n)
            fi
        fi
        if command -v apt-get >/dev/null 2>&1 && { [[ $(id -u) == 0 ]] || [[ ${#sudo[@]} -gt 0 ]]; }; then
            # A fresh container has empty package lists; update only when the
            # first attempt fails so an already-primed machine stays fast.
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y build-essential perl make >&2 ||
                { "${sudo[@]}" apt-get update >&2 &&
                    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y build-essential perl make >&2; } ||
                true
        fi
        missing=$(missing_tools)
        if [[ -n "$missing" ]]; then
            die 3 "cannot build the FIPS provider: missing ${missing//$'\n'/ }" \
                "and they could not be installed (need apt-get and root or passwordless sudo)." \
                "Install a C compiler, make and perl, or use your distribution's FIPS provider (fips/README.md)."
        fi
    fi
    command -v cargo >/dev/null 2>&1 ||
        die 3 "cannot build the FIPS provider: cargo is not installed (it fetches the OpenSSL $OPENSSL_RELEASE source)."
    command -v openssl >/dev/null 2>&1 ||
        die 3 "cannot build the FIPS provider: the openssl command-line tool is not installed (it runs fipsinstall)."
}

ensure_tools

# Everything happens in a work directory; the cache directory appears only
# when complete, so an interrupted run never leaves a half-made cache behind.
rm -rf "$WORK_DIR"
mkdir -p "$WORK_DIR/fetch/src" "$WORK_DIR/build" "$WORK_DIR/stage"

# A throwaway crate whose only purpose is to make cargo download the pinned
# openssl-src; the empty [workspace] keeps it out of any enclosing workspace.
cat >"$WORK_DIR/fetch/Cargo.toml" <<EOF
[package]
name = "mongossl-fips-source"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$OPENSSL_SRC_CRATE = "=${OPENSSL_SRC_VERSION%%+*}"

[workspace]
EOF
: >"$WORK_DIR/fetch/src/lib.rs"

say "fetching $OPENSSL_SRC_CRATE $OPENSSL_SRC_VERSION with cargo"
(cd "$WORK_DIR/fetch" && cargo fetch --quiet) >&2 ||
    die 1 "cargo fetch of $OPENSSL_SRC_CRATE $OPENSSL_SRC_VERSION failed (is the crate registry reachable?)"

# Ask cargo where it unpacked the crate instead of guessing CARGO_HOME's layout.
manifest=$(cd "$WORK_DIR/fetch" && cargo metadata --format-version 1 --quiet 2>/dev/null |
    grep -o "\"manifest_path\":\"[^\"]*/$OPENSSL_SRC_CRATE-$OPENSSL_SRC_VERSION/Cargo.toml\"" |
    head -1 | sed 's/^"manifest_path":"//; s/"$//') || true
[[ -n "$manifest" ]] || die 1 "cargo fetched $OPENSSL_SRC_CRATE but its source directory could not be found"
src="$(dirname "$manifest")/openssl"
[[ -x "$src/Configure" || -f "$src/Configure" ]] || die 1 "no OpenSSL source in $src"
# The crate version could in principle be republished with other content;
# the release number inside the source is what matters.
grep -q '^MAJOR=3$' "$src/VERSION.dat" && grep -q '^MINOR=0$' "$src/VERSION.dat" &&
    grep -q '^PATCH=8$' "$src/VERSION.dat" ||
    die 1 "$src is not OpenSSL $OPENSSL_RELEASE (see its VERSION.dat)"
say "OpenSSL $OPENSSL_RELEASE source: $src"

jobs=$(nproc 2>/dev/null || echo 2)
log="$WORK_DIR/build.log"
say "building providers/fips.so out of tree in $WORK_DIR/build (about 1-2 minutes; log: $log)"
# Out of tree, because the cargo registry copy is shared and must stay
# pristine. no-tests skips the test programs; nothing else is switched off so
# the module is built the way its security policy describes (enable-fips).
if ! (cd "$WORK_DIR/build" &&
    perl "$src/Configure" enable-fips no-tests &&
    make -j"$jobs" build_generated &&
    make -j"$jobs" providers/fips.so) >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die 1 "building the FIPS provider failed; the full log is $log"
fi

cp "$WORK_DIR/build/providers/fips.so" "$WORK_DIR/stage/fips.so"
# fipsinstall runs the module's self-tests and records the module's MAC; the
# module later refuses to start if fips.so no longer matches that MAC.
say "running openssl fipsinstall"
openssl fipsinstall -out "$WORK_DIR/stage/fipsmodule.cnf" -module "$WORK_DIR/stage/fips.so" >&2 ||
    die 1 "openssl fipsinstall failed: the module's self-tests did not pass"

[[ -f "$TEMPLATE" ]] || die 1 "template $TEMPLATE is missing"
# '|' as the sed delimiter because the path contains '/'.
sed "s|@FIPSMODULE_CNF@|$CACHE_DIR/fipsmodule.cnf|g" "$TEMPLATE" >"$WORK_DIR/stage/openssl-fips.cnf"

rm -rf "$CACHE_DIR"
mv "$WORK_DIR/stage" "$CACHE_DIR"
if ! verify; then
    rm -rf "$CACHE_DIR"
    die 1 "the freshly built FIPS provider failed its check; nothing was cached"
fi
rm -rf "$WORK_DIR"
say "done"
printf '%s\n' "$CACHE_DIR"
