#!/usr/bin/env bash
# Integration test of mongossl with real clients: mongosh, PyMongo and the
# Node.js driver, against a real mongod ($MONGOD, or mongod on PATH) or else
# SecantusDB as the backend; and `mongossl check` against that backend.
#
#   scripts/integration.sh            (env: MONGOD, MONGOSSL_BIN, MONGOSSL_DEPS,
#                                      SUITES="pymongo mongosh node check modes identity metrics audit", CASES=substring
#                                      to run a subset, KEEP_WORK=1 keeps the logs)
#
# It installs the client tools (scripts/install-deps.sh), builds mongossl if
# needed, makes a throwaway PKI, starts one backend and eight mongossl instances
# in front of it, and runs the cases in scripts/integration/. Each case prints
# `PASS name` or `FAIL name: reason`; the last line is `N passed, M failed`.
# Exit status is non-zero on any failure. Every process started here is stopped
# by PID on exit.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE="$ROOT/scripts/integration"
# shellcheck source=lib/servers.sh
source "$ROOT/scripts/lib/servers.sh"
# shellcheck source=lib/pki.sh
source "$ROOT/scripts/lib/pki.sh"

say() { echo "integration: $*" >&2; }
die() { say "$*"; echo "0 passed, 1 failed"; exit 1; }

