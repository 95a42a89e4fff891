"""A real HTTP endpoint standing in for Slack or for onair's FastPix receiver: records every JSON body
posted to it (with the raw body, as text, in `_raw`, the `FastPix-Signature` header in `_signature`
and the arrival time in `_at`), and can be told to answer the next few posts with an error."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/onair"
        self.posts: list[dict[str, Any]] = []  # every attempt, including refused ones
        self.fail_next = 0
        self.lock = threading.Lock()

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.posts if p["_answered"] == 200]

    def of_event(self, event: str) -> list[dict[str, Any]]:
        return [p for p in self.delivered() if p.get("event") == event]


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            body = json.loads(raw)
            with receiver.lock:
                status = 500 if receiver.fail_next > 0 else 200
                receiver.fail_next = max(0, receiver.fail_next - 1)
                signature = self.headers.get("FastPix-Signature")
                receiver.posts.append(
                    {
                        **body,
                        "_answered": status,
                        "_raw": raw.decode(),
                        "_signature": signature,
                        "_at": time.time(),
                    }
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
