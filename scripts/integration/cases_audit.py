"""The audit log with real parts: PyMongo, mongosh and the Node.js driver log
in to SecantusDB running with `--auth` (a SCRAM-SHA-256 user) through
mongossl, work, fail a login and a command; the cases read the audit back —
JSON lines with Python's json module, a filtered BSON file with PyMongo's
`bson`, the console destination from mongossl's stdout — and check the
events mongod's schema promises. A compressed session (zlib, zstd, snappy)
goes through compress_backend.py, which negotiates compression as mongod
does. The audit counters are scraped from `--metricsListen` and parsed with
`prometheus-client`.

    python cases_audit.py CONFIG.json

Every process started here is stopped by PID at the end.
"""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import bson
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from common import CaseFailure, Runner, check
from compress_backend import BY_NAME, CompressingBackend

CONFIG = json.load(open(sys.argv[1]))
PKI = CONFIG["pki"]
CA = os.path.join(PKI, "ca.pem")
CLIENT = os.path.join(PKI, "client.pem")
SUBJECT = "CN=client,OU=clients,O=mongossl-test"
DEPS = os.environ["DEPS"]
NODE_MODULES = os.path.join(DEPS, "node", "node_modules")
WORK = tempfile.mkdtemp(prefix="mongossl-audit-")
USER, PASSWORD = "auditor", "Pw-never-logged-7"
# A document value that must never reach a redacted audit file.
SECRET_VALUE = "card-4111-1111-1111-1111"
run = Runner("audit")
PROCS = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_mongo(port, timeout=60):
    client = MongoClient("127.0.0.1", port, directConnection=True,
                         serverSelectionTimeoutMS=timeout * 1000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def secantus(port, storage, auth):
    args = [os.path.join(DEPS, "venv", "bin", "secantusd-py"), "--host", "127.0.0.1",
            "--port", str(port), "--storage-path", storage, "--standalone",
            "--cache-size", "256M"] + (["--auth"] if auth else [])
    home = os.path.join(WORK, "secantus-cwd")  # empty: no secantusd.toml found
    os.makedirs(home, exist_ok=True)
    log = open(os.path.join(WORK, "secantus.log"), "a")
    proc = subprocess.Popen(args, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, TMPDIR=home))
    PROCS.append(proc)
    wait_for_mongo(port)
    return proc


def secantus_with_auth():
    """SecantusDB has no localhost exception: the user is made without
    --auth, then the server restarts on the same store with it."""
    port, storage = free_port(), os.path.join(WORK, "secantus-data")
    first = secantus(port, storage, auth=False)
    client = MongoClient("127.0.0.1", port, directConnection=True)
    client.admin.command("createUser", USER, pwd=PASSWORD, roles=["root"])
    client.close()
    first.terminate()
    first.wait(30)
    secantus(port, storage, auth=True)
    return port


class Mongossl:
    """One mongossl with JSON logs; its port and metrics port from the log."""

    def __init__(self, name, upstream_port, *options, metrics=False):
        self.log = os.path.join(WORK, f"{name}.log")
        self.stdout = os.path.join(WORK, f"{name}.stdout")
        args = [CONFIG["mongossl"], "--port", "0", "--bind_ip", "127.0.0.1",
                "--upstream", f"127.0.0.1:{upstream_port}", "--sslOnNormalPorts",
                "--sslPEMKeyFile", os.path.join(PKI, "server.pem"), "--sslCAFile", CA,
                "--logFormat", "json", "--logpath", self.log, *options]
        if metrics:
            args += ["--metricsListen", "127.0.0.1:0"]
        self.proc = subprocess.Popen(args, stdout=open(self.stdout, "w"),
                                     stderr=subprocess.STDOUT)
        PROCS.append(self.proc)
        self.port, self.metrics_port = self.started(metrics)

    def started(self, metrics):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(self.log):
                docs = [json.loads(line) for line in open(self.log)]
                port = [d["attr"]["port"] for d in docs if d["id"] == 23016]
                found = [re.search(r":(\d+)/metrics", d["msg"]) for d in docs]
                found = [int(m.group(1)) for m in found if m]
                if port and (found or not metrics):
                    return port[0], (found[0] if found else None)
            if self.proc.poll() is not None:
                raise CaseFailure(f"mongossl exited: {open(self.stdout).read()[-500:]}")
            time.sleep(0.1)
        raise CaseFailure("mongossl did not start")

    def pymongo(self, password=PASSWORD, **kwargs):
        return MongoClient("127.0.0.1", self.port, tls=True, tlsCAFile=CA,
                           tlsCertificateKeyFile=CLIENT, directConnection=True,
                           username=USER, password=password, authSource="admin",
                           serverSelectionTimeoutMS=10000, **kwargs)

    def uri(self):
        return (f"mongodb://{USER}:{PASSWORD}@127.0.0.1:{self.port}/?authSource=admin"
                f"&directConnection=true&serverSelectionTimeoutMS=10000")