T0=$SECONDS
DEPS=$("$ROOT/scripts/install-deps.sh" | tail -n 1) || die "scripts/install-deps.sh failed"
export DEPS
PY="$DEPS/venv/bin/python"
MONGOSH="$DEPS/node/node_modules/.bin/mongosh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mongossl-it.XXXXXX")
FAILED_ANY=1
cleanup() {
    servers_stop_all
    if [[ $FAILED_ANY -eq 0 && -z "${KEEP_WORK:-}" ]]; then
        rm -rf "$WORK"
    else
        say "logs kept in $WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

find_mongossl "$ROOT" || die "no mongossl binary"
say "mongossl: $MONGOSSL"

make_pki "$WORK/pki" || die "PKI generation failed"
P="$WORK/pki"

start_backend "$WORK/backend" || die "backend did not start"
say "backend: $BACKEND_KIND on 127.0.0.1:$BACKEND_PORT (pid $BACKEND_PID)"
UP="127.0.0.1:$BACKEND_PORT"

# name → mongossl options. Each instance takes a free port (--port 0).
declare -A INST_PORT INST_LOG
start_instance() {
    local name=$1
    shift
    start_mongossl "$name" "$WORK" "$UP" 0 --sslOnNormalPorts "$@" || die "mongossl '$name' did not start"
    INST_PORT[$name]=$MONGOSSL_PORT
    INST_LOG[$name]=$MONGOSSL_LOG
    say "mongossl '$name' on port $MONGOSSL_PORT (pid $MONGOSSL_PID): $*"
}
start_instance ssl --sslPEMKeyFile "$P/server.pem"
start_instance ca --sslPEMKeyFile "$P/server.pem" --sslCAFile "$P/ca.pem"
start_instance crl --sslPEMKeyFile "$P/server.pem" --sslCAFile "$P/ca.pem" --sslCRLFile "$P/crl.pem"
start_instance weak --sslPEMKeyFile "$P/server.pem" --sslCAFile "$P/ca.pem" --sslWeakCertificateValidation
start_instance encsrv --sslPEMKeyFile "$P/server-enc.pem" --sslPEMKeyPassword "$PKI_SERVER_PASSWORD" \
    --sslCAFile "$P/ca.pem"
# SSL modes on one port (no --sslOnNormalPorts), and client tunnels.
start_raw() { # NAME UPSTREAM OPTIONS...
    local name=$1 upstream=$2
    shift 2
    start_mongossl "$name" "$WORK" "$upstream" 0 "$@" || die "mongossl '$name' did not start"
    INST_PORT[$name]=$MONGOSSL_PORT
    INST_LOG[$name]=$MONGOSSL_LOG
    say "mongossl '$name' on port $MONGOSSL_PORT (pid $MONGOSSL_PID): $*"
}
start_raw mode-disabled "$UP" --sslMode disabled
start_raw mode-allow "$UP" --sslMode allowSSL --sslPEMKeyFile "$P/server.pem"
start_raw mode-prefer "$UP" --sslMode preferSSL --sslPEMKeyFile "$P/server.pem"
start_raw mode-require "$UP" --sslMode requireSSL --sslPEMKeyFile "$P/server.pem"
# Plaintext refusals are logged once per client address per 10 s: mongosh gets its own.
start_raw mode-require-mongosh "$UP" --sslMode requireSSL --sslPEMKeyFile "$P/server.pem"
start_instance elsewhere --sslPEMKeyFile "$P/elsewhere-server.pem"
start_raw tunnel "localhost:${INST_PORT[ca]}" --client --ssl \
    --sslPEMKeyFile "$P/client.pem" --sslCAFile "$P/ca.pem"
start_raw tunnel-wrong-host "127.0.0.1:${INST_PORT[elsewhere]}" --client --ssl --sslCAFile "$P/ca.pem"
start_raw tunnel-untrusted "localhost:${INST_PORT[ssl]}" --client --ssl --sslCAFile "$P/ca2.pem"
# One SSL-only instance per suite for the plaintext-refusal case: mongossl logs
# at most one plaintext refusal per client address every 10 s, so suites run
# back to back (e.g. with CASES=plaintext) must not share one.
for suite in pymongo mongosh node; do
    start_instance "plain-$suite" --sslPEMKeyFile "$P/server.pem"
done

# mongosh gets a private home with telemetry off; --quiet also skips its
# update check, so it never reaches for the network.
MONGOSH_HOME="$WORK/mongosh-home"
mkdir -p "$MONGOSH_HOME"
HOME="$MONGOSH_HOME" timeout 60 "$MONGOSH" --nodb --quiet --eval 'disableTelemetry()' >/dev/null 2>&1 ||
    say "warning: could not disable mongosh telemetry in $MONGOSH_HOME"

CONFIG="$WORK/config.json"
{
    echo "{"
    echo "  \"pki\": \"$P\","
    echo "  \"server_password\": \"$PKI_SERVER_PASSWORD\","
    echo "  \"client_password\": \"$PKI_CLIENT_PASSWORD\","
    echo "  \"mongosh\": \"$MONGOSH\","
    echo "  \"mongosh_home\": \"$MONGOSH_HOME\","
    echo "  \"backend\": \"$BACKEND_KIND\","
    echo "  \"backend_port\": $BACKEND_PORT,"
    echo "  \"mongossl\": \"$MONGOSSL\","
    echo "  \"instances\": {"
    sep=""
    for name in "${!INST_PORT[@]}"; do
        printf '%s    "%s": {"port": %s, "log": "%s"}' "$sep" "$name" "${INST_PORT[$name]}" "${INST_LOG[$name]}"
        sep=$',\n'
    done
    printf '\n  }\n}\n'
} >"$CONFIG"

RESULTS="$WORK/results.txt"
: >"$RESULTS"
run_suite() { # LABEL TIMEOUT COMMAND...
    local label=$1 limit=$2 rc
    shift 2
    say "running $label"
    (cd "$HERE" && timeout "$limit" "$@" "$CONFIG") 2>"$WORK/$label.stderr" | tee -a "$RESULTS"
    rc=${PIPESTATUS[0]}
    if ((rc != 0)) && ! grep -q "^FAIL $label" "$RESULTS"; then
        # The suite died without reporting a failure of its own.
        echo "FAIL $label: suite exited with status $rc (see $WORK/$label.stderr)" | tee -a "$RESULTS"
    fi
}
for suite in ${SUITES:-pymongo mongosh node check modes identity metrics audit}; do
    case $suite in
    pymongo) run_suite pymongo 300 "$PY" cases_pymongo.py ;;
    mongosh) run_suite mongosh 300 "$PY" cases_mongosh.py ;;
    node) run_suite node 300 env NODE_PATH="$DEPS/node/node_modules" node cases_node.js ;;
    check) run_suite check 300 "$PY" cases_check.py ;;
    modes) run_suite modes 300 "$PY" cases_modes.py ;;
    identity) run_suite identity 300 "$PY" cases_identity.py ;;
    metrics) run_suite metrics 300 "$PY" cases_metrics.py ;;
    audit) run_suite audit 300 "$PY" cases_audit.py ;;
    *) die "unknown suite $suite" ;;
    esac
done

passed=$(grep -c '^PASS ' "$RESULTS")
failed=$(grep -c '^FAIL ' "$RESULTS")
# Every process must still be alive: a crash during the cases is a failure.
for pid in "${SERVERS_PIDS[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "FAIL process $pid exited during the run (see logs in $WORK)"
        failed=$((failed + 1))
    fi
done
say "backend: $BACKEND_KIND; took $((SECONDS - T0)) s"
((failed == 0)) && FAILED_ANY=0
echo "$passed passed, $failed failed"
((failed == 0))
