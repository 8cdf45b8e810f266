#!/usr/bin/env bash
# Install the client and backend tools that scripts/integration.sh and
# scripts/quickstart.sh drive, into one directory outside the work tree:
#
#   ${MONGOSSL_DEPS:-$HOME/.cache/mongossl/deps}/
#     venv/   Python venv: pymongo (client) and secantusdb (test backend, used
#             only when no real mongod is available; GPL-2.0, a test tool)
#     node/   npm prefix: mongosh and the Node.js driver (node/node_modules)
#
# Versions are pinned below. A stamp file keyed by those pins makes a second
# run a no-op (well under a second). apt-get is used only when a system tool
# (python3 with venv, node/npm, openssl) is missing.
# The last line printed on stdout is the deps directory.
#
# Usage: scripts/install-deps.sh [--force]
set -euo pipefail

PYMONGO_VERSION=4.15.5
SECANTUSDB_VERSION=0.7.0b3
MONGOSH_VERSION=2.12.0
MONGODB_NODE_VERSION=6.22.0
# The PROXY protocol cases: an independent header parser, and HAProxy (apt).
PROXY_PROTOCOL_VERSION=0.11.3
# The metrics cases: the Prometheus text-format parser.
PROMETHEUS_CLIENT_VERSION=0.26.0
# The audit's compressed sessions: PyMongo's zstd and snappy compressors.
ZSTANDARD_VERSION=0.25.0
PYTHON_SNAPPY_VERSION=0.7.3

DEPS=${MONGOSSL_DEPS:-$HOME/.cache/mongossl/deps}
STAMP="$DEPS/.installed"
WANT="pymongo=$PYMONGO_VERSION secantusdb=$SECANTUSDB_VERSION proxy-protocol=$PROXY_PROTOCOL_VERSION prometheus-client=$PROMETHEUS_CLIENT_VERSION zstandard=$ZSTANDARD_VERSION python-snappy=$PYTHON_SNAPPY_VERSION mongosh=$MONGOSH_VERSION mongodb=$MONGODB_NODE_VERSION"

log() { echo "install-deps: $*" >&2; }

if [[ "${1:-}" != "--force" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" \
      && -x "$DEPS/venv/bin/python" && -x "$DEPS/node/node_modules/.bin/mongosh" ]] \
      && command -v haproxy >/dev/null; then
    echo "$DEPS"
    exit 0
fi

# --- system tools, through apt only when something is missing -------------
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
if ! command -v python3 >/dev/null; then
    need_apt+=(python3 python3-venv)
elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    need_apt+=(python3-venv)
fi
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v haproxy >/dev/null || need_apt+=(haproxy)
if ((${#need_apt[@]})); then
    if ! command -v apt-get >/dev/null; then
        log "missing ${need_apt[*]} and no apt-get here: install them and run again"
        exit 1
    fi
    SUDO=
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    log "apt-get install ${need_apt[*]}"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >&2
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 16)); then
    log "node $(node --version) is too old: mongosh $MONGOSH_VERSION needs Node >= 16.15"
    exit 1
fi

mkdir -p "$DEPS"
rm -f "$STAMP"

# --- Python: pymongo + secantusdb ------------------------------------------
if [[ ! -x "$DEPS/venv/bin/python" ]]; then
    log "creating venv $DEPS/venv"
    python3 -m venv "$DEPS/venv" >&2
fi
log "pip install pymongo==$PYMONGO_VERSION secantusdb==$SECANTUSDB_VERSION proxy-protocol==$PROXY_PROTOCOL_VERSION prometheus-client==$PROMETHEUS_CLIENT_VERSION zstandard==$ZSTANDARD_VERSION python-snappy==$PYTHON_SNAPPY_VERSION"
"$DEPS/venv/bin/python" -m pip install -q --disable-pip-version-check \
    "pymongo==$PYMONGO_VERSION" "secantusdb==$SECANTUSDB_VERSION" \
    "proxy-protocol==$PROXY_PROTOCOL_VERSION" "prometheus-client==$PROMETHEUS_CLIENT_VERSION" \
    "zstandard==$ZSTANDARD_VERSION" "python-snappy==$PYTHON_SNAPPY_VERSION" >&2

# --- Node: mongosh + mongodb driver ----------------------------------------
mkdir -p "$DEPS/node"
[[ -f "$DEPS/node/package.json" ]] || echo '{"name":"mongossl-deps","private":true}' >"$DEPS/node/package.json"
log "npm install mongosh@$MONGOSH_VERSION mongodb@$MONGODB_NODE_VERSION"
(cd "$DEPS/node" && npm install --no-audit --no-fund --loglevel=error --save-exact \
    "mongosh@$MONGOSH_VERSION" "mongodb@$MONGODB_NODE_VERSION" >&2)

"$DEPS/venv/bin/python" -c 'import pymongo, secantus, zstandard, snappy' >&2
"$DEPS/node/node_modules/.bin/mongosh" --version >/dev/null
(cd "$DEPS/node" && node -e 'require("mongodb")')

echo "$WANT" >"$STAMP"
log "done: $WANT"
echo "$DEPS"
