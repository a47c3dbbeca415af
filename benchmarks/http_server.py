"""One uvicorn server in a subprocess: start it, ask it things, read its CPU time, stop it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any

HOST = "127.0.0.1"
IMPLEMENTATIONS = ("sqlops", "sqlalchemy", "asyncpg")  # each a factory in benchmarks.http_app
URL_ENV = "SQLOPS_HTTP_BENCH_URL"  # how the server tells its app the database (asyncpg URL)
POOL_ENV = "SQLOPS_HTTP_BENCH_POOL"
_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(Exception):
    """The server did not start, or did not answer ``GET /users/1`` with a 200."""


@dataclass(frozen=True)
class ServerOptions:
    """What every server gets alike: one worker, one event loop, no access log."""

    url: str  # postgresql+asyncpg://…
    pool_size: int = 10
    loop: str = "asyncio"
    http: str = "auto"  # httptools when installed, else h11


@dataclass
class Server:
    """``uvicorn --factory benchmarks.http_app:<impl>_app`` on a free loopback port."""

    impl: str
    options: ServerOptions
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers ``GET /users/1``."""
        self.port = free_port()
        env = {
            **os.environ,
            URL_ENV: self.options.url,
            POOL_ENV: str(self.options.pool_size),
        }
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            self.command(), env=env, stdout=subprocess.DEVNULL, stderr=self._log
        )
        deadline = time.monotonic() + timeout
        answer: Any = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{self.impl} server exited at startup:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                answer = self.request("GET", "/users/1")
                if answer[0] == 200:
                    return
            time.sleep(0.1)
        raise ServerError(
            f"{self.impl} server: GET /users/1 gave {answer!r} for {timeout:.0f} s\n"
            + self.log_tail()
        )

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"benchmarks.http_app:{self.impl}_app",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--loop",
            self.options.loop,
            "--http",
            self.options.http,
            "--no-access-log",
            "--log-level",
            "warning",
        ]

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request on a fresh connection: ``(status, decoded JSON body)``."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            payload = None if body is None else json.dumps(body)
            headers = {} if body is None else {"Content-Type": "application/json"}
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else None
        finally:
            conn.close()

    def cpu_seconds(self) -> float:
        """The server process's user + system CPU time so far (all its threads)."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # graceful: the lifespan disposes pools
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