def json_events(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def conn_id(event):
    """The connection an event belongs to: its uuid, in either encoding."""
    value = event["uuid"]
    if isinstance(value, dict):  # relaxed extended JSON
        check(value["$binary"]["subType"] == "04", f"uuid subtype {value}")
        return uuid.UUID(bytes=base64.b64decode(value["$binary"]["base64"]))
    if isinstance(value, uuid.UUID):
        return value
    check(isinstance(value, bson.Binary) and value.subtype == 4, f"uuid is {value!r}")
    return uuid.UUID(bytes=bytes(value))


def wait_until(read, done, what, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        events = read()
        if done(events):
            return events
        if time.monotonic() > deadline:
            atypes = [e.get("atype") for e in events][-12:]
            raise CaseFailure(f"audit never showed {what}; last events: {atypes}")
        time.sleep(0.1)


def session_of(events, pred):
    """The events of the one connection that has an event matching pred."""
    ids = {conn_id(e) for e in events if pred(e)}
    check(len(ids) == 1, f"{len(ids)} connections match, expected 1")
    (only,) = ids
    return [e for e in events if conn_id(e) == only]


def logged_in(user_result):
    return lambda e: (e["atype"] == "authenticate" and e["param"]["user"] == USER
                      and e["result"] == user_result)


def one(events, pred, what):
    found = [e for e in events if pred(e)]
    check(len(found) >= 1, f"no {what} among {[e['atype'] for e in events]}")
    return found[0]


def check_command(session, command, ns, result=0):
    event = one(session, lambda e: e["atype"] == "authCheck"
                and e["param"]["command"] == command, f"authCheck {command}")
    check(event["param"]["ns"] == ns, f"{command}: ns {event['param']['ns']}, expected {ns}")
    check(event["result"] == result, f"{command}: result {event['result']}, expected {result}")
    check(event["users"] == [{"user": USER, "db": "admin"}], f"{command}: users {event['users']}")
    return event


def check_login(session, app_name, driver):
    connect = one(session, lambda e: e["atype"] == "clientConnect", "clientConnect")
    tls = connect["param"]["tls"]
    check(tls["subject"] == SUBJECT and tls["verified"] is True, f"TLS facts {tls}")
    check(tls["version"] in ("TLSv1.2", "TLSv1.3"), f"TLS version {tls['version']}")
    meta = one(session, lambda e: e["atype"] == "clientMetadata", "clientMetadata")
    client = meta["param"]["clientMetadata"]
    check(app_name in client.get("application", {}).get("name", ""), f"application {client}")
    check(driver in client["driver"]["name"], f"driver {client['driver']}")
    check(meta["param"]["localEndpoint"]["ip"] == "127.0.0.1", f"localEndpoint {meta['param']}")
    login = one(session, logged_in(0), "a successful authenticate")
    check(login["param"] == {"user": USER, "db": "admin", "mechanism": "SCRAM-SHA-256"},
          f"authenticate param {login['param']}")
    check(login["remote"]["ip"] == "127.0.0.1" and login["local"]["port"] > 0,
          f"endpoints {login['remote']} {login['local']}")


def no_secrets(path):
    raw = open(path, "rb").read()
    check(SECRET_VALUE.encode() not in raw, "a redacted document value reached the audit")
    check(PASSWORD.encode() not in raw, "the password reached the audit")


# ---------------------------------------------------------------- cases


def pymongo_login_crud_and_failure(server, path):
    client = server.pymongo(appname="audit-pymongo")
    try:
        docs = client.audit_it.docs
        docs.insert_one({"card": SECRET_VALUE, "n": 1})
        check(docs.find_one({"n": 1})["card"] == SECRET_VALUE, "find did not read the insert")
        docs.update_one({"n": 1}, {"$set": {"n": 2}})
        docs.delete_one({"n": 2})
        try:
            client.audit_it.command("noSuchCommand")
            check(False, "noSuchCommand succeeded")
        except OperationFailure as e:
            check(e.code == 59, f"code {e.code}")
    finally:
        client.close()
    events = wait_until(lambda: json_events(path),
                        lambda ev: any(e["atype"] == "authCheck"
                                       and e["param"]["command"] == "noSuchCommand" for e in ev),
                        "the failing command")
    session = session_of(events, logged_in(0))
    check_login(session, "audit-pymongo", "PyMongo")
    insert = check_command(session, "insert", "audit_it.docs")
    # The inserted document is counted as it passes, never copied.
    sequences = insert["param"].get("sequences")
    check("documents" not in insert["param"]["args"]
          and [(s["identifier"], s["count"]) for s in sequences or []] == [("documents", 1)]
          and sequences[0]["bytes"] > 0,
          f"insert sequences: {insert['param']}")
    check_command(session, "find", "audit_it.docs")
    for command, identifier in (("update", "updates"), ("delete", "deletes")):
        event = check_command(session, command, "audit_it.docs")
        check([s["identifier"] for s in event["param"].get("sequences", [])] == [identifier],
              f"{command} sequences: {event['param']}")
    check_command(session, "noSuchCommand", "audit_it", result=59)
    check(len({json.dumps(e["uuid"]) for e in session}) == 1, "a session with two uuids")
    no_secrets(path)


def pymongo_failed_login(server, path):
    client = server.pymongo(password="not-the-password")
    try:
        client.admin.command("ping")
        check(False, "a wrong password logged in")
    except OperationFailure as e:
        check(e.code == 18, f"code {e.code}")
    finally:
        client.close()
    events = wait_until(lambda: json_events(path), lambda ev: any(map(logged_in(18), ev)),
                        "authenticate with result 18")
    session = session_of(events, logged_in(18))
    check(not any(e["users"] for e in session), "a failed login left a user on the connection")
    check(not any(map(logged_in(0), session)), "a failed login audited as a success")


def mongosh_login_and_commands(server, path):
    script = ("db.getSiblingDB('audit_sh').docs.insertOne({card: '%s'});"
              "let code = null;"
              "try { db.getSiblingDB('audit_sh').runCommand({noSuchCommand: 1}); }"
              " catch (e) { code = e.code; }"
              "print('RESULT ' + JSON.stringify({code}))" % SECRET_VALUE)
    cmd = [CONFIG["mongosh"], "--quiet", server.uri() + "&appName=audit-mongosh", "--tls",
           "--tlsCAFile", CA, "--tlsCertificateKeyFile", CLIENT, "--eval", script]
    p = subprocess.run(cmd, env=dict(os.environ, HOME=CONFIG["mongosh_home"]),
                       capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    check('RESULT {"code":59}' in p.stdout, f"mongosh: {p.stdout[-300:]} {p.stderr[-300:]}")
    events = wait_until(lambda: json_events(path),
                        lambda ev: any(e["atype"] == "authCheck" and e["param"]["ns"] == "audit_sh"
                                       for e in ev), "mongosh's failing command")
    session = session_of(events, lambda e: e["atype"] == "authCheck"
                         and e["param"]["ns"] == "audit_sh.docs")
    check_login(session, "audit-mongosh", "nodejs")
    check_command(session, "insert", "audit_sh.docs")
    check_command(session, "noSuchCommand", "audit_sh", result=59)
    no_secrets(path)


NODE_SCRIPT = r"""
const { MongoClient } = require('mongodb');
(async () => {
  const [uri, ca, cert, secret] = process.argv.slice(1);
  const client = new MongoClient(uri, { tls: true, tlsCAFile: ca, tlsCertificateKeyFile: cert,
                                        appName: 'audit-node' });
  await client.connect();
  const docs = client.db('audit_node').collection('docs');
  await docs.insertOne({ card: secret });
  await docs.findOne({ card: secret });
  let code = null;
  try { await client.db('audit_node').command({ noSuchCommand: 1 }); } catch (e) { code = e.code; }
  await client.close();
  console.log('RESULT ' + JSON.stringify({ code }));
})().catch((e) => { console.log('ERROR ' + e); process.exit(1); });
"""


def node_login_and_commands(server, path):
    p = subprocess.run(["node", "-e", NODE_SCRIPT, server.uri(), CA, CLIENT, SECRET_VALUE],
                       env=dict(os.environ, NODE_PATH=NODE_MODULES), capture_output=True,
                       text=True, timeout=90, stdin=subprocess.DEVNULL)
    check('RESULT {"code":59}' in p.stdout, f"node: {p.stdout[-300:]} {p.stderr[-300:]}")
    events = wait_until(lambda: json_events(path),
                        lambda ev: any(e["atype"] == "authCheck"
                                       and e["param"]["ns"] == "audit_node" for e in ev),
                        "the Node driver's failing command")
    session = session_of(events, lambda e: e["atype"] == "authCheck"
                         and e["param"]["ns"] == "audit_node.docs")
    check_login(session, "audit-node", "nodejs")
    check_command(session, "insert", "audit_node.docs")
    check_command(session, "find", "audit_node.docs")
    check_command(session, "noSuchCommand", "audit_node", result=59)
    no_secrets(path)


def bson_events(path):
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        return list(bson.decode_file_iter(f))


def filtered_bson_file(server, path):
    client = server.pymongo()
    client.audit_bson.docs.insert_one({"n": 1})
    client.close()
    bad = server.pymongo(password="wrong")
    try:
        bad.admin.command("ping")
    except OperationFailure:
        pass
    finally:
        bad.close()
    events = wait_until(lambda: bson_events(path),
                        lambda ev: any(map(logged_in(18), ev)) and any(map(logged_in(0), ev)),
                        "both logins in the BSON file")
    check({e["atype"] for e in events} == {"authenticate"},
          f"the filter let through {sorted({e['atype'] for e in events})}")
    for e in events:
        check(e["ts"].__class__.__name__ == "datetime", f"ts is {type(e['ts'])}")
        conn_id(e)
        check(list(e.keys())[:2] == ["atype", "ts"], f"field order {list(e.keys())}")


def console_destination(server):
    client = server.pymongo()
    client.admin.command("ping")
    client.close()
    events = wait_until(lambda: json_events(server.stdout), lambda ev: any(map(logged_in(0), ev)),
                        "a login on mongossl's stdout")
    session_of(events, logged_in(0))


def compressed_session(server, path, backend, compressor):
    client = server.pymongo(compressors=compressor)
    try:
        client.audit_zip.docs.insert_one({"card": SECRET_VALUE, "via": compressor})
        try:
            client.audit_zip.command("noSuchCommand", 1, comment=compressor)
        except OperationFailure as e:
            check(e.code == 59, f"code {e.code}")
    finally:
        client.close()
    check(backend.compressed.get(compressor, 0) > 0, f"no {compressor} request reached the backend")

    def mine(e):
        return (e["atype"] == "authCheck" and e["param"]["command"] == "noSuchCommand"
                and e["param"].get("compressor") == compressor)
    events = wait_until(lambda: json_events(path), lambda ev: any(map(mine, ev)),
                        f"a {compressor} command")
    session = session_of(events, mine)
    failed = check_command(session, "noSuchCommand", "audit_zip", result=59)
    check(failed["param"]["args"].get("comment") == compressor, f"args {failed['param']}")
    insert = check_command(session, "insert", "audit_zip.docs")
    check(insert["param"].get("compressor") == compressor, f"insert {insert['param']}")
    no_secrets(path)


def counters_scraped(server, path):
    def scrape():
        url = f"http://127.0.0.1:{server.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
                if not s.labels}
    deadline = time.monotonic() + 10
    while True:
        values, lines = scrape(), len(json_events(path))
        if values.get("mongossl_audit_events_total") == lines:
            break
        check(time.monotonic() < deadline,
              f"audit_events_total {values.get('mongossl_audit_events_total')}, file has {lines}")
        time.sleep(0.2)
    check(values.get("mongossl_audit_dropped_total") == 0, "events were dropped")
    check(values.get("mongossl_audit_write_errors_total") == 0, "write errors")


def main():
    upstream = secantus_with_auth()
    backend = CompressingBackend("127.0.0.1", upstream)
    backend.start()
    files = {n: os.path.join(WORK, f"audit-{n}.{'bson' if n == 'bson' else 'json'}")
             for n in ("json", "bson", "zip")}
    main_server = Mongossl("json", upstream, "--auditDestination", "file",
                           "--auditPath", files["json"], metrics=True)
    bson_server = Mongossl("bson", upstream, "--auditDestination", "file", "--auditFormat",
                           "BSON", "--auditPath", files["bson"], "--auditFilter",
                           '{ atype: "authenticate", "param.db": { $in: ["admin"] } }')
    console_server = Mongossl("console", upstream, "--auditDestination", "console")
    zip_server = Mongossl("zip", backend.port, "--auditDestination", "file",
                          "--auditPath", files["zip"])
    run.case("pymongo login, CRUD and a failing command", pymongo_login_crud_and_failure,
             main_server, files["json"])
    run.case("pymongo failed login (18)", pymongo_failed_login, main_server, files["json"])
    run.case("mongosh login and commands", mongosh_login_and_commands, main_server, files["json"])
    run.case("node login and commands", node_login_and_commands, main_server, files["json"])
    run.case("filtered BSON file read back with bson", filtered_bson_file, bson_server,
             files["bson"])
    run.case("console destination", console_destination, console_server)
    for compressor in ("zlib", "zstd", "snappy"):
        if compressor in BY_NAME:
            run.case(f"compressed session ({compressor})", compressed_session, zip_server,
                     files["zip"], backend, compressor)
        else:
            run.case(f"compressed session ({compressor})", check, False,
                     f"no Python module for {compressor}: run scripts/install-deps.sh")
    run.case("audit counters match the file", counters_scraped, main_server, files["json"])
    backend.stop()


try:
    main()
finally:
    for proc in PROCS:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    if run.failed == 0:
        shutil.rmtree(WORK, ignore_errors=True)
    else:
        print(f"audit: logs kept in {WORK}", file=sys.stderr)
run.exit()
