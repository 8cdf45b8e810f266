"""PyMongo through mongossl: TLS options, client certificates, and real work.

    python cases_pymongo.py CONFIG.json
"""
import os
import sys
import threading
import time

from pymongo import CursorType, MongoClient, monitoring
from pymongo.errors import ConfigurationError, ConnectionFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from common import CaseFailure, Config, Runner, check

cfg = Config(sys.argv[1])
run = Runner("pymongo")

GOOD_TIMEOUT_MS = 10000
BAD_TIMEOUT_MS = 3000


def client(inst, **kw):
    opts = dict(
        host="127.0.0.1",
        port=cfg.port(inst),
        directConnection=True,
        serverSelectionTimeoutMS=GOOD_TIMEOUT_MS,
        connectTimeoutMS=5000,
        socketTimeoutMS=60000,
        appname="mongossl-it-pymongo",
    )
    opts.update(kw)
    return MongoClient(**opts)


def uri_client(inst, query):
    return MongoClient(
        f"mongodb://127.0.0.1:{cfg.port(inst)}/?directConnection=true"
        f"&serverSelectionTimeoutMS={GOOD_TIMEOUT_MS}&connectTimeoutMS=5000&{query}"
    )


def ping_ok(c):
    try:
        r = c.admin.command("ping")
        check(r.get("ok") == 1, f"ping answered {r}")
    finally:
        c.close()


def refused(c):
    """The client must fail to run a command; returns the error text."""
    try:
        r = c.admin.command("ping")
    except ConnectionFailure as e:
        return str(e)
    finally:
        c.close()
    raise CaseFailure(f"connection was accepted (ping answered {r})")


def refused_with_log(inst, log_needle, **kw):
    log = cfg.log(inst)
    kw.setdefault("serverSelectionTimeoutMS", BAD_TIMEOUT_MS)
    err = refused(client(inst, **kw))
    log.expect(log_needle)
    print(f"    client error: {err[:200]}", file=sys.stderr)


CA = cfg.file("ca.pem")
CLIENT = cfg.file("client.pem")
CLIENT_ENC = cfg.file("client-enc.pem")
OTHER = cfg.file("other-client.pem")
REVOKED = cfg.file("revoked-client.pem")

# --- 1. SSL only -------------------------------------------------------------
run.case("ssl-only tls=True tlsCAFile", lambda: ping_ok(client("ssl", tls=True, tlsCAFile=CA)))
run.case("ssl-only ssl=True tlsCAFile", lambda: ping_ok(client("ssl", ssl=True, tlsCAFile=CA)))
run.case("ssl-only URI ?ssl=true&tlsCAFile", lambda: ping_ok(uri_client("ssl", f"ssl=true&tlsCAFile={CA}")))
run.case("ssl-only tls=True tlsAllowInvalidCertificates=True",
         lambda: ping_ok(client("ssl", tls=True, tlsAllowInvalidCertificates=True)))
run.case("ssl-only URI ?tls=true&tlsInsecure=true", lambda: ping_ok(uri_client("ssl", "tls=true&tlsInsecure=true")))


def untrusted_server_refused_by_client():
    # Control: without the test CA and with checking on, the client itself
    # must reject mongossl's certificate.
    err = refused(client("ssl", tls=True, serverSelectionTimeoutMS=BAD_TIMEOUT_MS))
    check("certificate verify failed" in err or "CERTIFICATE_VERIFY_FAILED" in err,
          f"expected a certificate verification error, got: {err[:200]}")


run.case("ssl-only client without the CA rejects the server", untrusted_server_refused_by_client)

# --- 2. client certificates required -----------------------------------------
run.case("ca tlsCertificateKeyFile", lambda: ping_ok(client("ca", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT)))
run.case("ca no client certificate refused",
         lambda: refused_with_log("ca", "no SSL certificate provided by peer; connection rejected", tls=True, tlsCAFile=CA))
run.case("ca certificate from another CA refused",
         lambda: refused_with_log("ca", "SSL peer certificate validation failed", tls=True, tlsCAFile=CA,
                                  tlsCertificateKeyFile=OTHER))
run.case("ca without CRL accepts the later-revoked certificate (control)",
         lambda: ping_ok(client("ca", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=REVOKED)))
run.case("crl revoked certificate refused",
         lambda: refused_with_log("crl", "SSL peer certificate validation failed: certificate revoked", tls=True,
                                  tlsCAFile=CA, tlsCertificateKeyFile=REVOKED))
run.case("crl good certificate accepted",
         lambda: ping_ok(client("crl", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT)))

# --- 3. weak certificate validation ------------------------------------------
run.case("weak with certificate", lambda: ping_ok(client("weak", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT)))


def weak_without_certificate():
    log = cfg.log("weak")
    ping_ok(client("weak", tls=True, tlsCAFile=CA))
    text = log.expect("no SSL certificate provided by peer")
    check("connection rejected" not in text, "weak validation logged 'connection rejected'")


run.case("weak without certificate (warning logged)", weak_without_certificate)
run.case("weak certificate from another CA refused",
         lambda: refused_with_log("weak", "SSL peer certificate validation failed", tls=True, tlsCAFile=CA,
                                  tlsCertificateKeyFile=OTHER))

# --- 4. password-protected keys ----------------------------------------------
run.case("ca tlsCertificateKeyFilePassword",
         lambda: ping_ok(client("ca", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT_ENC,
                                tlsCertificateKeyFilePassword=cfg.client_password)))


