#!/usr/bin/env bash
# The benchmark of issue 7: mongossl against stunnel4, hitch and HAProxy
# (Debian's packages), with the same certificate, protocol versions, suites
# and groups, on loopback, in one run. For each measure and each proxy it
# records the proxy's CPU time (utime + stime of the proxy's processes, from
# /proc/PID/stat) over the measured window, and prints a table of raw rates,
# work per proxy CPU-second and mongossl's ratio to the best peer. The load
# generator and echo backend are the project's own (benches/loadgen/).
#
#   scripts/bench.sh                 # everything, ~8 minutes (after the build)
#   scripts/bench.sh --quick         # 0.8 s windows, 1,500 idle connections, ~2.5 minutes
#   scripts/bench.sh --passes 3      # medians over 3 passes (3× the time)
#   scripts/bench.sh --duration 2    # seconds measured per proxy and measure (default 4, quick 0.8)
#   scripts/bench.sh --cores 1 --proxies "mongossl haproxy" --measures "hs13 stream"
#                                    # measures: hs13 hs12 resume13 resume12 stream pp1 pp32 idle mtls
#                                    # (hs13/hs12 run with ECDSA and RSA certificates; mtls runs both
#                                    # with a client certificate the proxy verifies, as --sslCAFile)
#   scripts/bench.sh --mongossl-args "--quiet" --mongossl-name mongossl-quiet
#   scripts/bench.sh --report DIR    # re-print the table of an earlier run
#   scripts/bench.sh --syscalls      # also count each proxy's syscalls per operation
#   scripts/bench.sh --perf          # also sample mongossl with perf (where its CPU goes)
#   MONGOSSL_BIN=/path/to/mongossl scripts/bench.sh ...   # another build
#   scripts/bench.sh --proxy-protocol --cores 1 --measures mtls --passes 3
#                                    # adds a column mongossl-pp2: the same build with
#                                    # --upstreamProxyProtocol v2 (the echo backend reads past the header)
#   scripts/bench.sh --audit --wire --proxies mongossl --measures "hs13 stream pp32" --passes 3
#                                    # adds mongossl-audit (--auditDestination file) and mongossl-metrics
#                                    # (--metricsListen: the command counter); --wire makes the load
#                                    # real OP_MSG messages (pings; 256 KiB one-document inserts)
#   scripts/bench.sh --proxies "mongossl mongossl-new" --variant "mongossl-new|/tmp/mongossl-new|--quiet"
#                                    # A/B: extra mongossl builds/arguments as columns
#                                    # (name them mongossl-*: the table never counts them as peers)
#
# --syscalls and --perf cost the proxies CPU while they count: use their
# figures for where the time goes, and a run without them for the table.
#
# Results: target/bench/<time>/results.tsv (one line per measurement) and
# table.md (the table); also the configurations and logs of every proxy.
# It is a benchmark, not a test: nothing here fails on a slow figure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=0
DURATION_SET=""
PASSES=1
PROXIES="mongossl stunnel hitch haproxy"
CORES="1 2"
MEASURES="hs13 hs12 resume13 resume12 stream pp1 pp32 idle mtls"
MONGOSSL_ARGS=""
MONGOSSL_NAME="mongossl"
OUT=""
REPORT=""
INSTALL=1
SYSCALLS=0
PERF=0
PROXY_PROTOCOL=0
AUDIT=0
WIRE=0
declare -A VARIANT_BIN=() VARIANT_ARGS=()
BASE_PORT=${BENCH_BASE_PORT:-29100}

usage() { sed -n '2,/^set -euo/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --passes) PASSES=$2; shift ;;
    --duration) DURATION_SET=$2; shift ;;
    --proxies) PROXIES=$2; shift ;;
    --cores) CORES=$2; shift ;;
    --measures) MEASURES=$2; shift ;;
    --mongossl-args) MONGOSSL_ARGS=$2; shift ;;
    --mongossl-name) MONGOSSL_NAME=$2; shift ;;
    --out) OUT=$2; shift ;;
    --report) REPORT=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --syscalls) SYSCALLS=1 ;;
    --perf) PERF=1 ;;
    --proxy-protocol) PROXY_PROTOCOL=1 ;;
    --audit) AUDIT=1 ;;
    --wire) WIRE=1 ;;
    --variant)
        IFS='|' read -r vname vbin vargs <<<"$2"
        VARIANT_BIN[$vname]=$vbin
        VARIANT_ARGS[$vname]=$vargs
        shift
        ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

