"""Mechanics shared by the Salesforce and HubSpot emulators.

Each emulator is a plain WSGI callable; this module runs it on a thread (tests) or in the
foreground (``manage.py sandbox``), injects faults, counts calls and guards the control API.
Nothing here knows either CRM's wire format.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import secrets
import socket
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from werkzeug.routing import Rule
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__sandbox__/"
FAULT_KINDS = ("error_503", "rate_limit", "expired_session", "slow", "drop_connection")
# The control endpoints both sandboxes answer (``sandbox.control_client.ControlClient`` calls them);
# each app adds its own. Copy them into a Map with ``rule.empty()``: a rule binds to one map.
SHARED_CONTROL_RULES = [
    Rule("/__sandbox__/reset", methods=["POST"], endpoint="reset"),
    Rule("/__sandbox__/seed", methods=["POST"], endpoint="seed"),
    Rule("/__sandbox__/faults", methods=["GET", "POST", "DELETE"], endpoint="faults"),
    Rule("/__sandbox__/stats", methods=["GET", "DELETE"], endpoint="stats"),
]


@dataclass
class Fault:
    """One injected fault. ``count`` answers, or a ``share`` (0..1) of answers, or both unset = every answer."""

    kind: str
    endpoint: str = "*"  # fnmatch pattern on the request path
    method: str = "*"
    count: int | None = None
    share: float | None = None
    delay_seconds: float = 2.0  # for kind "slow"
    id: str = field(default_factory=lambda: secrets.token_hex(4))

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and fnmatch.fnmatch(path, self.endpoint)


class FaultInjector:
    """Thread-safe list of faults; ``take`` decides whether the current answer is faulted."""

    def __init__(self, *, seed: int = 1) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._tick = seed

    def add(self, **options) -> Fault:
        if options.get("kind") not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        fault = Fault(**options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict]:
        with self._lock:
            return [asdict(fault) for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.matches(method, path):
                    continue
                if fault.share is not None:
                    # Deterministic spread: every round(1/share)-th matching call is faulted.
                    self._tick += 1
                    if fault.share <= 0 or self._tick % max(1, round(1 / fault.share)):
                        continue
                if fault.count is not None:
                    if fault.count <= 0:
                        continue
                    fault.count -= 1
                return fault
        return None


class CallStats:
    """Counts answered calls by ``METHOD path-pattern``."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, method: str, endpoint: str) -> None:
        with self._lock:
            self._counts[f"{method.upper()} {endpoint}"] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"total": sum(self._counts.values()), "by_endpoint": dict(self._counts)}

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


def drop_connection(environ: dict) -> Response:
    """Close the client's socket without an answer, as a dropped connection looks to the client."""
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
    return Response(status=500)  # never reaches the client


def apply_delay(fault: Fault) -> None:
    time.sleep(fault.delay_seconds)


def control_authorised(request: Request, token: str) -> bool:
    """The control API takes ``Authorization: Bearer <control token>``."""
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return secrets.compare_digest(given, token)


def json_response(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


def load_or_create_secret(path: Path, nbytes: int = 24) -> str:
    """A secret kept on disk so tokens survive restarts of the sandbox."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    path.write_text(value)
    return value


def connect_sqlite(path: Path) -> sqlite3.Connection:
    """One connection per thread; WAL so readers never block the writer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


class SandboxApp:
    """The WSGI entry both emulators share: calls under ``/__sandbox__/`` go to ``control``, every
    other to ``api_response``; emulated calls are counted and faulted through ``count_and_fault``.

    A subclass supplies ``control(request)``, ``api_response(request, environ)`` and
    ``fault_answer(kind)``: the answer its CRM gives for an ``error_503``, ``rate_limit`` or
    ``expired_session`` fault.
    """

    def __init__(self) -> None:
        self.faults = FaultInjector()
        self.stats = CallStats()

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith(CONTROL_PREFIX):
            response = self.control(request)
        else:
            response = self.api_response(request, environ)
        return response(environ, start_response)

    def control(self, request: Request) -> Response:
        raise NotImplementedError

    def api_response(self, request: Request, environ) -> Response:
        raise NotImplementedError

    def fault_answer(self, kind: str) -> Response:
        raise NotImplementedError

    def count_and_fault(self, request: Request, environ, label: str) -> Response | None:
        """Counts the call under ``label``, then applies the first matching fault: the answer to
        give instead, or None to go on (after the delay of a ``slow`` fault)."""
        self.stats.record(request.method, label)
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            return None
        if fault.kind == "drop_connection":
            return drop_connection(environ)
        if fault.kind == "slow":
            apply_delay(fault)
            return None
        return self.fault_answer(fault.kind)


class SandboxServer:
    """Runs a WSGI app with Werkzeug's threaded server, in a thread or in the foreground."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, ssl_context=None) -> None:
        self._server = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        self.host = host
        self.port = self._server.server_port
        self.scheme = "https" if ssl_context else "http"
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
