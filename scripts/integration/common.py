"""Shared plumbing for the Python integration cases (PyMongo and mongosh).

The bash driver (scripts/integration.sh) writes a JSON file describing the PKI
and the running mongossl instances and passes its path as argv[1]. Each case is
a function; `Runner.case` runs it and prints exactly one line on stdout:
`PASS name` or `FAIL name: reason`. Diagnostics go to stderr.
"""
import json
import os
import sys
import time
import traceback


class CaseFailure(Exception):
    """A case's assertion did not hold."""


def check(cond, msg):
    if not cond:
        raise CaseFailure(msg)


class Config:
    def __init__(self, path):
        with open(path) as f:
            self.raw = json.load(f)
        self.pki = self.raw["pki"]
        self.server_password = self.raw["server_password"]
        self.client_password = self.raw["client_password"]
        self.instances = self.raw["instances"]
        self.mongosh = self.raw.get("mongosh")
        self.mongosh_home = self.raw.get("mongosh_home")
        self.only = os.environ.get("CASES")  # optional substring filter

    def file(self, name):
        return os.path.join(self.pki, name)

    def port(self, inst):
        return self.instances[inst]["port"]

    def log(self, inst):
        return LogWatch(self.instances[inst]["log"])


class LogWatch:
    """Looks for a line in the part of a mongossl log written after creation."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path)

    def new_text(self):
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            return f.read().decode("utf-8", "replace")

    def expect(self, needle, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            text = self.new_text()
            if needle in text:
                return text
            if time.monotonic() > deadline:
                tail = " | ".join(text.strip().splitlines()[-3:]) or "(nothing new)"
                raise CaseFailure(f"mongossl log has no {needle!r}; new log: {tail}")
            time.sleep(0.1)

    def expect_absent(self, needle, settle=0.5):
        time.sleep(settle)
        text = self.new_text()
        check(needle not in text, f"mongossl log unexpectedly has {needle!r}")


class Runner:
    def __init__(self, prefix):
        self.prefix = prefix
        self.passed = 0
        self.failed = 0

    def case(self, name, fn, *args, **kwargs):
        full = f"{self.prefix}: {name}"
        only = os.environ.get("CASES")
        if only and only not in full:
            return
        start = time.monotonic()
        try:
            fn(*args, **kwargs)
        except CaseFailure as e:
            self.failed += 1
            print(f"FAIL {full}: {e}", flush=True)
        except Exception as e:  # an unexpected error is a failure too
            self.failed += 1
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            print(f"FAIL {full}: {type(e).__name__}: {first}", flush=True)
            traceback.print_exc(file=sys.stderr)
        else:
            self.passed += 1
            print(f"PASS {full}", flush=True)
        print(f"  ({full}: {time.monotonic() - start:.1f}s)", file=sys.stderr, flush=True)

    def exit(self):
        sys.exit(1 if self.failed else 0)