say() { printf '=== %s\n' "$*" >&2; }

display_name() { # NAME
    if [[ $1 == mongossl ]]; then echo "$MONGOSSL_NAME"; else echo "$1"; fi
}

# syscalls.md from the counters of --syscalls: syscalls per operation (per
# connection, per MB each way, per round trip) over each measured window.
syscall_summary() {
    {
        echo "| proxy | cores | cert | measure | syscalls per op | top syscalls per op |"
        echo "|---|---|---|---|---:|---|"
        tail -n +2 "$RESULTS" | while IFS=$'\t' read -r proxy cores cert measure ops wall _; do
            for name in $PROXIES; do
                [[ $(display_name "$name") == "$proxy" ]] && break
            done
            f=$DIR/syscalls-$name-$cores-$cert-$measure.csv
            [[ -f $f && $measure != idle ]] || continue
            # The counters ran for DURATION, the loadgen window is `wall` long.
            per=$(awk -v ops="$ops" -v wall="$wall" -v d="$DURATION" -v m="$measure" '
                BEGIN { FS="," ; div = ops * d / wall; if (m == "stream") div = div / 1e6 }
                /raw_syscalls/ { total = $1 }
                /syscalls:sys_enter_/ { n = $3; sub("syscalls:sys_enter_", "", n); if ($1 > 0) c[n] = $1 }
                END {
                    # Each proxied connection opens exactly one socket to the
                    # backend (hitch calls connect() twice): the exact divisor.
                    if (m ~ /^(hs|resume)/ && c["socket"] > 0) div = c["socket"]
                    if (total == 0) { printf "n/a (perf could not attach) |"; exit }
                    printf "%.1f |", total / div
                    for (k = 0; k < 8; k++) {
                        best = ""
                        for (n in c) if (best == "" || c[n] > c[best]) best = n
                        if (best == "") break
                        printf " %s %.1f", best, c[best] / div
                        delete c[best]
                    }
                }' "$f")
            echo "| $proxy | $cores | $cert | $measure | $per |"
        done
    } >"$DIR/syscalls.md"
}


if ((QUICK)); then
    WARMUP=0.2 DURATION=0.8 IDLE_CONNS=1500 SETTLE=0.4
else
    WARMUP=0.5 DURATION=4 IDLE_CONNS=10000 SETTLE=1
fi
[[ -n $DURATION_SET ]] && DURATION=$DURATION_SET

# --- tools -----------------------------------------------------------------

build_tools() {
    say "building mongossl (release) and the load generator"
    cargo build --release --quiet
    MONGOSSL=${MONGOSSL_BIN:-$ROOT/target/release/mongossl}
    LOADGEN=$(cargo build --release --bench loadgen --message-format=json 2>/dev/null |
        grep -o '"executable":"[^"]*/loadgen-[^"]*"' | tail -1 | cut -d'"' -f4)
    [[ -x $LOADGEN ]] || { echo "bench.sh: the load generator did not build" >&2; exit 1; }
}

if [[ -n $REPORT ]]; then
    build_tools
    "$LOADGEN" report "$REPORT"/results.tsv
    if compgen -G "$REPORT/syscalls-*.csv" >/dev/null; then
        DIR=$REPORT RESULTS=$REPORT/results.tsv
        DURATION=$(sed -n 's/.*measured \([0-9.]*\)s.*/\1/p' "$REPORT/machine.txt")
        PROXIES=$(tail -n +2 "$RESULTS" | cut -f1 | sort -u | tr '\n' ' ')
        syscall_summary
        echo
        cat "$DIR/syscalls.md"
    fi
    exit 0
fi

install_peers() {
    local need=()
    command -v stunnel4 >/dev/null || need+=(stunnel4)
    command -v hitch >/dev/null || need+=(hitch)
    command -v haproxy >/dev/null || need+=(haproxy)
    command -v openssl >/dev/null || need+=(openssl)
    command -v ss >/dev/null || need+=(iproute2)
    command -v taskset >/dev/null || need+=(util-linux)
    if ((SYSCALLS || PERF)) && ! perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
        need+=(linux-perf)
    fi
    if ((${#need[@]})); then
        say "installing ${need[*]} (Debian packages)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}" >/dev/null
    fi
}
((INSTALL)) && install_peers
build_tools

# --- the run's directory, certificates, limits -------------------------------

DIR=${OUT:-$ROOT/target/bench/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$DIR"
RESULTS=$DIR/results.tsv
: >"$RESULTS"
say "results in $DIR"

# 10,000 idle connections need 20,000 descriptors in the proxy (client and
# mongod side). Raise the soft limit as far as the hard one allows; where the
# hard limit cannot be raised (no CAP_SYS_RESOURCE) use fewer connections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)
# (stunnel allows about 0.488 clients per descriptor: 9,765 at 20,000.)
MAX_IDLE=$((FDS * 95 / 200))
if ((IDLE_CONNS > MAX_IDLE)); then
    say "open-file limit $FDS (hard $(ulimit -Hn)): idle test with $MAX_IDLE connections instead of $IDLE_CONNS"
    IDLE_CONNS=$MAX_IDLE
fi
MAXCONN=$(((FDS - 100) / 2))

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$DIR/ecdsa.key" -out "$DIR/ecdsa.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$DIR/rsa.key" -out "$DIR/rsa.crt" 2>/dev/null
for c in ecdsa rsa; do cat "$DIR/$c.key" "$DIR/$c.crt" >"$DIR/$c.pem"; done
# mongod's sslCAFile case: a CA, and a client certificate it signed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=bench-ca -keyout "$DIR/ca.key" -out "$DIR/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=client -keyout "$DIR/client.key" -out "$DIR/client.csr" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n' >"$DIR/client.ext"
openssl x509 -req -in "$DIR/client.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -extfile "$DIR/client.ext" -out "$DIR/client.crt" 2>/dev/null
cat "$DIR/client.crt" "$DIR/client.key" >"$DIR/client.pem"
chmod 600 "$DIR"/*.key "$DIR"/*.pem

# The same policy everywhere (mongossl's: src/tls/server.rs).
TLS12_CIPHERS="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
TLS13_SUITES="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
# (X25519, P-256, P-384; stunnel and HAProxy want the OpenSSL curve names.)
TLS_GROUPS="X25519:prime256v1:secp384r1"

if ((PROXY_PROTOCOL)); then
    VARIANT_BIN[mongossl-pp2]=$MONGOSSL
    VARIANT_ARGS[mongossl-pp2]="--upstreamProxyProtocol v2"
    PROXIES="$PROXIES mongossl-pp2"
fi
if ((AUDIT)); then
    VARIANT_BIN[mongossl-audit]=$MONGOSSL
    VARIANT_ARGS[mongossl-audit]="--auditDestination file --auditPath $DIR/audit.json"
    VARIANT_BIN[mongossl-metrics]=$MONGOSSL
    VARIANT_ARGS[mongossl-metrics]="--metricsListen 127.0.0.1:0"
    PROXIES="$PROXIES mongossl-audit mongossl-metrics"
fi
WIRE_ARG=()
((WIRE)) && WIRE_ARG=(--wire)

BACKEND_PORT=$BASE_PORT
declare -A PORT=([mongossl]=$((BASE_PORT + 1)) [stunnel]=$((BASE_PORT + 2)) [hitch]=$((BASE_PORT + 3)) [haproxy]=$((BASE_PORT + 4)))
declare -A PID=()
vport=$((BASE_PORT + 10))
for v in "${!VARIANT_BIN[@]}"; do
    PORT[$v]=$vport
    vport=$((vport + 1))
done

MONGOSSL_HAS_THREADS=0
"$MONGOSSL" --help 2>&1 | grep -q -- '--threads' && MONGOSSL_HAS_THREADS=1

# Everything this script started, stopped by PID on any exit.
STARTED=()
cleanup() {
    local p
    for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
    # The audit's events are the variant's work, not a result: keep their count.
    if [[ -f $DIR/audit.json ]]; then
        echo "audit events written by mongossl-audit: $(wc -l <"$DIR/audit.json")" >>"$DIR/audit-events.txt"
        rm -f "$DIR/audit.json"
    fi
}
trap cleanup EXIT

wait_listening() { # PORT
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -n $(ss -Hltn "sport = :$1") ]] && return 0
        sleep 0.1
    done
    echo "bench.sh: nothing listens on port $1 after 10 s" >&2
    return 1
}

port_free() { # PORT
    [[ -z $(ss -Hltn "sport = :$1") ]]
}

# --- proxies -----------------------------------------------------------------

write_configs() { # CORES CERT
    local cores=$1 cert=$2 pem=$DIR/$2.pem tag=$1-$2
    local stunnel_ca="" hitch_ca="" haproxy_ca=""
    [[ $cert == resume ]] && pem=$DIR/ecdsa.pem
    if [[ $cert == mtls ]]; then
        # ECDSA server certificate; clients must present one the CA signed.
        pem=$DIR/ecdsa.pem
        stunnel_ca=$'CAfile = '"$DIR/ca.pem"$'\nverifyChain = yes'
        hitch_ca=$'client-verify = required\nclient-verify-ca = "'"$DIR/ca.pem"'"'
        haproxy_ca=" ca-file $DIR/ca.pem verify required"
    fi
    cat >"$DIR/stunnel-$tag.conf" <<EOF
foreground = yes
pid =
syslog = no
output = $DIR/stunnel-$tag.log

[mongo]
accept = 127.0.0.1:${PORT[stunnel]}
connect = 127.0.0.1:$BACKEND_PORT
cert = $pem
sslVersionMin = TLSv1.2
sslVersionMax = TLSv1.3
ciphers = $TLS12_CIPHERS
ciphersuites = $TLS13_SUITES
curves = $TLS_GROUPS
options = CIPHER_SERVER_PREFERENCE
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
$stunnel_ca
EOF
    # hitch refuses to run its workers as root.
    local hitch_user=_hitch
    getent passwd _hitch >/dev/null || hitch_user=nobody
    mkdir -p "$DIR/hitch-ocsp"
    chown "$hitch_user" "$DIR/hitch-ocsp"
    cat >"$DIR/hitch-$tag.conf" <<EOF
frontend = "[127.0.0.1]:${PORT[hitch]}"
backend = "[127.0.0.1]:$BACKEND_PORT"
pem-file = "$pem"
tls-protos = TLSv1.2 TLSv1.3
ciphers = "$TLS12_CIPHERS"
ciphersuites = "$TLS13_SUITES"
ecdh-curve = "$TLS_GROUPS"
prefer-server-ciphers = on
workers = $cores
backlog = 1024
daemon = off
user = "$hitch_user"
ocsp-dir = "$DIR/hitch-ocsp"
$hitch_ca
EOF
    cat >"$DIR/haproxy-$tag.cfg" <<EOF
global
    nbthread $cores
    maxconn $MAXCONN
    ssl-default-bind-options ssl-min-ver TLSv1.2
    ssl-default-bind-ciphers $TLS12_CIPHERS
    ssl-default-bind-ciphersuites $TLS13_SUITES

defaults
    mode tcp
    timeout connect 10s
    timeout client 600s
    timeout server 600s
    maxconn $MAXCONN

frontend mongo
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $pem curves $TLS_GROUPS$haproxy_ca
    default_backend mongod

backend mongod
    server mongod 127.0.0.1:$BACKEND_PORT
EOF
}

start_proxy() { # NAME CORES CERT
    local name=$1 cores=$2 cert=$3 tag=$2-$3 pin=()
    port_free "${PORT[$name]}" || { echo "bench.sh: port ${PORT[$name]} is taken (set BENCH_BASE_PORT)" >&2; exit 1; }
    local bin=$MONGOSSL args=$MONGOSSL_ARGS kind=$name
    if [[ -n ${VARIANT_BIN[$name]:-} ]]; then
        bin=${VARIANT_BIN[$name]} args=${VARIANT_ARGS[$name]} kind=mongossl
    fi
    case $kind in
    mongossl)
        local threads=()
        # Each build is asked: an older one (a --variant) may not have it.
        "$bin" --help 2>&1 | grep -q -- '--threads' && threads=(--threads "$cores")
        # shellcheck disable=SC2086 # args is a list of words
        local tls=(--sslPEMKeyFile "$DIR/$cert.pem")
        [[ $cert == mtls ]] && tls=(--sslPEMKeyFile "$DIR/ecdsa.pem" --sslCAFile "$DIR/ca.pem")
        if [[ $cert == resume ]]; then
            # mongossl sends no TLS 1.3 ticket unless asked (the peers send 2).
            tls=(--sslPEMKeyFile "$DIR/ecdsa.pem")
            "$bin" --help 2>&1 | grep -q -- '--sslSessionTickets' && tls+=(--sslSessionTickets 1)
        fi
        "$bin" --bind_ip 127.0.0.1 --port "${PORT[$name]}" --sslOnNormalPorts \
            "${tls[@]}" --upstream "127.0.0.1:$BACKEND_PORT" \
            --logpath "$DIR/$name-$tag.log" "${threads[@]}" $args \
            >"$DIR/$name-$tag.out" 2>&1 &
        ;;
    stunnel)
        # stunnel runs a thread per connection and has no worker count:
        # the 1-core runs pin it to one CPU.
        ((cores == 1)) && pin=(taskset -c 0)
        "${pin[@]}" stunnel4 "$DIR/stunnel-$tag.conf" >"$DIR/stunnel-$tag.out" 2>&1 &
        ;;
    hitch)
        hitch --config="$DIR/hitch-$tag.conf" >"$DIR/hitch-$tag.out" 2>&1 &
        ;;
    haproxy)
        haproxy -db -f "$DIR/haproxy-$tag.cfg" >"$DIR/haproxy-$tag.out" 2>&1 &
        ;;
    esac
    PID[$name]=$!
    STARTED+=("$!")
    wait_listening "${PORT[$name]}" || { cat "$DIR/$name-$tag.out" >&2; exit 1; }
}

stop_proxy() { # NAME
    local p=${PID[$1]}
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do port_free "${PORT[$1]}" && break; sleep 0.1; done
}


# --- measures ------------------------------------------------------------------

# loadgen arguments of each measure.
measure_args() { # MEASURE
    case $1 in
    hs13 | hs12 | resume13 | resume12) echo "--measure $1 --threads 2 --conns 16 --sources 8" ;;
    stream) echo "--measure stream --threads 2 --conns 8" ;;
    pp1) echo "--measure pingpong --threads 1 --conns 1" ;;
    pp32) echo "--measure pingpong --threads 2 --conns 32" ;;
    esac
}

tree_pids() { # PID -> the PID and all its descendants, comma-separated
    local all=($1) i=0 kid
    while ((i < ${#all[@]})); do
        for kid in $(ps -o pid= --ppid "${all[$i]}" 2>/dev/null); do all+=("$kid"); done
        i=$((i + 1))
    done
    local IFS=,
    echo "${all[*]}"
}

SYSCALL_EVENTS=raw_syscalls:sys_enter
for s in accept4 recvfrom sendto read write writev epoll_wait epoll_ctl connect socket setsockopt \
    getsockopt getpeername shutdown close getpid brk mmap munmap madvise futex; do
    SYSCALL_EVENTS+=",syscalls:sys_enter_$s"
done

# Starts the profilers of --syscalls/--perf for one measurement's window.
start_profilers() { # PROXY TAG
    local proxy=$1 tag=$2 pids
    PROFILERS=()
    ((SYSCALLS || PERF)) || return 0
    pids=$(tree_pids "${PID[$proxy]}")
    if ((SYSCALLS)); then
        (sleep "$WARMUP"; exec perf stat -x, -e "$SYSCALL_EVENTS" -p "$pids" \
            -o "$DIR/syscalls-$proxy-$tag.csv" -- sleep "$DURATION") >/dev/null 2>&1 &
        PROFILERS+=("$!")
    fi
    if ((PERF)) && [[ $proxy == mongossl* ]]; then
        (sleep "$WARMUP"; exec perf record -q -e cpu-clock -F 1999 -g -p "$pids" \
            -o "$DIR/perf-$proxy-$tag.data" -- sleep "$DURATION") >/dev/null 2>&1 &
        PROFILERS+=("$!")
    fi
}

stop_profilers() { # PROXY TAG
    local p
    for p in "${PROFILERS[@]}"; do wait "$p" 2>/dev/null || true; done
    if ((PERF)) && [[ $1 == mongossl* && -f $DIR/perf-$1-$2.data ]]; then
        {
            perf report -i "$DIR/perf-$1-$2.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$'
            echo
            perf report -i "$DIR/perf-$1-$2.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
        } >"$DIR/perf-$1-$2.txt" || true
    fi
}

run_measure() { # PROXY CORES CERT MEASURE
    local proxy=$1 cores=$2 cert=$3 measure=$4 label
    label=$(label_cert "$cert")
    start_profilers "$proxy" "$cores-$label-$measure"
    run_loadgen "$@"
    stop_profilers "$proxy" "$cores-$label-$measure"
}

run_loadgen() { # PROXY CORES CERT MEASURE
    local proxy=$1 cores=$2 cert=$3 measure=$4
    if [[ $measure == idle ]]; then
        "$LOADGEN" idle --target "127.0.0.1:${PORT[$proxy]}" --conns "$IDLE_CONNS" --sources 8 \
            --settle "$SETTLE" --proxy "$(display_name "$proxy")" --cores "$cores" --cert "$(label_cert "$cert")" \
            --pid "${PID[$proxy]}" --backend-pid "$BACKEND_PID" --out "$RESULTS" ||
            echo "bench.sh: $proxy idle failed (see above); going on" >&2
        return
    fi
    local client=()
    [[ $cert == mtls ]] && client=(--client-cert "$DIR/client.pem")
    # shellcheck disable=SC2046 # measure_args is a list of words
    "$LOADGEN" run "${client[@]}" "${WIRE_ARG[@]}" --target "127.0.0.1:${PORT[$proxy]}" $(measure_args "$measure") --name "$measure" \
        --proxy "$(display_name "$proxy")" --cores "$cores" --cert "$(label_cert "$cert")" \
        --warmup "$WARMUP" --duration "$DURATION" \
        --pid "${PID[$proxy]}" --backend-pid "$BACKEND_PID" --out "$RESULTS" ||
        echo "bench.sh: $proxy $measure failed (see above); going on" >&2
}

# The certificate a group's results are labelled with: the resumption group
# serves the ECDSA certificate (it only differs in mongossl's ticket option).
label_cert() { if [[ $1 == resume ]]; then echo ecdsa; else echo "$1"; fi; }

wanted() { [[ " $MEASURES " == *" $1 "* ]]; }

say "echo backend on 127.0.0.1:$BACKEND_PORT"
port_free "$BACKEND_PORT" || { echo "bench.sh: port $BACKEND_PORT is taken (set BENCH_BASE_PORT)" >&2; exit 1; }
"$LOADGEN" backend --listen "127.0.0.1:$BACKEND_PORT" --threads 2 --lifetime 3600 >"$DIR/backend.out" 2>&1 &
BACKEND_PID=$!
STARTED+=("$BACKEND_PID")
wait_listening "$BACKEND_PORT"

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') × $(nproc)"
    echo "kernel: $(uname -r)"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "openssl: $(openssl version)"
    echo "mongossl: $("$MONGOSSL" --version | head -1), --threads: $( ((MONGOSSL_HAS_THREADS)) && echo yes || echo 'not yet (one event loop)'), extra args: ${MONGOSSL_ARGS:-none}"
    echo "stunnel: $(stunnel4 -version 2>&1 | grep -m1 '^stunnel')"
    echo "hitch: $(hitch --version 2>&1 | head -1)"
    echo "haproxy: $(haproxy -v | head -1)"
    echo "windows: warm-up ${WARMUP}s, measured ${DURATION}s; idle connections: $IDLE_CONNS; passes: $PASSES"
} >"$DIR/machine.txt"
cat "$DIR/machine.txt" >&2

START=$SECONDS
for ((pass = 1; pass <= PASSES; pass++)); do
    for cores in $CORES; do
        for cert in ecdsa resume rsa mtls; do
            list=()
            for m in $MEASURES; do
                if [[ $cert == resume ]]; then
                    [[ $m == resume13 || $m == resume12 ]] && list+=("$m")
                elif [[ $m == resume13 || $m == resume12 ]]; then
                    :
                elif [[ $cert == mtls ]]; then
                    [[ $m == mtls ]] && list+=(hs13 hs12)
                elif [[ $m == mtls ]]; then
                    :
                elif [[ $cert == rsa ]]; then
                    [[ $m == hs13 || $m == hs12 ]] && list+=("$m")
                elif [[ $m != idle || $cores == "${CORES%% *}" ]]; then
                    # Memory per idle connection: once, in the first core setting.
                    list+=("$m")
                fi
            done
            ((${#list[@]})) || continue
            say "pass $pass, $cores core(s), $cert group: ${list[*]}"
            write_configs "$cores" "$cert"
            for p in $PROXIES; do start_proxy "$p" "$cores" "$cert"; done
            # Interleaved: each measure runs for every proxy before the next,
            # so the machine's slow minutes are shared out evenly.
            for m in "${list[@]}"; do
                for p in $PROXIES; do run_measure "$p" "$cores" "$cert" "$m"; done
            done
            for p in $PROXIES; do stop_proxy "$p"; done
        done
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); bench time: $((SECONDS - START)) s" >>"$DIR/machine.txt"

"$LOADGEN" report "$RESULTS" >"$DIR/table.md"
((SYSCALLS)) && syscall_summary
echo
cat "$DIR/machine.txt"
echo
cat "$DIR/table.md"
echo
if ((SYSCALLS)); then
    echo "Syscalls per operation (stream: per MB each way):"
    cat "$DIR/syscalls.md"
    echo
fi
echo "saved: $DIR/table.md, $DIR/results.tsv"
