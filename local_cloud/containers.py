"""Containers as local processes, run the way the runtime image would run them.

A "container" is a process of the runtime environment (``.venv-runtime``): its command is the
container's command (or the image's entrypoint, ``python -m airflow_mlops.runtime.components``)
followed by its args, where a leading ``python`` is the runtime environment's interpreter. It runs
in its own process group (so that killing the container kills whatever it started), in a fresh
empty working directory (nothing relative to the project is touched), with the environment of the
machine plus what the image sets plus the container's env; its stdout and stderr are captured line
by line, as a container runtime's log would be.

Only the images the fake registry knows (``ContainerRunner(images=...)``) can be pulled.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The runtime image's ENTRYPOINT (docker/runtime.Dockerfile).
RUNTIME_ENTRYPOINT = ["python", "-m", "airflow_mlops.runtime.components"]
# What the runtime image's ENV adds to every container's environment (docker/runtime.Dockerfile;
# HOME and the virtualenv's PATH are the machine's own here).
IMAGE_ENV = {"PYTHONUNBUFFERED": "1"}


def runtime_python() -> str:
    """The runtime environment's interpreter: ``$MLOPS_RUNTIME_PYTHON``, else ``<repo>/.venv-runtime/bin/python``."""
    return os.environ.get("MLOPS_RUNTIME_PYTHON") or str(REPO / ".venv-runtime" / "bin" / "python")


def rfc3339(when: float | None = None, *, nanos: bool = False) -> str:
    """``when`` (epoch seconds, default now) as RFC 3339 UTC: seconds precision as Kubernetes
    reports object times, or nanoseconds as its log timestamps."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    if nanos:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ImageNotFound(LookupError):
    """The fake registry does not know the image."""

    def __init__(self, image: str) -> None:
        super().__init__(f"image {image!r} is not in the registry")
        self.image = image


class Container:
    """One running (or finished) container: a process group with its captured output."""

    def __init__(self, name: str, image: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.name, self.image, self.argv, self.env, self.cwd = name, image, list(argv), dict(env), cwd
        self.lines: list[str] = []  # stdout and stderr, interleaved, one entry a line (no newline)
        self.line_times: list[float] = []  # when each line was read (epoch seconds)
        self.exit_code: int | None = None  # as a container runtime reports it: 128 + n when killed by signal n
        self.finished_at: str | None = None
        self.finished_time: float | None = None
        self._cond = threading.Condition()
        self.started_time = time.time()
        self.started_at = rfc3339(self.started_time)
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.pid = self.process.pid
        self._reader = threading.Thread(target=self._read, name=f"container-{name}-log", daemon=True)
        self._reader.start()
        threading.Thread(target=self._wait, name=f"container-{name}-wait", daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self.lines.append(line)
                self.line_times.append(time.time())
                self._cond.notify_all()
        self.process.stdout.close()

    def _wait(self) -> None:
        code = self.process.wait()
        # The output of the last moments; a grandchild still holding the pipe does not hold this up long.
        self._reader.join(timeout=2)
        with self._cond:
            self.exit_code = 128 - code if code < 0 else code
            self.finished_time = time.time()
            self.finished_at = rfc3339(self.finished_time)
            self._cond.notify_all()

    def poll(self) -> int | None:
        """The exit code once the process ended (and its output was read), else None."""
        return self.exit_code

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait up to ``timeout`` seconds for the end; the exit code, or None if it still runs."""
        with self._cond:
            self._cond.wait_for(lambda: self.exit_code is not None, timeout)
            return self.exit_code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the container's whole process group."""
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, grace: float = 2.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` seconds, as a kubelet stops a container."""
        if self.exit_code is None:
            self.kill(signal.SIGTERM)
            if self.wait(grace) is None:
                self.kill(signal.SIGKILL)
        else:
            self.kill(signal.SIGKILL)  # what the leader left behind
        return self.wait(10)

    def log_text(self) -> str:
        with self._cond:
            return "".join(line + "\n" for line in self.lines)

    def entries(self, start: int = 0, timeout: float | None = None) -> tuple[list[tuple[float, str]], bool]:
        """The lines from index ``start`` (waiting up to ``timeout`` for some if there are none yet)
        as ``(time, line)``, and whether the container has ended and everything was returned."""
        with self._cond:
            if timeout and len(self.lines) <= start and self.exit_code is None:
                self._cond.wait(timeout)
            got = list(zip(self.line_times[start:], self.lines[start:]))
            return got, self.exit_code is not None and start + len(got) >= len(self.lines)


class ContainerRunner:
    """Starts containers of the images in ``images`` as local processes of ``runtime_python``."""

    def __init__(self, runtime_python: str, images: Iterable[str], base_env: Mapping[str, str] | None = None,
                 workdir_root: Path | None = None) -> None:
        self.runtime_python = str(runtime_python)
        self.images = set(images)
        self.base_env = dict(base_env) if base_env is not None else None  # None: os.environ when a container starts
        self.workdir_root = Path(workdir_root) if workdir_root else Path(tempfile.mkdtemp(prefix="local-cloud-"))
        self.workdir_root.mkdir(parents=True, exist_ok=True)
        self.containers: list[Container] = []
        self._lock = threading.Lock()

    def knows(self, image: str) -> bool:
        return image in self.images

    def argv(self, command: Sequence[str] | None, args: Sequence[str] | None) -> list[str]:
        """The process's argv: ``command`` (the entrypoint when empty) + ``args``, the leading
        ``python`` being the runtime interpreter."""
        argv = [*(command or RUNTIME_ENTRYPOINT), *(args or [])]
        if argv and argv[0] == "python":
            argv[0] = self.runtime_python
        return argv

    def start(self, name: str, image: str, command: Sequence[str] | None, args: Sequence[str] | None,
              env: Mapping[str, str] | None) -> Container:
        if not self.knows(image):
            raise ImageNotFound(image)
        environ = {**(os.environ if self.base_env is None else self.base_env), **IMAGE_ENV, **(env or {})}
        cwd = Path(tempfile.mkdtemp(prefix=re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:60] + "-", dir=self.workdir_root))
        container = Container(name, image, self.argv(command, args), environ, cwd)
        with self._lock:
            self.containers.append(container)
        return container

    def stop_all(self) -> None:
        """Kill every container still running (and whatever its process group left behind)."""
        with self._lock:
            containers = list(self.containers)
        for container in containers:
            container.kill(signal.SIGKILL)
        for container in containers:
            container.wait(10)
