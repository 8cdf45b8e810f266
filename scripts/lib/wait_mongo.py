#!/usr/bin/env python3
"""Wait until a MongoDB server answers `hello` over plaintext TCP.

    wait_mongo.py HOST PORT [TIMEOUT_SECONDS]

Speaks just enough of the wire protocol (one OP_MSG `hello`) that it needs no
driver, so it runs under any python3. Exit 0 once an `ok` reply arrives, 1 on
timeout.
"""
import socket
import struct
import sys
import time

OP_MSG = 2013


def bson_hello() -> bytes:
    def elem_int(name: str, v: int) -> bytes:
        return b"\x10" + name.encode() + b"\x00" + struct.pack("<i", v)

    def elem_str(name: str, v: str) -> bytes:
        s = v.encode() + b"\x00"
        return b"\x02" + name.encode() + b"\x00" + struct.pack("<i", len(s)) + s

    body = elem_int("hello", 1) + elem_str("$db", "admin")
    return struct.pack("<i", 4 + len(body) + 1) + body + b"\x00"


def hello_once(host: str, port: int, timeout: float) -> bool:
    doc = bson_hello()
    payload = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0
    header = struct.pack("<iiii", 16 + len(payload), 1, 0, OP_MSG)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(header + payload)
        head = b""
        while len(head) < 16:
            chunk = s.recv(16 - len(head))
            if not chunk:
                return False
            head += chunk
        length, _, _, opcode = struct.unpack("<iiii", head)
        rest = b""
        while len(rest) < length - 16:
            chunk = s.recv(length - 16 - len(rest))
            if not chunk:
                return False
            rest += chunk
        # A reply that parses as OP_MSG with a document is good enough; the
        # `ok` field is a double named "ok" somewhere in the body.
        return opcode == OP_MSG and b"\x01ok\x00" in rest


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    deadline = time.monotonic() + (float(sys.argv[3]) if len(sys.argv) > 3 else 30.0)
    while time.monotonic() < deadline:
        try:
            if hello_once(host, port, 2.0):
                return 0
        except OSError:
            pass
        time.sleep(0.2)
    return 1


if __name__ == "__main__":
    sys.exit(main())
