# shellcheck shell=bash
# Start, wait for and stop the processes that integration.sh and quickstart.sh
# run: a backend (real mongod when available, else SecantusDB) and mongossl
# instances in front of it. Source this file; it sets globals rather than
# printing, so the started processes stay children of the calling shell.
#
# Every process started here is recorded in SERVERS_PIDS; call servers_stop_all
# from an EXIT trap. Processes are stopped by PID only.

SERVERS_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SERVERS_PIDS=()

# free_port -> prints a TCP port that was free on 127.0.0.1 a moment ago.
free_port() {
    python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# port_is_free PORT -> status 0 when nothing listens on 127.0.0.1:PORT and it can be bound.
port_is_free() {
    python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# stop_pid PID [GRACE_SECONDS] -> SIGTERM, wait, then SIGKILL. Quiet if already gone.
stop_pid() {
    local pid=$1 grace=${2:-10} i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# servers_stop_all -> stop every process started through this file, newest first.
servers_stop_all() {
    local i
    for ((i = ${#SERVERS_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${SERVERS_PIDS[i]}"
    done
    SERVERS_PIDS=()
}

_servers_forget() { # PID
    local p keep=()
    for p in "${SERVERS_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    SERVERS_PIDS=("${keep[@]}")
}

# find_mongod -> prints the mongod to use ($MONGOD, else mongod on PATH), or nothing.
find_mongod() {
    if [[ -n "${MONGOD:-}" ]]; then
        echo "$MONGOD"
    elif command -v mongod >/dev/null 2>&1; then
        command -v mongod
    fi
}

# start_backend WORKDIR [PORT]
#   Starts mongod (if find_mongod finds one) or secantusd-py from $DEPS/venv
#   on 127.0.0.1 (PORT, else a free one), and waits until it answers hello.
#   Sets BACKEND_PID BACKEND_PORT BACKEND_KIND BACKEND_LOG. Needs DEPS for SecantusDB.
start_backend() {
    local work mongod
    mkdir -p "$1"
    work=$(cd "$1" && pwd) # absolute: the SecantusDB branch changes directory
    BACKEND_PORT=${2:-$(free_port)}
    BACKEND_LOG="$work/backend.log"
    mongod=$(find_mongod)
    if [[ -n "$mongod" ]]; then
        BACKEND_KIND="mongod ($mongod)"
        mkdir -p "$work/db"
        "$mongod" --bind_ip 127.0.0.1 --port "$BACKEND_PORT" --dbpath "$work/db" \
            >"$BACKEND_LOG" 2>&1 &
    else
        local sec="${DEPS:?DEPS must name the install-deps.sh directory}/venv/bin/secantusd-py"
        [[ -x "$sec" ]] || { echo "start_backend: $sec not found (run scripts/install-deps.sh)" >&2; return 1; }
        BACKEND_KIND="SecantusDB ($("$DEPS/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("secantusdb"))'))"
        mkdir -p "$work/backend-tmp"
        # Run from an empty dir (it auto-discovers ./secantusd.toml) with its
        # :memory: store under our work dir, so nothing outlives the run.
        (cd "$work/backend-tmp" && TMPDIR="$work/backend-tmp" exec "$sec" --host 127.0.0.1 \
            --port "$BACKEND_PORT" --storage-path :memory: --standalone --cache-size 256M \
            >"$BACKEND_LOG" 2>&1) &
    fi
    BACKEND_PID=$!
    SERVERS_PIDS+=("$BACKEND_PID")
    if ! python3 "$SERVERS_LIB_DIR/wait_mongo.py" 127.0.0.1 "$BACKEND_PORT" 60; then
        echo "start_backend: $BACKEND_KIND did not answer on 127.0.0.1:$BACKEND_PORT; log:" >&2
        tail -n 30 "$BACKEND_LOG" >&2
        return 1
    fi
}

# find_mongossl ROOT -> sets MONGOSSL (from $MONGOSSL_BIN, else ROOT/target/release/mongossl,
# building it with cargo build --release when missing).
find_mongossl() {
    local root=$1
    if [[ -n "${MONGOSSL_BIN:-}" ]]; then
        MONGOSSL=$MONGOSSL_BIN
    else
        MONGOSSL="$root/target/release/mongossl"
        if [[ ! -x "$MONGOSSL" ]]; then
            echo "building mongossl (cargo build --release)..." >&2
            (cd "$root" && cargo build --release >&2) || return 1
        fi
    fi
    [[ -x "$MONGOSSL" ]] || { echo "mongossl binary $MONGOSSL not found" >&2; return 1; }
}

# start_mongossl NAME LOGDIR UPSTREAM PORT [mongossl options...]
#   Runs $MONGOSSL --port PORT --bind_ip 127.0.0.1 --upstream UPSTREAM OPTIONS,
#   logging to LOGDIR/NAME.log, and waits for "waiting for connections on port N".
#   PORT 0 lets mongossl pick. Sets MONGOSSL_PID MONGOSSL_PORT MONGOSSL_LOG.
start_mongossl() {
    local name=$1 logdir=$2 upstream=$3 port=$4 i line
    shift 4
    MONGOSSL_LOG="$logdir/$name.log"
    : >"$MONGOSSL_LOG"
    "$MONGOSSL" --port "$port" --bind_ip 127.0.0.1 --upstream "$upstream" "$@" \
        >>"$MONGOSSL_LOG" 2>&1 &
    MONGOSSL_PID=$!
    SERVERS_PIDS+=("$MONGOSSL_PID")
    for ((i = 0; i < 150; i++)); do
        line=$(grep -m1 -o 'waiting for connections on port [0-9]*' "$MONGOSSL_LOG" 2>/dev/null || true)
        if [[ -n "$line" ]]; then
            MONGOSSL_PORT=${line##* }
            return 0
        fi
        if ! kill -0 "$MONGOSSL_PID" 2>/dev/null; then
            echo "start_mongossl $name: mongossl exited; log:" >&2
            tail -n 30 "$MONGOSSL_LOG" >&2
            _servers_forget "$MONGOSSL_PID"
            wait "$MONGOSSL_PID" 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
    echo "start_mongossl $name: no 'waiting for connections' line after 15 s; log:" >&2
    tail -n 30 "$MONGOSSL_LOG" >&2
    return 1
}
