"""Run a rendered service (or any server) as a real process, and always clean it up.

Each server runs in its own session (`start_new_session=True`), so its process id is also its
process group id: `stop()` signals the leader only, as a container runtime signals PID 1, and
`kill()` ends the whole group, workers included, when a test leaves one behind. `Servers` keeps
every process a test started and kills the leftovers on exit (use it in fixture teardown).

Output goes to files, never to pipes: a server that logs a lot cannot block on a full pipe, and
the logs stay readable after the process has gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now (the kernel picks it; free it for the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1, about: str = ""
) -> float:
    """Poll `predicate` until it is true; return the seconds it took, fail after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {about}")
        time.sleep(interval)
    return time.monotonic() - started


@dataclass
class Server:
    """A server process: its port, its logs and how to stop it."""

    argv: list[str]
    cwd: Path
    port: int
    stdout_path: Path
    stderr_path: Path
    process: subprocess.Popen[bytes]
    started_at: float = field(default_factory=time.monotonic)
    host: str = LOOPBACK

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # --- output -----------------------------------------------------------------------------

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def json_lines(self) -> list[dict[str, Any]]:
        """Every stdout line as a JSON object; fail, quoting the line, when one is not."""
        records = []
        for number, line in enumerate(self.stdout().splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AssertionError(
                    f"stdout line {number} is not JSON ({exc}): {line!r}\n{self.describe()}"
                ) from None
            if not isinstance(record, dict):
                raise AssertionError(f"stdout line {number} is not a JSON object: {line!r}")
            records.append(record)
        return records

    def describe(self, tail: int = 60) -> str:
        """For failure messages: the command, the exit status and the end of both logs."""
        out = self.stdout().splitlines()[-tail:]
        err = self.stderr().splitlines()[-tail:]
        return "\n".join(
            [
                f"server: {' '.join(self.argv)} (cwd {self.cwd}, port {self.port})",
                f"pid {self.pid}, exit code {self.process.poll()}",
                f"--- stdout (last {tail} lines) ---",
                *out,
                f"--- stderr (last {tail} lines) ---",
                *err,
            ]
        )

    # --- readiness --------------------------------------------------------------------------

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("timeout", 5.0)
        return httpx.get(self.url + path, **kwargs)

    def wait_ready(self, path: str = "/readyz", timeout: float = 30.0) -> float:
        """Poll `path` until it answers 200; return the seconds since the process started.

        Fails at once, with the logs, when the process exits while we wait.
        """
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited before {path} was ready\n{self.describe()}"
                )
            try:
                response = self.get(path, timeout=1.0)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return time.monotonic() - self.started_at
                last = f"{response.status_code} {response.text[:200]}"
            time.sleep(0.1)
        raise AssertionError(f"{path} not ready within {timeout:.0f} s ({last})\n{self.describe()}")

    def wait_until(self, predicate: Callable[[], bool], *, timeout: float, about: str) -> float:
        """`wait_for` that quotes the server's logs when it times out."""
        try:
            return wait_for(predicate, timeout=timeout, about=about)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe()}") from None

    def refuses_connections(self) -> bool:
        """Whether a new TCP connection to the port is refused."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    # --- stopping ---------------------------------------------------------------------------

    def signal(self, signum: int = signal.SIGTERM) -> float:
        """Signal the process group leader only (like `docker stop`); return the moment sent."""
        self.process.send_signal(signum)
        return time.monotonic()

    def wait_exit(self, timeout: float) -> int:
        """The exit code; fail (and kill the group) when the process outlives `timeout`."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the server did not exit within {timeout:.0f} s\n{self.describe()}"
            ) from None

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM to the leader, then wait for it; return the exit code."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def group_members(self) -> list[str]:
        """Live processes (zombies left out) of the server's group: workers outliving the server.

        Reads /proc (Linux). Zombies are left out: they hold no socket and no memory, and a
        sandbox's PID 1 may never reap what gets reparented to it.
        """
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            command, _, rest = text.rpartition(")")
            fields = rest.split()
            if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == self.pid:
                members.append(f"{stat.parent.name} {command.partition('(')[2]} [{fields[0]}]")
        return members

    def kill(self) -> None:
        """SIGKILL the whole process group (leader and workers) and reap the leader."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def start(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    port: int,
    logs: Path,
    env: Mapping[str, str] | None = None,
) -> Server:
    """Start `argv` in its own session with stdout and stderr written to files under `logs`."""
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / f"{port}.stdout.log", logs / f"{port}.stderr.log"
    command = [str(arg) for arg in argv]
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    return Server(
        argv=command,
        cwd=cwd,
        port=port,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        process=process,
    )


class Servers:
    """The servers a test started; on exit, every one still running is killed with its group."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[Server] = []

    def start(
        self,
        argv: Sequence[str | Path],
        *,
        cwd: Path,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> Server:
        server = start(argv, cwd=cwd, port=port or free_port(), logs=self.logs, env=env)
        self.started.append(server)
        return server

    def kill_all(self) -> None:
        for server in self.started:
            server.kill()

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.kill_all()
