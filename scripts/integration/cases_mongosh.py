"""mongosh through mongossl: --tls/--ssl spellings, client certificates, work.

    python cases_mongosh.py CONFIG.json

Each case runs mongosh --quiet --eval with a private HOME (telemetry off) and
a timeout. The eval prints one `RESULT <json>` line that the case checks.
"""
import json
import os
import subprocess
import sys

from common import CaseFailure, Config, Runner, check

cfg = Config(sys.argv[1])
run = Runner("mongosh")

CA = cfg.file("ca.pem")
CLIENT = cfg.file("client.pem")
CLIENT_ENC = cfg.file("client-enc.pem")
OTHER = cfg.file("other-client.pem")
REVOKED = cfg.file("revoked-client.pem")

PING = "print('RESULT ' + JSON.stringify(db.adminCommand({ping: 1})))"


def mongosh(inst, args, script=PING, query="", good=True, timeout=90):
    sst = 10000 if good else 3000
    uri = (f"mongodb://127.0.0.1:{cfg.port(inst)}/?directConnection=true"
           f"&serverSelectionTimeoutMS={sst}&connectTimeoutMS=5000{query}")
    env = dict(os.environ, HOME=cfg.mongosh_home)
    cmd = [cfg.mongosh, "--quiet", uri, *args, "--eval", script]
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CaseFailure(f"mongosh did not finish in {timeout} s")
    result = None
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    return p, result


def ok(inst, args, query=""):
    p, r = mongosh(inst, args, query=query)
    check(p.returncode == 0 and r and r.get("ok") == 1,
          f"exit {p.returncode}, result {r}, stderr: {p.stderr.strip()[-300:]}")


def refused(inst, args, log_needle=None, client_needle=None, query=""):
    log = cfg.log(inst)
    p, r = mongosh(inst, args, query=query, good=False)
    check(p.returncode != 0 and r is None, f"connection was accepted (exit {p.returncode}, result {r})")
    err = (p.stderr + p.stdout).strip()
    print(f"    client error: {err[-200:]}", file=sys.stderr)
    if client_needle:
        check(client_needle.lower() in err.lower(), f"mongosh error lacks {client_needle!r}: {err[-300:]}")
    if log_needle:
        log.expect(log_needle)


# --- 1. SSL only -------------------------------------------------------------
run.case("ssl-only --tls --tlsCAFile", ok, "ssl", ["--tls", "--tlsCAFile", CA])
run.case("ssl-only --ssl --sslCAFile", ok, "ssl", ["--ssl", "--sslCAFile", CA])
run.case("ssl-only URI ?ssl=true&tlsCAFile", ok, "ssl", [], f"&ssl=true&tlsCAFile={CA}")
run.case("ssl-only --tls --tlsAllowInvalidCertificates", ok, "ssl", ["--tls", "--tlsAllowInvalidCertificates"])
run.case("ssl-only --ssl --sslAllowInvalidCertificates", ok, "ssl", ["--ssl", "--sslAllowInvalidCertificates"])
run.case("ssl-only URI ?tls=true&tlsInsecure=true", ok, "ssl", [], "&tls=true&tlsInsecure=true")
run.case("ssl-only client without the CA rejects the server", refused, "ssl", ["--tls"],
         client_needle="certificate")

# --- 2. client certificates required -----------------------------------------
run.case("ca --ssl --sslPEMKeyFile --sslCAFile (legacy spelling)", ok, "ca",
         ["--ssl", "--sslPEMKeyFile", CLIENT, "--sslCAFile", CA])
run.case("ca --tls --tlsCertificateKeyFile --tlsCAFile", ok, "ca",
         ["--tls", "--tlsCertificateKeyFile", CLIENT, "--tlsCAFile", CA])
run.case("ca no client certificate refused", refused, "ca", ["--tls", "--tlsCAFile", CA],
         "no SSL certificate provided by peer; connection rejected")
run.case("ca certificate from another CA refused", refused, "ca",
         ["--tls", "--tlsCertificateKeyFile", OTHER, "--tlsCAFile", CA], "SSL peer certificate validation failed")
run.case("crl revoked certificate refused", refused, "crl",
         ["--tls", "--tlsCertificateKeyFile", REVOKED, "--tlsCAFile", CA],
         "SSL peer certificate validation failed: certificate revoked")
run.case("crl good certificate accepted", ok, "crl", ["--tls", "--tlsCertificateKeyFile", CLIENT, "--tlsCAFile", CA])

# --- 3. weak certificate validation ------------------------------------------
run.case("weak with certificate", ok, "weak", ["--tls", "--tlsCertificateKeyFile", CLIENT, "--tlsCAFile", CA])


def weak_without_certificate():
    log = cfg.log("weak")
    ok("weak", ["--tls", "--tlsCAFile", CA])
    text = log.expect("no SSL certificate provided by peer")
    check("connection rejected" not in text, "weak validation logged 'connection rejected'")