def wrong_key_password():
    try:
        c = client("ca", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT_ENC,
                   tlsCertificateKeyFilePassword="wrong-password", serverSelectionTimeoutMS=BAD_TIMEOUT_MS)
        c.admin.command("ping")
    except (ConfigurationError, PyMongoError) as e:
        print(f"    client error: {str(e)[:200]}", file=sys.stderr)
        return
    raise CaseFailure("a wrong key password was accepted")


run.case("ca wrong tlsCertificateKeyFilePassword fails (control)", wrong_key_password)
run.case("encrypted server key (--sslPEMKeyPassword)",
         lambda: ping_ok(client("encsrv", tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT)))

# --- 5. work through the front end -------------------------------------------


class CommandLog(monitoring.CommandListener):
    def __init__(self):
        self.names = []
        self.failures = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        self.failures.append(f"{event.command_name}: {event.failure}")


work = client("ssl", tls=True, tlsCAFile=CA)
wdb = work["it_pymongo"]
work.drop_database("it_pymongo")


def w_ping():
    check(work.admin.command("ping").get("ok") == 1, "ping not ok")


def w_hello():
    r = work.admin.command("hello")
    check(r.get("ok") == 1 and r.get("isWritablePrimary") is True, f"hello answered {r}")
    check(isinstance(r.get("maxWireVersion"), int), "hello has no maxWireVersion")


def w_insert_count():
    docs = [{"i": i, "pad": "x" * 100} for i in range(10000)]
    res = wdb.docs.insert_many(docs)
    check(len(res.inserted_ids) == 10000, f"inserted {len(res.inserted_ids)}")
    n = wdb.docs.count_documents({})
    check(n == 10000, f"count_documents = {n}")


def w_getmore():
    listener = CommandLog()
    c = client("ssl", tls=True, tlsCAFile=CA, event_listeners=[listener])
    try:
        seen = [d["i"] for d in c["it_pymongo"].docs.find({}, {"i": 1}, batch_size=500)]
    finally:
        c.close()
    getmores = listener.names.count("getMore")
    check(len(seen) == 10000 and len(set(seen)) == 10000, f"cursor returned {len(seen)} documents")
    check(getmores >= 3, f"only {getmores} getMore commands")
    check(not listener.failures, f"command failures: {listener.failures}")


def w_big_document():
    data = os.urandom(15 * 1024 * 1024)
    wdb.big.insert_one({"_id": "big", "data": data})
    back = wdb.big.find_one({"_id": "big"})
    check(back is not None and back["data"] == data, "15 MB document did not round-trip")


def w_unacknowledged():
    c = client("ssl", tls=True, tlsCAFile=CA, maxPoolSize=1)
    try:
        coll = c["it_pymongo"].get_collection("w0", write_concern=WriteConcern(w=0))
        for i in range(200):
            r = coll.insert_one({"i": i})
            check(not r.acknowledged, "w:0 write was acknowledged")
        coll.insert_many([{"i": i} for i in range(200, 1000)])
        deadline = time.monotonic() + 5
        while True:
            n = c["it_pymongo"].w0.count_documents({})
            if n == 1000 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check(n == 1000, f"read after w:0 writes saw {n} of 1000 documents")
    finally:
        c.close()


def w_exhaust():
    c = client("ssl", tls=True, tlsCAFile=CA)
    try:
        cur = c["it_pymongo"].docs.find({}, {"i": 1}, cursor_type=CursorType.EXHAUST, batch_size=300)
        seen = [d["i"] for d in cur]
        check(len(seen) == 10000 and len(set(seen)) == 10000, f"exhaust cursor returned {len(seen)} documents")
        # The connection must still work after the exhaust stream ended.
        check(c.admin.command("ping").get("ok") == 1, "ping after exhaust failed")
    finally:
        c.close()


class Heartbeats(monitoring.ServerHeartbeatListener):
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.awaited = 0
        self.errors = []

    def started(self, event):
        pass

    def succeeded(self, event):
        with self.lock:
            self.ok += 1
            self.awaited += 1 if event.awaited else 0

    def failed(self, event):
        with self.lock:
            self.errors.append(str(event.reply))


def w_streaming_heartbeat():
    hb = Heartbeats()
    cmds = CommandLog()
    c = client("ssl", tls=True, tlsCAFile=CA, heartbeatFrequencyMS=500, serverMonitoringMode="stream",
               event_listeners=[hb, cmds])
    try:
        end = time.monotonic() + 5
        while time.monotonic() < end:
            c.admin.command("ping")
            time.sleep(0.25)
    finally:
        c.close()
    check(not hb.errors, f"heartbeat failures: {hb.errors[:3]}")
    check(not cmds.failures, f"command failures: {cmds.failures[:3]}")
    check(hb.awaited >= 3, f"only {hb.awaited} awaited (streamed) heartbeats of {hb.ok} in 5 s")
    print(f"    heartbeats: {hb.ok} succeeded, {hb.awaited} streamed", file=sys.stderr)


run.case("work ping", w_ping)
run.case("work hello", w_hello)
run.case("work insert 10000 and count", w_insert_count)
run.case("work cursor with several getMores", w_getmore)
run.case("work 15 MB document round trip", w_big_document)
run.case("work w:0 writes then read", w_unacknowledged)
run.case("work exhaust cursor", w_exhaust)
run.case("work streaming heartbeat 5 s", w_streaming_heartbeat)
work.drop_database("it_pymongo")
work.close()

# --- 6. plaintext client on the SSL port --------------------------------------


def plaintext_refused_then_tls_ok():
    refused_with_log("plain-pymongo", "The server is configured to only allow SSL connections")
    ping_ok(client("plain-pymongo", tls=True, tlsCAFile=CA))


run.case("plaintext client refused, TLS client still served", plaintext_refused_then_tls_ok)
run.exit()
