"""A private PostgreSQL primary with real streaming replicas, for destructive tests.

The shared server on :5432 is used by everyone's tests, so nothing here may stop it or
kill its backends. This harness builds its own cluster instead: ``initdb`` in a temp
directory, two replicas made by ``pg_basebackup -R`` (streaming replication, not a
copy), all started with ``pg_ctl`` on free ports, all stopped and deleted by
:meth:`Cluster.close`.

The server binaries refuse to run as root, so as root they run as the ``postgres`` OS
user, which then owns the temp directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
FIRST_PORT = 55432
REPLICAS = 2
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "shared_buffers": "'16MB'",
    "max_connections": "60",
    "fsync": "off",
    "full_page_writes": "off",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "hot_standby": "on",
    "wal_receiver_status_interval": "1",
    "wal_retrieve_retry_interval": "'100ms'",  # a replica reconnects fast after a restart
    "log_min_messages": "fatal",
}


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has every binary we need, or None."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version, reverse=True)
    for bindir in map(Path, candidates):
        if all((bindir / name).is_file() for name in BINARIES):
            return bindir
    return None


def _version(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def free_port(start: int = FIRST_PORT) -> int:
    """The first port from ``start`` that nothing listens on (checked by binding it)."""
    for port in range(start, start + 500):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {start}..{start + 500}")


@dataclass
class Server:
    """One server of the cluster: its data directory and port."""

    name: str
    datadir: Path
    port: int
    log: Path

    @property
    def running(self) -> bool:
        """Whether a postmaster owns the data directory (pg_ctl removes the file on stop)."""
        return (self.datadir / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


@dataclass
class Cluster:
    """A primary and two streaming replicas of it, under one temp directory."""

    bindir: Path
    root: Path
    primary: Server = field(init=False)
    replicas: list[Server] = field(default_factory=list)
    setup_seconds: float = 0.0
    _user: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def create(cls, bindir: Path) -> Cluster:
        """initdb, start the primary, clone it into the replicas, wait until they stream."""
        started = time.monotonic()
        root = Path(tempfile.mkdtemp(prefix="sqlops-cluster-"))
        user = "postgres" if os.geteuid() == 0 else None
        cluster = cls(bindir=bindir, root=root, _user=user)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        try:
            cluster._build()
        except BaseException:
            cluster.close()
            raise
        cluster.setup_seconds = time.monotonic() - started
        return cluster

    def _build(self) -> None:
        # a random start: two test sessions on one machine rarely probe the same ports
        port = free_port(FIRST_PORT + random.randrange(0, 1000, 10))
        self.primary = Server("primary", self.root / "primary", port, self.root / "primary.log")
        self._run(
            "initdb", "-D", str(self.primary.datadir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        self._configure(self.primary)
        self.start(self.primary)
        for number in range(1, REPLICAS + 1):
            port = free_port(port + 1)
            name = f"replica{number}"
            replica = Server(name, self.root / name, port, self.root / f"{name}.log")
            self._run(
                "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port),
                "-U", "postgres", "-D", str(replica.datadir), "-R", "-X", "stream", "-c", "fast",
                "--no-sync",
            )  # fmt: skip
            self._configure(replica)
            self.start(replica)
            self.replicas.append(replica)
        self.wait_streaming()

    @property
    def replica(self) -> Server:
        """The first replica."""
        return self.replicas[0]

    @property
    def servers(self) -> list[Server]:
        return [self.primary, *self.replicas]

    def _configure(self, server: Server) -> None:
        """Append our settings; the last occurrence of a setting wins."""
        settings = {
            **SERVER_SETTINGS,
            "port": str(server.port),
            "unix_socket_directories": f"'{self.root}'",
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with open(server.datadir / "postgresql.conf", "a") as conf:
            conf.write(f"\n# sqlops reliability harness\n{lines}")

    def close(self) -> None:
        """Stop both servers (immediately: the data is thrown away) and delete everything."""
        for server in [*self.replicas, getattr(self, "primary", None)]:
            if server is not None and server.running:
                with contextlib.suppress(subprocess.CalledProcessError):
                    self._run("pg_ctl", "-D", str(server.datadir), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ operations

    def start(self, server: Server) -> None:
        """Start ``server`` and wait until it accepts connections."""
        self._run("pg_ctl", "-D", str(server.datadir), "-l", str(server.log), "-w", "start")

    def stop(self, server: Server, mode: str = "immediate") -> None:
        """Stop ``server`` (``immediate``: like a crash or a pulled cable)."""
        self._run("pg_ctl", "-D", str(server.datadir), "-m", mode, "-w", "stop")

    def restart(self, server: Server, mode: str = "fast") -> None:
        """Restart ``server``: every client connection is closed by the server."""
        self._run(
            "pg_ctl", "-D", str(server.datadir), "-l", str(server.log), "-m", mode, "-w",
            "restart",
        )  # fmt: skip

    def psql(self, server: Server, sql: str, database: str = "postgres") -> str:
        """Run ``sql`` with psql on ``server``; the unaligned, tuples-only output."""
        return self._run(
            "psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres",
            "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql,
        ).strip()  # fmt: skip

    def terminate(self, server: Server, where: str, database: str = "postgres") -> int:
        """``pg_terminate_backend`` the client backends matching ``where``; wait until gone.

        Blocking on purpose: the caller's event loop does not run meanwhile, so its
        asyncpg connections cannot notice that their backends are gone.
        """
        backends = f"FROM pg_stat_activity WHERE backend_type = 'client backend' AND {where}"
        pids = self.psql(server, f"SELECT pid {backends} AND pid <> pg_backend_pid()", database)
        found = [int(pid) for pid in pids.split()]
        if found:
            listed = ",".join(map(str, found))
            self.psql(server, f"SELECT pg_terminate_backend(pid) {backends} AND pid IN ({listed})")
            while self.psql(server, f"SELECT count(*) {backends} AND pid IN ({listed})") != "0":
                time.sleep(0.005)
        return len(found)

    def wait_streaming(self, timeout: float = 30.0) -> None:
        """Wait until the primary sees every replica streaming and each is in recovery."""
        deadline = time.monotonic() + timeout
        query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        while True:
            streaming = int(self.psql(self.primary, query))
            recovering = [self.psql(r, "SELECT pg_is_in_recovery()") for r in self.replicas]
            if streaming == len(self.replicas) and set(recovering) == {"t"}:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicas are not streaming: {streaming} of them stream")
            time.sleep(0.05)

    def wait_replayed(self, timeout: float = 10.0) -> float:
        """Wait until every replica has replayed the primary's current WAL; seconds waited."""
        started = time.monotonic()
        target = self.psql(self.primary, "SELECT pg_current_wal_lsn()")
        query = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
        for replica in self.replicas:
            while self.psql(replica, query) != "t":
                if time.monotonic() - started > timeout:
                    raise RuntimeError(f"{replica.name} did not replay up to {target}")
                time.sleep(0.005)
        return time.monotonic() - started

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bindir / program), *args]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=60, cwd=self.root, check=False
        )
        if done.returncode != 0:
            raise subprocess.CalledProcessError(
                done.returncode, command, done.stdout, f"{done.stderr}\n{self._logs()}"
            )
        return done.stdout

    def _logs(self) -> str:
        texts = []
        for log in self.root.glob("*.log"):
            with contextlib.suppress(OSError):
                texts.append(f"--- {log.name}\n{log.read_text()[-2000:]}")
        return "\n".join(texts)
