"""SSL modes on one port and the client tunnel, with real clients (PyMongo and
mongosh) against the real MongoDB-speaking backend.

    python cases_modes.py CONFIG.json

The mode matrix: {disabled, allowSSL, preferSSL, requireSSL} x {SSL client,
plaintext client}, each with PyMongo and mongosh. The tunnel: a plaintext
PyMongo/mongosh reaches, through `mongossl --client --ssl`, a mongossl server
that requires client certificates; a tunnel with the wrong host name or an
untrusted server refuses and says why in its log.
"""
import subprocess
import sys

from pymongo import MongoClient
from pymongo.errors import ConnectionFailure

from common import CaseFailure, Config, Runner, check

cfg = Config(sys.argv[1])
run = Runner("modes")
CA = cfg.file("ca.pem")

# mode instance -> (SSL client accepted, plaintext client accepted, log line for a refusal)
MATRIX = {
    "mode-disabled": (False, True, "SSL is disabled on this port"),
    "mode-allow": (True, True, None),
    "mode-prefer": (True, True, None),
    "mode-require": (True, False, "The server is configured to only allow SSL connections"),
}
# Refusal lines of a requireSSL port are rate-limited per client address, so
# the mongosh cases use an instance of their own.
MONGOSH_INSTANCE = {"mode-require": "mode-require-mongosh"}


def pymongo_ping(inst, tls):
    kw = dict(tls=True, tlsCAFile=CA) if tls else {}
    c = MongoClient(host="127.0.0.1", port=cfg.port(inst), directConnection=True,
                    serverSelectionTimeoutMS=4000 if tls else 3000, connectTimeoutMS=3000, **kw)
    try:
        r = c.admin.command("ping")
        return r.get("ok") == 1
    except ConnectionFailure:
        return False
    finally:
        c.close()


def mongosh_ping(inst, tls):
    args = [cfg.mongosh, "--quiet", "--norc", f"mongodb://127.0.0.1:{cfg.port(inst)}/?directConnection=true"
            "&serverSelectionTimeoutMS=4000"]
    if tls:
        args += ["--tls", "--tlsCAFile", CA]
    args += ["--eval", "JSON.stringify(db.adminCommand({ping: 1}))"]
    env = {"HOME": cfg.mongosh_home, "PATH": "/usr/bin:/bin", "MONGOSH_NO_UPDATE_CHECK": "1"}
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        return False
    return p.returncode == 0 and '"ok":1' in p.stdout.replace(" ", "")


def matrix_case(client_name, ping, mode, tls):
    ssl_ok, plain_ok, refusal = MATRIX[mode]
    expected = ssl_ok if tls else plain_ok
    inst = MONGOSH_INSTANCE.get(mode, mode) if client_name == "mongosh" else mode
    log = cfg.log(inst)
    got = ping(inst, tls)
    check(got == expected, f"{'SSL' if tls else 'plaintext'} client {'accepted' if got else 'refused'}, "
                           f"expected {'accepted' if expected else 'refused'}")
    if not expected and refusal:
        log.expect(refusal)
    if expected and not tls and inst == "mode-prefer":
        log.expect("connection not using SSL (sslMode preferSSL)")


for inst in MATRIX:
    for tls in (True, False):
        label = f"{inst} {'SSL' if tls else 'plaintext'} client"
        run.case(f"pymongo {label}", matrix_case, "pymongo", pymongo_ping, inst, tls)
        run.case(f"mongosh {label}", matrix_case, "mongosh", mongosh_ping, inst, tls)


def tunnel_work():
    """Plaintext PyMongo through the tunnel to a server requiring certificates."""
    log = cfg.log("ca")
    c = MongoClient(host="127.0.0.1", port=cfg.port("tunnel"), directConnection=True,
                    serverSelectionTimeoutMS=10000)
    try:
        coll = c["mongossl_it"]["tunnel"]
        coll.drop()
        coll.insert_many([{"i": i} for i in range(500)])
        check(coll.count_documents({}) == 500, "documents lost through the tunnel")
        check(c.admin.command("hello").get("maxWireVersion", 0) > 0, "no maxWireVersion in hello")
    finally:
        c.close()
    log.expect("peer certificate subject")


def tunnel_refuses(inst, needle):
    log = cfg.log(inst)
    c = MongoClient(host="127.0.0.1", port=cfg.port(inst), directConnection=True,
                    serverSelectionTimeoutMS=3000)
    try:
        c.admin.command("ping")
        raise CaseFailure("the tunnel relayed although it should refuse")
    except ConnectionFailure:
        pass
    finally:
        c.close()
    log.expect(needle)


run.case("tunnel: plaintext PyMongo to a server requiring client certificates", tunnel_work)
run.case("tunnel: plaintext mongosh to a server requiring client certificates",
         lambda: check(mongosh_ping("tunnel", False), "mongosh through the tunnel failed"))
run.case("tunnel: wrong host name refused", tunnel_refuses, "tunnel-wrong-host", "mismatch")
run.case("tunnel: untrusted server refused", tunnel_refuses, "tunnel-untrusted", "certificate verify failed")

run.exit()
