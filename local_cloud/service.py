"""What the local cloud's fake services share: a threaded HTTP server on 127.0.0.1, JSON
answers, faults injected into the next matching pod or job, and waiting for a condition."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def send(handler: BaseHTTPRequestHandler, code: int, data: bytes, content_type: str = "application/json") -> None:
    """One whole answer with its length (keep-alive connections stay usable)."""
    handler.send_response(code)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def send_json(handler: BaseHTTPRequestHandler, code: int, answer: Any) -> None:
    send(handler, code, json.dumps(answer).encode())


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {predicate}")
        time.sleep(0.05)


class LoopbackServer:
    """``handler`` served by a :class:`ThreadingHTTPServer` on ``host`` (127.0.0.1, a free port) in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], name: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        bound_host, bound_port = self._server.server_address[:2]
        self.url = f"http://{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class Faults:
    """Faults waiting for the next pod or job whose command line contains their ``match``."""

    def __init__(self, known: tuple[str, ...]) -> None:
        self.known = known
        self._waiting: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def inject(self, fault: str, match: str = "") -> None:
        if fault not in self.known:
            raise ValueError(f"unknown fault {fault!r}; known: {self.known}")
        with self._lock:
            self._waiting.append((fault, match))

    @property
    def waiting(self) -> list[tuple[str, str]]:
        """``(fault, match)`` of the faults not applied yet."""
        with self._lock:
            return list(self._waiting)

    def take(self, command_line: str) -> str | None:
        """The first waiting fault that matches ``command_line``, no longer waiting; else None."""
        with self._lock:
            for index, (fault, match) in enumerate(self._waiting):
                if match in command_line:
                    del self._waiting[index]
                    return fault
        return None
