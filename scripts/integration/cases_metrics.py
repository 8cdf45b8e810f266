"""Metrics and JSON logs with real parts: PyMongo works through a mongossl
that serves `--metricsListen` and logs `--logFormat json`; the metrics are
parsed with the PyPI `prometheus-client` parser (the text format 0.0.4) and
every log line with Python's json module.

    python cases_metrics.py CONFIG.json

The mongossl started here is stopped by PID at the end.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from common import Runner, check

CONFIG = json.load(open(sys.argv[1]))
PKI = CONFIG["pki"]
CA = os.path.join(PKI, "ca.pem")
CLIENT = os.path.join(PKI, "client.pem")
WORK = tempfile.mkdtemp(prefix="mongossl-metrics-")
LOG = os.path.join(WORK, "mongossl.log")
run = Runner("metrics")

proc = subprocess.Popen(
    [CONFIG["mongossl"], "--port", "0", "--bind_ip", "127.0.0.1",
     "--upstream", f"127.0.0.1:{CONFIG['backend_port']}", "--sslOnNormalPorts",
     "--sslPEMKeyFile", os.path.join(PKI, "server.pem"), "--sslCAFile", CA,
     "--metricsListen", "127.0.0.1:0", "--logFormat", "json", "--logpath", LOG],
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def log_documents():
    with open(LOG) as f:
        return [json.loads(line) for line in f]


def started():
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(LOG):
            docs = log_documents()
            port = [d["attr"]["port"] for d in docs if d["id"] == 23016]
            metrics = [re.search(r":(\d+)/metrics", d["msg"]) for d in docs]
            metrics = [m.group(1) for m in metrics if m]
            if port and metrics:
                return port[0], int(metrics[0])
        check(proc.poll() is None, "mongossl exited")
        time.sleep(0.1)
    check(False, "mongossl did not start")


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        check(reply.headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"),
              f"content type {reply.headers.get('Content-Type')}")
        text = reply.read().decode()
    values = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def pymongo_through_and_scraped():
    port, metrics_port = started()
    client = MongoClient("127.0.0.1", port, tls=True, tlsCAFile=CA, tlsCertificateKeyFile=CLIENT,
                         directConnection=True, serverSelectionTimeoutMS=10000)
    try:
        check(client.admin.command("ping").get("ok") == 1, "ping failed")
        client.metrics_it.docs.insert_one({"x": 1})
        try:
            client.metrics_it.command("noSuchCommand")
            check(False, "noSuchCommand succeeded")
        except OperationFailure as e:
            check(e.code == 59, f"code {e.code}")
    finally:
        client.close()
    time.sleep(0.5)
    v = scrape(metrics_port)
    accepted = v[("mongossl_connections_accepted_total", ())]
    check(accepted >= 1, f"accepted {accepted}")
    ok13 = v[("mongossl_handshakes_total", (("result", "ok"), ("version", "TLSv1.3")))]
    check(ok13 >= 1, f"handshakes {ok13}")
    up = v[("mongossl_bytes_total", (("direction", "to_upstream"),))]
    down = v[("mongossl_bytes_total", (("direction", "to_client"),))]
    check(up > 100 and down > 100, f"bytes {up} / {down}")
    count = v[("mongossl_handshake_duration_seconds_count", ())]
    check(count == ok13 + v[("mongossl_handshakes_total", (("result", "ok"), ("version", "TLSv1.2")))],
          "histogram count differs from the handshakes")
    commands = {labels: value for (name, labels), value in v.items()
                if name == "mongossl_commands_total"}
    insert = commands.get((("command", "insert"), ("result", "ok")), 0)
    check(insert == 1, f"insert counted {insert} times: {commands}")
    invented = commands.get((("command", "other"), ("result", "error")), 0)
    check(invented == 1, f"the failing invented command counted {invented} times: {commands}")
    check(commands.get((("command", "ping"), ("result", "ok")), 0) >= 1, f"no ping: {commands}")
    timed = v[("mongossl_command_duration_seconds_count", ())]
    check(timed >= sum(commands.values()) - 1 and timed > 2, f"{timed} timed, {commands}")


def json_log_lines():
    docs = log_documents()
    check(docs, "an empty log")
    for d in docs:
        check(set(d) == {"t", "s", "c", "id", "ctx", "msg", "attr"}, f"fields {sorted(d)}")
        check(d["t"]["$date"].endswith("+00:00"), f"date {d['t']}")
    accepted = [d for d in docs if d["id"] == 22943]
    check(accepted and accepted[0]["msg"] == "Connection accepted", "no Connection accepted")
    check(accepted[0]["attr"]["remote"].startswith("127.0.0.1:"), f"{accepted[0]}")


try:
    run.case("PyMongo through, then a scrape parsed by prometheus-client", pymongo_through_and_scraped)
    run.case("every --logFormat json line parses, with mongod's ids", json_log_lines)
finally:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
run.exit()
