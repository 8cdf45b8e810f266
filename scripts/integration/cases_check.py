"""`mongossl check` against the real MongoDB-speaking backend, through mongossl
and directly, cross-checked with PyMongo's own `hello`.

    python cases_check.py CONFIG.json
"""
import json
import subprocess
import sys
from urllib.parse import quote

from pymongo import MongoClient

from common import CaseFailure, Config, Runner, check

cfg = Config(sys.argv[1])
run = Runner("check")

MONGOSSL = cfg.raw["mongossl"]
BACKEND_PORT = cfg.raw["backend_port"]
CA = cfg.file("ca.pem")
CLIENT = cfg.file("client.pem")
CLIENT_ENC = cfg.file("client-enc.pem")
REVOKED = cfg.file("revoked-client.pem")


def mongossl_check(uri, *options):
    """Runs `mongossl check`; returns (exit code, stdout, stderr)."""
    cmd = [MONGOSSL, "check", "--timeoutSecs", "10", *options, uri]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise CaseFailure("mongossl check did not finish in 60 s")
    print(f"    $ mongossl check {' '.join(options)} {uri}\n{p.stdout}{p.stderr}",
          file=sys.stderr)
    return p.returncode, p.stdout, p.stderr


def tls_uri(inst, query=""):
    return f"mongodb://localhost:{cfg.port(inst)}/?tls=true&tlsCAFile={CA}{query}"


def pymongo_hello():
    """The backend's own hello, as PyMongo sees it through mongossl."""
    c = MongoClient(host="127.0.0.1", port=cfg.port("ssl"), directConnection=True,
                    tls=True, tlsCAFile=CA, serverSelectionTimeoutMS=10000)
    try:
        return c.admin.command("hello")
    finally:
        c.close()


def through_mongossl_text():
    log = cfg.log("ssl")
    code, out, err = mongossl_check(tls_uri("ssl"))
    check(code == 0, f"exit {code}: {err.strip()}")
    check("\nTLS:" in "\n" + out and "TLSv1." in out, "no TLS version line")
    check("subject:" in out and "SANs:" in out and "IP:127.0.0.1" in out,
          "no certificate description")
    check("host name localhost matches" in out, "host name not verified")
    check("maxWireVersion:" in out, "no maxWireVersion")
    check(out.rstrip().endswith("OK"), "no OK verdict")
    log.expect("SSL handshake done")


def json_agrees_with_pymongo():
    code, out, err = mongossl_check(
        tls_uri("ca", f"&tlsCertificateKeyFile={CLIENT}"), "--json")
    check(code == 0, f"exit {code}: {out.strip()} {err.strip()}")
    report = json.loads(out)
    check(report["ok"] is True and report["transport"] == "tls", f"report {report}")
    check(report["tls"]["version"].startswith("TLSv1."), f"tls {report['tls']}")
    check(report["tls"]["certificate"]["subject"].startswith("CN="), "no subject")
    hello = pymongo_hello()
    mine = report["hello"]
    check(mine["ok"] == 1, f"hello {mine}")
    check(mine["maxWireVersion"] == hello["maxWireVersion"],
          f"maxWireVersion {mine['maxWireVersion']} != PyMongo's {hello['maxWireVersion']}")
    primary = hello.get("isWritablePrimary", hello.get("ismaster"))
    check(mine.get("isWritablePrimary", mine.get("ismaster")) == primary,
          f"primary flag differs from PyMongo's hello: {mine} vs {primary}")


def plaintext_to_backend():
    code, out, err = mongossl_check(f"mongodb://127.0.0.1:{BACKEND_PORT}")
    check(code == 0, f"exit {code}: {err.strip()}")
    check("(plaintext)" in out and "maxWireVersion:" in out, "report incomplete")
    check("TLS:" not in out, "a TLS line on a plaintext check")


def encrypted_client_key():
    password = quote(cfg.client_password, safe="")
    code, out, err = mongossl_check(tls_uri(
        "encsrv",
        f"&tlsCertificateKeyFile={CLIENT_ENC}&tlsCertificateKeyFilePassword={password}"))
    check(code == 0, f"exit {code}: {err.strip()}")
    check(cfg.client_password not in out + err, "the key password was printed")


def refused_without_client_certificate():
    log = cfg.log("ca")
    code, out, err = mongossl_check(tls_uri("ca"))
    check(code == 3, f"expected exit 3 (closed), got {code}: {err.strip()}")
    check("client certificate" in err, f"reason does not name the client certificate: {err.strip()}")
    log.expect("no SSL certificate provided by peer; connection rejected")


def refused_revoked_client_certificate():
    log = cfg.log("crl")
    code, out, err = mongossl_check(tls_uri("crl", f"&tlsCertificateKeyFile={REVOKED}"))
    check(code != 0, "a revoked client certificate passed the check")
    log.expect("SSL peer certificate validation failed: certificate revoked")


run.case("through mongossl: TLS, certificate, hello", through_mongossl_text)
run.case("--json agrees with PyMongo's hello (client certificate)", json_agrees_with_pymongo)
run.case("plaintext, directly against the backend", plaintext_to_backend)
run.case("encrypted client key, password in the URI", encrypted_client_key)
run.case("refused without a client certificate", refused_without_client_certificate)
run.case("refused with a revoked client certificate", refused_revoked_client_certificate)
run.exit()
