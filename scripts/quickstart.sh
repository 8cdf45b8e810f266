#!/usr/bin/env bash
# Quickstart: mongossl in front of a local backend, with a throwaway CA.
#
#   scripts/quickstart.sh [--no-wait] [--dir DIR]
#
# 1. builds mongossl (cargo build --release; on Debian, installs pkg-config and
#    libssl-dev through apt when missing),
# 2. installs mongosh, PyMongo and the test backend (scripts/install-deps.sh),
# 3. makes a CA, a server and a client certificate under DIR
#    (default: $QUICKSTART_DIR, else ~/mongossl-quickstart; recreated each run),
# 4. starts the backend on a free loopback port (a real mongod when $MONGOD
#    names one or mongod is on PATH, else SecantusDB, a test stand-in),
# 5. starts mongossl on port 27017 (or the next free one) requiring client
#    certificates from that CA, and connects through it with mongosh --tls,
# 6. prints the commands to connect yourself, and keeps running until Ctrl-C.
#    With --no-wait (or QUICKSTART_NO_WAIT=1) it stops right after step 5.
# Everything it started is stopped (by PID) when it exits.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/servers.sh
source "$ROOT/scripts/lib/servers.sh"
# shellcheck source=lib/pki.sh
source "$ROOT/scripts/lib/pki.sh"

NO_WAIT=${QUICKSTART_NO_WAIT:-}
DIR=${QUICKSTART_DIR:-$HOME/mongossl-quickstart}
while (($#)); do
    case $1 in
    --no-wait) NO_WAIT=1 ;;
    --dir) DIR=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "quickstart: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ $NO_WAIT == 0 ]] && NO_WAIT=

step() { printf '\n==> %s\n' "$*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

trap servers_stop_all EXIT
trap 'echo; echo "quickstart: stopping"; exit 0' INT TERM

# --- 1. build -----------------------------------------------------------------
if [[ -n "${MONGOSSL_BIN:-}" ]]; then
    MONGOSSL=$MONGOSSL_BIN
    step "using mongossl $MONGOSSL"
else
    step "building mongossl (release)"
    command -v cargo >/dev/null ||
        die "cargo not found: install a Rust toolchain (rustup, Rust 1.85 or newer for edition 2024) and run again"
    if ! pkg-config --exists openssl 2>/dev/null || ! command -v cc >/dev/null; then
        command -v apt-get >/dev/null || die "install a C compiler, pkg-config and the OpenSSL headers, then run again"
        SUDO=
        [[ $(id -u) -eq 0 ]] || SUDO=sudo
        echo "installing build-essential pkg-config libssl-dev with apt-get"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq build-essential pkg-config libssl-dev
    fi
    (cd "$ROOT" && cargo build --release)
    MONGOSSL="$ROOT/target/release/mongossl"
fi
[[ -x "$MONGOSSL" ]] || die "no mongossl binary at $MONGOSSL"

# --- 2. client tools and backend ------------------------------------------------
step "installing mongosh, PyMongo and the test backend"
DEPS=$("$ROOT/scripts/install-deps.sh" | tail -n 1)
export DEPS
MONGOSH="$DEPS/node/node_modules/.bin/mongosh"
PY="$DEPS/venv/bin/python"

# --- 3. certificates -------------------------------------------------------------
step "making a throwaway CA, server and client certificates in $DIR/pki"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
rm -rf "$DIR/pki" "$DIR/backend"
make_pki "$DIR/pki"
P="$DIR/pki"

# --- 4. backend --------------------------------------------------------------------
step "starting the backend on loopback"
start_backend "$DIR/backend"
echo "backend: $BACKEND_KIND on 127.0.0.1:$BACKEND_PORT (pid $BACKEND_PID, log $BACKEND_LOG)"
if [[ $BACKEND_KIND == SecantusDB* ]]; then
    echo "(no mongod found: SecantusDB is a test stand-in; set MONGOD=/path/to/mongod to front a real one)"
fi

# --- 5. mongossl ---------------------------------------------------------------------
PORT=27017
while ! port_is_free "$PORT"; do
    PORT=$((PORT + 1))
    ((PORT < 27117)) || die "no free port in 27017-27116"
done
step "starting mongossl on 127.0.0.1:$PORT"
start_mongossl mongossl "$DIR" "127.0.0.1:$BACKEND_PORT" "$PORT" \
    --sslOnNormalPorts --sslPEMKeyFile "$P/server.pem" --sslCAFile "$P/ca.pem" ||
    die "mongossl did not start (log: $DIR/mongossl.log)"
echo "mongossl: pid $MONGOSSL_PID, log $MONGOSSL_LOG"
echo "  $MONGOSSL --port $PORT --bind_ip 127.0.0.1 --upstream 127.0.0.1:$BACKEND_PORT \\"
echo "      --sslOnNormalPorts --sslPEMKeyFile $P/server.pem --sslCAFile $P/ca.pem"

step "connecting through mongossl with mongosh --tls and the client certificate"
MONGOSH_HOME="$DIR/mongosh-home"
mkdir -p "$MONGOSH_HOME"
# A private HOME keeps the demo away from your mongosh settings; telemetry off.
HOME="$MONGOSH_HOME" timeout 60 "$MONGOSH" --nodb --quiet --eval 'disableTelemetry()' >/dev/null 2>&1 || true
HOME="$MONGOSH_HOME" timeout 60 "$MONGOSH" --quiet \
    "mongodb://127.0.0.1:$PORT/?directConnection=true&serverSelectionTimeoutMS=10000" \
    --tls --tlsCertificateKeyFile "$P/client.pem" --tlsCAFile "$P/ca.pem" --eval '
        const h = db.adminCommand({hello: 1});
        const d = db.getSiblingDB("quickstart");
        d.greetings.insertOne({msg: "hello through mongossl", at: new Date()});
        print("hello: isWritablePrimary=" + h.isWritablePrimary + " maxWireVersion=" + h.maxWireVersion);
        print("ping: " + JSON.stringify(db.adminCommand({ping: 1})));
        print("quickstart.greetings now holds " + d.greetings.countDocuments({}) + " document(s); latest: "
              + JSON.stringify(d.greetings.find().sort({_id: -1}).limit(1).toArray()[0].msg));
    ' || die "mongosh could not connect through mongossl (log: $MONGOSSL_LOG)"

# --- 6. how to connect yourself ------------------------------------------------------
step "connect yourself"
cat <<TXT
mongosh:
  $MONGOSH --tls --host 127.0.0.1 --port $PORT \\
      --tlsCertificateKeyFile $P/client.pem --tlsCAFile $P/ca.pem

PyMongo:
  $PY -c 'from pymongo import MongoClient
c = MongoClient("mongodb://127.0.0.1:$PORT/?tls=true&directConnection=true",
                tlsCAFile="$P/ca.pem", tlsCertificateKeyFile="$P/client.pem")
print(c.admin.command("ping"))'

A client without a certificate from this CA is refused; see $MONGOSSL_LOG.
TXT

if [[ -n $NO_WAIT ]]; then
    step "done (--no-wait): stopping mongossl and the backend"
    exit 0
fi
step "running; press Ctrl-C to stop mongossl and the backend"
while kill -0 "$MONGOSSL_PID" 2>/dev/null && kill -0 "$BACKEND_PID" 2>/dev/null; do
    sleep 1
done
die "a process exited on its own; see $MONGOSSL_LOG and $BACKEND_LOG"
