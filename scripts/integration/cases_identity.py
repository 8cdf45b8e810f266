"""The client's identity through to MongoDB (PROXY protocol), with real parts:
PyMongo with a client certificate, mongossl sending PROXY v2, and an upstream
that reads the header with the PyPI `proxy-protocol` package (an independent
parser) before relaying to the real MongoDB-speaking backend; and HAProxy in
TCP mode with `send-proxy-v2` in front of a mongossl that takes the header
(`--proxyProtocolFrom`).

    python cases_identity.py CONFIG.json

Every process started here is stopped by PID at the end.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

from proxyprotocol.v1 import ProxyProtocolV1
from proxyprotocol.v2 import ProxyProtocolV2
from pymongo import MongoClient

from common import Runner, check

CONFIG = json.load(open(sys.argv[1]))
PKI = CONFIG["pki"]
MONGOSSL = CONFIG["mongossl"]
BACKEND = ("127.0.0.1", CONFIG["backend_port"])
CA = os.path.join(PKI, "ca.pem")
CLIENT = os.path.join(PKI, "client.pem")
SERVER = os.path.join(PKI, "server.pem")
WORK = tempfile.mkdtemp(prefix="mongossl-identity-")
run = Runner("identity")
started = []


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError("closed inside the PROXY header")
        data += chunk
    return data


def read_header(conn):
    """One PROXY header, exactly its bytes, parsed by the proxy-protocol package."""
    first = read_exactly(conn, 16)
    if first.startswith(b"\r\n\r\n\x00\r\nQUIT\n"):
        length = int.from_bytes(first[14:16], "big")
        data = first + read_exactly(conn, length)
        return ProxyProtocolV2().unpack(data)
    data = first
    while not data.endswith(b"\r\n") and len(data) < 107:
        data += read_exactly(conn, 1)
    return ProxyProtocolV1().unpack(data)


class HeaderRelay:
    """Takes each connection's PROXY header, then relays it to the backend."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.headers = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.listener.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            self.headers.append(read_header(conn))
        except Exception as e:  # recorded, and the connection dropped
            self.headers.append(e)
            conn.close()
            return
        upstream = socket.create_connection(BACKEND)

        def pump(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        threading.Thread(target=pump, args=(upstream, conn), daemon=True).start()
        pump(conn, upstream)

    def last(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not self.headers:
            check(time.monotonic() < deadline, "the upstream saw no connection")
            time.sleep(0.05)
        header = self.headers.pop()
        check(not isinstance(header, Exception), f"the upstream could not parse the header: {header!r}")
        return header


def start_mongossl(name, *options):
    log = os.path.join(WORK, f"{name}.log")
    proc = subprocess.Popen(
        [MONGOSSL, "--port", "0", "--bind_ip", "127.0.0.1", *options],
        stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    started.append(proc)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"waiting for connections on port (\d+)", open(log).read())
        if match:
            return int(match.group(1)), log
        check(proc.poll() is None, f"mongossl {name} exited: {open(log).read()[-500:]}")
        time.sleep(0.05)
    check(False, f"mongossl {name} did not start")


def free_port():
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def pymongo_work(port, **kwargs):
    client = MongoClient("127.0.0.1", port, tls=True, tlsCAFile=CA, directConnection=True,
                         serverSelectionTimeoutMS=10000, appname="mongossl-it-identity", **kwargs)
    try:
        check(client.admin.command("ping").get("ok") == 1, "ping failed")
        coll = client.identity_it.docs
        coll.drop()
        coll.insert_one({"through": "proxy protocol"})
        check(coll.find_one({}, {"_id": 0}) == {"through": "proxy protocol"}, "document did not come back")
    finally:
        client.close()


def v2_with_client_certificate():
    relay = HeaderRelay()
    port, _ = start_mongossl("v2", "--upstream", f"127.0.0.1:{relay.port}", "--sslOnNormalPorts",
                             "--sslPEMKeyFile", SERVER, "--sslCAFile", CA, "--upstreamProxyProtocol", "v2")
    pymongo_work(port, tlsCertificateKeyFile=CLIENT)
    header = relay.last()
    check(header.source[0].compressed == "127.0.0.1", f"source {header.source}")
    check(header.dest[1] == port, f"destination {header.dest}")
    ssl = header.tlv.ssl
    check(ssl.has_ssl and ssl.has_cert_conn and ssl.verified, f"SSL TLV {ssl!r}")
    check(ssl.cn == "client", f"CN {ssl.cn!r}")
    check(ssl.version == "TLSv1.3", f"version {ssl.version!r}")
    subject = header.tlv[0xE0].decode()
    check(subject == "CN=client,OU=clients,O=mongossl-test", f"subject TLV {subject!r}")
    check(header.tlv.unique_id, "no unique id")


def v1_plain_lines():
    relay = HeaderRelay()
    port, _ = start_mongossl("v1", "--upstream", f"127.0.0.1:{relay.port}", "--sslOnNormalPorts",
                             "--sslPEMKeyFile", SERVER, "--upstreamProxyProtocol", "v1")
    pymongo_work(port)
    header = relay.last()
    check(header.source[0].compressed == "127.0.0.1" and header.dest[1] == port, f"{header!r}")


def haproxy_send_proxy_v2():
    haproxy = "haproxy"
    check(subprocess.run(["which", haproxy], capture_output=True).returncode == 0,
          "haproxy is not installed (scripts/install-deps.sh installs it)")
    relay = HeaderRelay()
    inner, log = start_mongossl("behind-haproxy", "--upstream", f"127.0.0.1:{relay.port}",
                                "--sslOnNormalPorts", "--sslPEMKeyFile", SERVER, "--sslCAFile", CA,
                                "--proxyProtocolFrom", "127.0.0.1", "--upstreamProxyProtocol", "v2")
    front = free_port()
    cfg = os.path.join(WORK, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(f"""global
    log stderr format short local0 info
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend mongo
    bind 127.0.0.1:{front}
    default_backend mongossl
backend mongossl
    server m1 127.0.0.1:{inner} send-proxy-v2
""")
    proc = subprocess.Popen([haproxy, "-f", cfg, "-db"], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(WORK, "haproxy.log"), "w"))
    started.append(proc)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", front), timeout=1).close()
            break
        except OSError:
            check(time.monotonic() < deadline, "haproxy did not start")
            time.sleep(0.1)
    relay.headers.clear()
    # The probe above went through HAProxy too: mongossl refused it (no TLS).
    pymongo_work(front, tlsCertificateKeyFile=CLIENT)
    header = relay.last()
    text = open(log).read()
    seen = re.findall(r"PROXY header from 127\.0\.0\.1:(\d+): client 127\.0\.0\.1:(\d+)", text)
    check(seen, f"mongossl logged no PROXY header from HAProxy: {text[-400:]}")
    balancer_port, client_port = (int(p) for p in seen[-1])
    check(balancer_port != client_port, "the client is HAProxy itself")
    check(header.source[1] in {int(c) for _, c in seen},
          f"upstream header source {header.source} is not a client HAProxy named")
    check(header.dest[1] == front, f"destination {header.dest} is not HAProxy's frontend port {front}")
    check(header.tlv.ssl.cn == "client", "the client certificate did not reach the upstream")


try:
    run.case("v2 with a client certificate: addresses, SSL TLV, CN, subject (PyMongo)", v2_with_client_certificate)
    run.case("v1 line before the wire protocol (PyMongo)", v1_plain_lines)
    run.case("behind HAProxy send-proxy-v2: the client's address passed on", haproxy_send_proxy_v2)
finally:
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
run.exit()
