"""A MongoDB server that negotiates wire compression, for the audit cases.

SecantusDB does not compress. This relay sits in front of it and does what
mongod does: it answers a hello's `compression: [...]` list with the first
compressor it shares with the client, decompresses the client's OP_COMPRESSED
requests before passing them on, and compresses each reply to a compressed
request with that request's compressor. Everything else passes unchanged.

    backend = CompressingBackend("127.0.0.1", secantus_port)
    backend.start()          # listens on backend.port, serves in threads
    backend.compressed       # {"zlib": n, ...}: compressed requests seen
    backend.stop()
"""
import socket
import struct
import threading
import zlib

import bson

OP_REPLY, OP_QUERY, OP_COMPRESSED, OP_MSG = 1, 2004, 2012, 2013

try:
    import zstandard
except ImportError:  # PyMongo then offers no zstd either
    zstandard = None
try:
    import snappy
except ImportError:
    snappy = None

CODECS = {2: ("zlib", zlib.compress, zlib.decompress)}
if snappy:
    CODECS[1] = ("snappy", snappy.compress, snappy.decompress)
if zstandard:
    CODECS[3] = ("zstd", zstandard.ZstdCompressor().compress,
                 lambda data: zstandard.ZstdDecompressor().decompress(data))
BY_NAME = {name: ident for ident, (name, _, _) in CODECS.items()}


def read_message(sock):
    """One whole message (header included), or None at end of stream."""
    header = read_exactly(sock, 16)
    if header is None:
        return None
    length = struct.unpack_from("<i", header)[0]
    body = read_exactly(sock, length - 16)
    return None if body is None else header + body


def read_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def header(message):
    """(requestID, responseTo, opCode)."""
    return struct.unpack_from("<iii", message, 4)


def with_body(message, op_code, body):
    request_id, response_to, _ = header(message)
    return struct.pack("<iiii", 16 + len(body), request_id, response_to, op_code) + body


def command_of(message):
    """The command document of an OP_MSG/OP_QUERY request, else None."""
    _, _, op = header(message)
    try:
        if op == OP_MSG and message[20] == 0:
            return bson.decode(message[21:21 + struct.unpack_from("<i", message, 21)[0]])
        if op == OP_QUERY:
            start = message.index(b"\0", 20) + 1 + 8
            return bson.decode(message[start:start + struct.unpack_from("<i", message, start)[0]])
    except (ValueError, IndexError, bson.errors.BSONError):
        return None
    return None


def with_compression(reply, chosen):
    """A hello reply with `compression: [chosen]` added."""
    _, _, op = header(reply)
    if op == OP_MSG and reply[20] == 0:
        end = 21 + struct.unpack_from("<i", reply, 21)[0]
        doc = bson.decode(reply[21:end])
        doc["compression"] = [chosen]
        return with_body(reply, OP_MSG, reply[16:21] + bson.encode(doc) + reply[end:])
    if op == OP_REPLY:
        doc = bson.decode(reply[36:])
        doc["compression"] = [chosen]
        return with_body(reply, OP_REPLY, reply[16:36] + bson.encode(doc))
    return reply


class CompressingBackend:
    def __init__(self, upstream_host, upstream_port):
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.compressed = {}
        self.lock = threading.Lock()
        self.running = True

    def start(self):
        threading.Thread(target=self.accept, daemon=True).start()

    def stop(self):
        self.running = False
        self.listener.close()

    def accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            # requestID -> ("hello", chosen name) or ("compressed", compressor id)
            waiting = {}
            threading.Thread(target=self.requests, args=(client, upstream, waiting),
                             daemon=True).start()
            threading.Thread(target=self.replies, args=(upstream, client, waiting),
                             daemon=True).start()

    def requests(self, client, upstream, waiting):
        try:
            while (message := read_message(client)) is not None:
                request_id, _, op = header(message)
                if op == OP_COMPRESSED:
                    original, _size, ident = struct.unpack_from("<iiB", message, 16)
                    name, _, decompress = CODECS[ident]
                    with self.lock:
                        self.compressed[name] = self.compressed.get(name, 0) + 1
                    waiting[request_id] = ("compressed", ident)
                    message = with_body(message, original, decompress(message[25:]))
                else:
                    command = command_of(message) or {}
                    first = next(iter(command), "").lower()
                    offered = command.get("compression") or []
                    shared = [name for name in offered if name in BY_NAME]
                    if first in ("hello", "ismaster") and shared:
                        waiting[request_id] = ("hello", shared[0])
                upstream.sendall(message)
        except OSError:
            pass
        finally:
            close_both(client, upstream)

    def replies(self, upstream, client, waiting):
        try:
            while (message := read_message(upstream)) is not None:
                _, response_to, op = header(message)
                kind, value = waiting.pop(response_to, (None, None))
                if kind == "hello":
                    message = with_compression(message, value)
                elif kind == "compressed":
                    _, compress, _ = CODECS[value]
                    body = message[16:]
                    message = with_body(message, OP_COMPRESSED,
                                        struct.pack("<iiB", op, len(body), value) + compress(body))
                client.sendall(message)
        except OSError:
            pass
        finally:
            close_both(client, upstream)


def close_both(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass
