#!/usr/bin/env bash
# Scans a running mongossl with a real TLS scanner (sslyze, from PyPI, in
# its own venv under the deps directory) and asserts what the scan found:
# no SSLv2/SSLv3/TLS 1.0/TLS 1.1, only AEAD suites with ephemeral ECDH, no
# compression (CRIME), no client-initiated renegotiation, TLS_FALLBACK_SCSV,
# extended master secret, the configured curves only, and no Heartbleed,
# CCS injection or ROBOT. Prints one PASS/FAIL line per check and
# "N passed, M failed"; exits non-zero on any failure.
#
# Usage: scripts/tls-scan.sh        (MONGOSSL_BIN picks the binary, else target/release)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SSLYZE_VERSION=6.3.1
# install-deps.sh brings python3 with venv (apt only if missing) and
# names the deps directory; the integration step needs it anyway.
DEPS=$(bash "$ROOT/scripts/install-deps.sh" | tail -n 1)
VENV="$DEPS/scan-venv"

# shellcheck source=lib/pki.sh
source "$ROOT/scripts/lib/pki.sh"
# shellcheck source=lib/servers.sh
source "$ROOT/scripts/lib/servers.sh"

if [[ ! -x "$VENV/bin/sslyze" || "$(cat "$VENV/.sslyze" 2>/dev/null)" != "$SSLYZE_VERSION" ]]; then
    echo "tls-scan: installing sslyze==$SSLYZE_VERSION into $VENV" >&2
    mkdir -p "$DEPS"
    python3 -m venv "$VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "sslyze==$SSLYZE_VERSION" >&2
    echo "$SSLYZE_VERSION" >"$VENV/.sslyze"
fi

WORK=$(mktemp -d)
trap 'servers_stop_all; rm -rf "$WORK"' EXIT
make_pki "$WORK/pki" >/dev/null 2>&1
find_mongossl "$ROOT"
# The scan never gets past the handshake: no mongod is needed behind.
start_mongossl scan "$WORK" "127.0.0.1:$(free_port)" 0 \
    --sslOnNormalPorts --sslPEMKeyFile "$WORK/pki/server.pem"

"$VENV/bin/sslyze" --quiet --json_out "$WORK/scan.json" --mozilla_config disable \
    --sslv2 --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 --compression --reneg \
    --heartbleed --robot --openssl_ccs --fallback --elliptic_curves --ems \
    "127.0.0.1:$MONGOSSL_PORT" >"$WORK/sslyze.out" 2>&1 || {
    echo "tls-scan: sslyze failed:" >&2
    cat "$WORK/sslyze.out" >&2
    exit 1
}

"$VENV/bin/python" - "$WORK/scan.json" <<'PY'
import json, sys

report = json.load(open(sys.argv[1]))
server = report["server_scan_results"][0]
results = server["scan_result"]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS: {name}")
    else:
        failed += 1
        print(f"FAIL: {name} {detail}".rstrip())


def result(command):
    entry = results.get(command) or {}
    if entry.get("status") != "COMPLETED":
        check(f"{command} scan completed", False, f"(status {entry.get('status')})")
        return None
    return entry["result"]


check("scanner connected", server["connectivity_status"] == "COMPLETED",
      str(server.get("connectivity_error_trace")))
for command, label in [
    ("ssl_2_0_cipher_suites", "SSLv2"),
    ("ssl_3_0_cipher_suites", "SSLv3"),
    ("tls_1_0_cipher_suites", "TLS 1.0"),
    ("tls_1_1_cipher_suites", "TLS 1.1"),
]:
    r = result(command)
    if r is not None:
        accepted = [c["cipher_suite"]["name"] for c in r["accepted_cipher_suites"]]
        check(f"{label} refused", not r["is_tls_version_supported"] and not accepted, str(accepted))

AEAD = ("_GCM_", "CHACHA20_POLY1305")
for command, label in [("tls_1_2_cipher_suites", "TLS 1.2"), ("tls_1_3_cipher_suites", "TLS 1.3")]:
    r = result(command)
    if r is None:
        continue
    names = [c["cipher_suite"]["name"] for c in r["accepted_cipher_suites"]]
    check(f"{label} supported", r["is_tls_version_supported"] and bool(names))
    weak = [n for n in names if not any(a in n for a in AEAD)]
    check(f"{label}: AEAD suites only", not weak, str(weak))
    anon = [c["cipher_suite"]["name"] for c in r["accepted_cipher_suites"] if c["cipher_suite"]["is_anonymous"]]
    check(f"{label}: no anonymous suites", not anon, str(anon))
    small = [c["cipher_suite"]["name"] for c in r["accepted_cipher_suites"] if c["cipher_suite"]["key_size"] < 128]
    check(f"{label}: no key shorter than 128 bits", not small, str(small))
    if command == "tls_1_2_cipher_suites":
        static = [n for n in names if "_ECDHE_" not in n]
        check("TLS 1.2: ephemeral ECDH key exchange only (forward secrecy)", not static, str(static))

r = result("tls_compression")
if r is not None:
    check("no TLS compression (CRIME)", r["supports_compression"] is False)
r = result("session_renegotiation")
if r is not None:
    check("no client-initiated renegotiation", not r["is_vulnerable_to_client_renegotiation_dos"]
          and r["client_renegotiations_success_count"] == 0, json.dumps(r))
    check("secure renegotiation indication only (RFC 5746)", r["supports_secure_renegotiation"])
r = result("heartbleed")
if r is not None:
    check("not vulnerable to Heartbleed", r["is_vulnerable_to_heartbleed"] is False)
r = result("openssl_ccs_injection")
if r is not None:
    check("not vulnerable to OpenSSL CCS injection", r["is_vulnerable_to_ccs_injection"] is False)
r = result("robot")
if r is not None:
    check("not vulnerable to ROBOT", r["robot_result"].startswith("NOT_VULNERABLE"), r["robot_result"])
r = result("tls_fallback_scsv")
if r is not None:
    check("TLS_FALLBACK_SCSV honoured (downgrade protection)", r["supports_fallback_scsv"] is True)
r = result("tls_extended_master_secret")
if r is not None:
    check("extended master secret supported", r["supports_ems_extension"] is True)
r = result("elliptic_curves")
if r is not None:
    curves = sorted(c["name"] for c in r["supported_curves"])
    check("key exchange groups are X25519, P-256, P-384 only",
          set(curves) <= {"X25519", "secp256r1", "secp384r1"} and curves, str(curves))

print(f"tls-scan: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
