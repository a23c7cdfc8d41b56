"""The local launcher: a subprocess with the runtime environment's interpreter.

Output is streamed line by line to a callback (the task log). The component runs in its own
process group, so a kill (task killed from the UI, Airflow's ``execution_timeout``, or this
launcher's own timeout) also ends everything it started, e.g. Beam workers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from airflow_mlops.provider.launchers.base import Launcher, LaunchOutcome, LaunchRequest, component_command

log = logging.getLogger(__name__)

RUNTIME_PYTHON_ENV = "MLOPS_RUNTIME_PYTHON"
DEFAULT_RUNTIME_VENV = ".venv-runtime"


class RuntimeNotFoundError(RuntimeError):
    pass


def resolve_runtime_python(explicit: str | None = None, project_root: str | Path | None = None) -> str:
    """The runtime interpreter: ``explicit``, else ``$MLOPS_RUNTIME_PYTHON``, else Airflow config
    ``[mlops] runtime_python``, else ``<project_root>/.venv-runtime/bin/python``."""
    candidate = explicit or os.environ.get(RUNTIME_PYTHON_ENV) or _airflow_conf("runtime_python")
    if candidate:
        if not os.access(candidate, os.X_OK):
            raise RuntimeNotFoundError(f"runtime interpreter {candidate} does not exist or is not executable")
        return candidate
    if project_root is not None:
        default = Path(project_root) / DEFAULT_RUNTIME_VENV / "bin" / "python"
        if os.access(default, os.X_OK):
            return str(default)
    raise RuntimeNotFoundError(
        "no runtime environment found: run `make setup`, or set the environment variable "
        f"{RUNTIME_PYTHON_ENV} or the Airflow option [mlops] runtime_python to its python"
    )


def _airflow_conf(option: str) -> str | None:
    try:
        from airflow_mlops.provider.compat import conf
    except ImportError:  # used outside Airflow (benchmarks, runtime-side tools)
        return None
    return conf.get("mlops", option, fallback=None) or None


class LocalLauncher(Launcher):
    """Run a component as a subprocess of the task, with the runtime environment's interpreter.

    :param python: the runtime environment's interpreter.
    :param timeout: seconds after which the process group is killed (``None``: no limit).
    :param env: extra environment variables for the component.
    :param kill_grace: seconds between SIGTERM and SIGKILL.
    """

    def __init__(
        self,
        python: str,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        kill_grace: float = 10.0,
    ):
        self.python = python
        self.timeout = timeout
        self.env = dict(env or {})
        self.kill_grace = kill_grace
        self._proc: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None
        self._timed_out = False
        self._timeout = timeout
        self._start = 0.0

    name = "local"

    def start(self, request: LaunchRequest) -> None:
        command = component_command(self.python, request.component, request.spec_uri)
        env = {**os.environ, **self.env, **request.env, "PYTHONUNBUFFERED": "1"}
        log.info("launching %s", " ".join(command))
        self._start = time.monotonic()
        self._timed_out = False
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self._timeout = request.timeout if request.timeout is not None else self.timeout
        self._timer = threading.Timer(self._timeout, self._on_timeout) if self._timeout else None
        if self._timer:
            self._timer.daemon = True
            self._timer.start()

    def wait(self, on_line: Callable[[str], None]) -> LaunchOutcome:
        proc = self._proc
        assert proc is not None and proc.stdout is not None, "start() first"
        try:
            for line in proc.stdout:
                on_line(line.rstrip("\n"))
            returncode = proc.wait()
        except BaseException:
            # Airflow's execution_timeout, a SIGTERM from a task kill, Ctrl-C: the component must
            # not outlive the task.
            self.kill()
            raise
        finally:
            if self._timer:
                self._timer.cancel()
        self._reap_group(proc.pid)
        return LaunchOutcome(returncode, self._timed_out, round(time.monotonic() - self._start, 3))

    def cancel(self) -> None:
        self.kill()

    def _on_timeout(self) -> None:
        self._timed_out = True
        log.error("component exceeded its timeout of %s s; killing its process group", self._timeout)
        self.kill()

    def kill(self) -> None:
        """SIGTERM the component's process group, then SIGKILL whatever is left after the grace."""
        proc = self._proc
        if proc is None:
            return
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    @staticmethod
    def _reap_group(pgid: int) -> None:
        """Children the component left behind die with it."""
        _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
