"""A private PgBouncer in front of the shared PostgreSQL, started and stopped by the tests.

Debian's ``pgbouncer`` binary, on a free loopback port, with its configuration, auth
file, log and pid file in a temp directory; ``auth_type = trust`` (the shared server
trusts loopback too). PgBouncer refuses to run as root, so as root it runs as the
``postgres`` OS user, as the reliability cluster does.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from tests.reliability._cluster import free_port

FIRST_PORT = 56432


CARRIES_PREPARED = (1, 21)  # the first PgBouncer with max_prepared_statements


def find_binary() -> str | None:
    """The pgbouncer executable (``$SQLOPS_PGBOUNCER`` first), or None when there is none."""
    chosen = os.environ.get("SQLOPS_PGBOUNCER")
    if chosen:
        return chosen
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
    )


def version(binary: str) -> tuple[int, int]:
    """``pgbouncer --version``'s first line, ``PgBouncer 1.18.0``, as ``(1, 18)``."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    major, minor = out.stdout.split()[1].split(".")[:2]
    return int(major), int(minor)


def carries_prepared(binary: str) -> bool:
    """Whether this PgBouncer can carry prepared statements (``max_prepared_statements``)."""
    return version(binary) >= CARRIES_PREPARED


@dataclass
class PgBouncer:
    """One running PgBouncer: its port, pool mode and directory."""

    binary: str
    mode: str
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    pool_size: int = 2
    max_prepared_statements: int = 0

    @classmethod
    def start(
        cls,
        binary: str,
        mode: str,
        server: URL,
        pool_size: int = 2,
        max_prepared_statements: int = 0,
    ) -> PgBouncer:
        """Start PgBouncer in ``mode`` (transaction / session) in front of ``server``.

        ``max_prepared_statements`` is written only where the binary knows it (1.21 on;
        1.18 refuses to start with it): 0, the default here, is what 1.18 does anyway, so
        a newer binary behaves as Debian 12's unless a test asks for more.
        """
        if max_prepared_statements and not carries_prepared(binary):
            raise ValueError(f"{binary} is older than PgBouncer 1.21: no max_prepared_statements")
        # Another worker (or session) may take the port between the probe and PgBouncer's
        # bind: then ours exits ("nowhere to listen on") while theirs answers the probe,
        # so only our own log saying it listens counts; on a lost race, the next port.
        start = FIRST_PORT + (os.getpid() % 500) * 2
        for _ in range(20):
            port = free_port(start)
            bouncer = cls._launch(binary, mode, server, port, pool_size, max_prepared_statements)
            if bouncer._wait_listening():
                return bouncer
            bouncer.stop()
            start = port + 1
        raise RuntimeError(f"pgbouncer found no free port from {FIRST_PORT}")

    @classmethod
    def _launch(
        cls,
        binary: str,
        mode: str,
        server: URL,
        port: int,
        pool_size: int,
        max_prepared_statements: int,
    ) -> PgBouncer:
        carried = (
            f"max_prepared_statements = {max_prepared_statements}\n"
            if carries_prepared(binary)
            else ""
        )
        root = Path(tempfile.mkdtemp(prefix="sqlops-pgbouncer-"))
        user = "postgres" if os.geteuid() == 0 else None
        (root / "userlist.txt").write_text(f'"{server.username}" ""\n')
        (root / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.host} port={server.port or 5432}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {root}/userlist.txt\n"
            f"pool_mode = {mode}\ndefault_pool_size = {pool_size}\nmax_client_conn = 200\n"
            f"logfile = {root}/pgbouncer.log\npidfile = {root}/pgbouncer.pid\n"
            f"admin_users = {server.username}\n"
            # Hand out server connections in turn, as a busy PgBouncer ends up doing,
            # rather than the most recently used one: state left on one shows up.
            "server_round_robin = 1\n" + carried
        )
        command = [binary, str(root / "pgbouncer.ini")]
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (root, *root.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            command = ["runuser", "-u", user, "--", *command]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return cls(binary, mode, root, port, process, pool_size, max_prepared_statements)

    def url(self, server_url: URL | str) -> URL:
        """``server_url`` pointed at this PgBouncer instead of the server."""
        return make_url(str(server_url)).set(host="127.0.0.1", port=self.port)

    def _wait_listening(self, timeout: float = 10.0) -> bool:
        """True once this PgBouncer's own log says it listens; False if it lost the port."""
        deadline, listening = time.monotonic() + timeout, f"listening on 127.0.0.1:{self.port}"
        while time.monotonic() < deadline:
            log = self._log()
            if "nowhere to listen" in log or "cannot listen" in log:
                return False
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {log}")
            if listening in log:
                with socket.socket() as probe, contextlib.suppress(OSError):
                    probe.connect(("127.0.0.1", self.port))
                    return True
            time.sleep(0.02)
        raise RuntimeError(f"pgbouncer did not listen on :{self.port}: {self._log()}")

    def _log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "pgbouncer.log").read_text()[-2000:]
        return ""

    def stop(self) -> None:
        """Stop PgBouncer and delete its directory."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # immediate; SIGINT waits for clients
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)