run.case("weak without certificate (warning logged)", weak_without_certificate)
run.case("weak certificate from another CA refused", refused, "weak",
         ["--tls", "--tlsCertificateKeyFile", OTHER, "--tlsCAFile", CA], "SSL peer certificate validation failed")

# --- 4. password-protected keys ----------------------------------------------
run.case("ca --tlsCertificateKeyFilePassword", ok, "ca",
         ["--tls", "--tlsCertificateKeyFile", CLIENT_ENC, "--tlsCertificateKeyFilePassword", cfg.client_password,
          "--tlsCAFile", CA])
run.case("ca --sslPEMKeyPassword (legacy spelling)", ok, "ca",
         ["--ssl", "--sslPEMKeyFile", CLIENT_ENC, "--sslPEMKeyPassword", cfg.client_password, "--sslCAFile", CA])
run.case("encrypted server key (--sslPEMKeyPassword)", ok, "encsrv",
         ["--tls", "--tlsCertificateKeyFile", CLIENT, "--tlsCAFile", CA])

# --- 5. work through the front end -------------------------------------------
TLS = ["--tls", "--tlsCAFile", CA]


def work(script, query=""):
    p, r = mongosh("ssl", TLS, script=script, query=query, timeout=120)
    check(p.returncode == 0 and r is not None,
          f"exit {p.returncode}, stderr: {p.stderr.strip()[-300:]}")
    return r


def w_ping():
    r = work(PING)
    check(r.get("ok") == 1, f"ping answered {r}")


def w_hello():
    r = work("print('RESULT ' + JSON.stringify(db.adminCommand({hello: 1})))")
    check(r.get("ok") == 1 and r.get("isWritablePrimary") is True, f"hello answered {r}")


def w_insert_count():
    r = work("""
        const d = db.getSiblingDB('it_mongosh'); d.dropDatabase();
        const docs = []; for (let i = 0; i < 10000; i++) docs.push({i: i, pad: 'x'.repeat(100)});
        const res = d.docs.insertMany(docs);
        print('RESULT ' + JSON.stringify({ins: Object.keys(res.insertedIds).length, n: d.docs.countDocuments({})}));
    """)
    check(r == {"ins": 10000, "n": 10000}, f"got {r}")


def w_getmore():
    r = work("""
        const d = db.getSiblingDB('it_mongosh');
        let res = d.runCommand({find: 'docs', projection: {i: 1}, batchSize: 500});
        const seen = new Set(res.cursor.firstBatch.map(x => x.i)); let getMores = 0;
        while (String(res.cursor.id) !== '0') {
            res = d.runCommand({getMore: res.cursor.id, collection: 'docs', batchSize: 1000});
            res.cursor.nextBatch.forEach(x => seen.add(x.i)); getMores++;
        }
        print('RESULT ' + JSON.stringify({n: seen.size, getMores: getMores}));
    """)
    check(r.get("n") == 10000 and r.get("getMores", 0) >= 3, f"got {r}")


def w_big_document():
    r = work("""
        const d = db.getSiblingDB('it_mongosh');
        let s = ''; const chunk = Array.from({length: 1024}, (_, k) => String.fromCharCode(33 + (k * 7) % 90)).join('');
        while (s.length < 15 * 1024 * 1024) s += chunk;
        d.big.insertOne({_id: 'big', data: s});
        const back = d.big.findOne({_id: 'big'});
        print('RESULT ' + JSON.stringify({len: back.data.length, same: back.data === s}));
    """)
    check(r == {"len": 15 * 1024 * 1024, "same": True}, f"got {r}")


def w_unacknowledged():
    r = work("""
        const d = db.getSiblingDB('it_mongosh');
        for (let i = 0; i < 200; i++) d.w0.insertOne({i: i}, {writeConcern: {w: 0}});
        const docs = []; for (let i = 200; i < 1000; i++) docs.push({i: i});
        d.w0.insertMany(docs, {writeConcern: {w: 0}});
        let n = 0; for (let t = 0; t < 50; t++) { n = d.w0.countDocuments({}); if (n === 1000) break; sleep(100); }
        print('RESULT ' + JSON.stringify({n: n}));
        d.dropDatabase();
    """, query="&maxPoolSize=1")
    check(r == {"n": 1000}, f"read after w:0 writes saw {r}")


run.case("work ping", w_ping)
run.case("work hello", w_hello)
run.case("work insert 10000 and count", w_insert_count)
run.case("work cursor with several getMores", w_getmore)
run.case("work 15 MB document round trip", w_big_document)
run.case("work w:0 writes then read", w_unacknowledged)

# --- 6. plaintext client on the SSL port --------------------------------------


def plaintext_refused_then_tls_ok():
    refused("plain-mongosh", [], "The server is configured to only allow SSL connections")
    ok("plain-mongosh", TLS)


run.case("plaintext client refused, TLS client still served", plaintext_refused_then_tls_ok)
run.exit()
