"""Run the prediction service as a process: ``bentoml serve`` on 127.0.0.1 with a config file.

Every process a server consists of (``bentoml serve`` and the workers it spawns) carries
``$MLOPS_SERVER_ID`` (:data:`MARKER_ENV`), unique per server, in its environment:
:meth:`ServerProcess.stop` finds and stops them all by it (SIGTERM, then SIGKILL after a grace),
whether or not the server has its own process group.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from airflow_mlops.contract.params import InfraValidationOptions
from airflow_mlops.runtime.serving.config import CONFIG_ENV, ServingConfig

log = logging.getLogger(__name__)

SERVICE = "airflow_mlops.runtime.serving.service:PredictionService"
#: set to a unique id in the environment of a server's processes (inherited by BentoML's workers)
MARKER_ENV = "MLOPS_SERVER_ID"


class ServerError(RuntimeError):
    """The server did not come up: it exited, or was not ready in time (infrastructure)."""


class VersionRefused(ServerError):
    """The pinned version is refused for good (:class:`~airflow_mlops.runtime.serving.models.NotServable`)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


class VersionLoadFailed(ServerError):
    """Loading the pinned version failed (the watcher's ``last_error`` in ``/status``)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def server_env(config_path: str | Path, state_dir: str | Path, marker: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env[MARKER_ENV] = marker
    env[CONFIG_ENV] = str(config_path)
    env.setdefault("BENTOML_HOME", str(Path(state_dir) / "bentoml"))
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("BENTOML_DO_NOT_TRACK", "true")
    return env


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post_json(url: str, body, timeout: float = 30.0, headers: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload)
        except ValueError:
            return exc.code, payload.decode(errors="replace")


@dataclass
class ServerProcess:
    """A running ``bentoml serve`` of :data:`SERVICE`; ``stop()`` is a clean shutdown (SIGTERM),
    so the prediction log is flushed, then SIGKILL for whatever of it is left after the grace.

    ``own_session``: the server runs in a session (and process group) of its own, so it outlives
    its starter (``python -m airflow_mlops.runtime.serving start``). Without it the server stays in
    its starter's process group: a launcher killing a component's group (task killed, timeout,
    SIGKILL) takes the server it started with it (infra validation)."""

    config: ServingConfig
    process: subprocess.Popen
    log_path: Path
    marker: str = ""
    own_session: bool = True

    @property
    def url(self) -> str:
        return self.config.url

    @classmethod
    def start(
        cls,
        config: ServingConfig,
        state_dir: str | Path,
        wait_ready: float | None = InfraValidationOptions.start_timeout,
        own_session: bool = True,
        stop_grace: float = 30.0,
    ) -> ServerProcess:
        """Start the server; with ``wait_ready``, wait until it is ready - if it is not (an error,
        time out, an interrupt), it is stopped (``stop_grace``) before the error propagates."""
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        config_path = state_dir / "config.json"
        config_path.write_text(config.to_json())
        log_path = state_dir / "server.log"
        marker = uuid.uuid4().hex
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", config.host, "--port", str(config.port)],
                env=server_env(config_path, state_dir, marker),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=own_session,
            )
        server = cls(config, process, log_path, marker, own_session)
        if wait_ready:
            try:
                server.wait(wait_ready, ready=True)
            except BaseException:
                server.stop(stop_grace)
                raise
        return server

    def wait(self, timeout: float, ready: bool = True) -> None:
        """Until ``/readyz`` (or ``/healthz``) answers 200; raise with the log's tail if the
        process dies or time runs out (:class:`ServerError`). A server pinned to a version fails
        at once when that version is refused (:class:`VersionRefused`: another task than the
        server's, see :mod:`.watcher`) or its load failed (:class:`VersionLoadFailed`: the
        watcher's ``last_error`` in ``/status``; the server would retry it at every poll)."""
        path = "/readyz" if ready else "/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the prediction server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                code = http_get(self.url + path)[0]
                if code == 200:
                    return
                if ready and self.config.pin_version:
                    self._raise_if_not_loadable(str(self.config.pin_version))
            except OSError:
                pass
            time.sleep(0.25)
        raise ServerError(f"the prediction server was not {'ready' if ready else 'up'} after {timeout:.0f} s:\n{self.log_tail()}")

    def _raise_if_not_loadable(self, version: str) -> None:
        """Raise if the running server refused ``version`` or failed to load it (``POST /status``)."""
        try:
            code, status = http_post_json(self.url + "/status", {}, timeout=5)
        except (OSError, ValueError):
            return
        if code != 200 or not isinstance(status, dict):
            return
        if reason := (status.get("refused_versions") or {}).get(version):
            raise VersionRefused(f"the prediction server does not serve version {version}: {reason}", reason)
        if status.get("champion") is None and (reason := status.get("last_error")):
            raise VersionLoadFailed(f"the prediction server could not load version {version}: {reason}", reason)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM the server (its group, if it has its own), wait up to ``timeout`` for it and
        every process carrying its marker to end, SIGKILL what is left; the exit code."""
        import psutil

        if not self.marker:
            return stop_process_group(self.process.pid, timeout, self.process)
        family = [*_tree(self.process.pid), *_marked(self.marker)]
        if self.own_session:
            _signal_group(self.process.pid, signal.SIGTERM)
        elif self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None and not any(_running(p) for p in family) and not _marked(self.marker):
                break
            time.sleep(0.2)
        else:
            log.warning("the prediction server did not stop within %.0f s; killing what is left of it", timeout)
        if self.own_session:
            _signal_group(self.process.pid, signal.SIGKILL)
        for p in [*family, *_marked(self.marker)]:
            try:
                p.kill()
            except psutil.Error:
                pass
        return self.process.wait()


def stop_process_group(pid: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> int | None:
    """SIGTERM the server's process group, SIGKILL what is left after ``timeout``."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return process.wait() if process else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                break
        elif not _alive(pid):
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return process.wait() if process else None


def exit_with_server() -> None:
    """Called in a server's worker process (:class:`~.watcher.ModelWatcher`): the worker gets a
    SIGTERM (a clean shutdown, the prediction log flushed) when ``bentoml serve``, its parent,
    dies. BentoML's process manager (circus) starts each worker in a session of its own, so
    neither a kill of the server's process group nor a SIGKILL of ``bentoml serve`` reaches it:
    without this the worker, model loaded, outlives them. Linux only (``PR_SET_PDEATHSIG``); a
    no-op outside a server started by :class:`ServerProcess` (no :data:`MARKER_ENV`)."""
    marker = os.environ.get(MARKER_ENV)
    if not marker or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    try:  # the parent died before the prctl: it is now init or a subreaper, without the marker
        with open(f"/proc/{os.getppid()}/environ", "rb") as f:
            orphaned = f"{MARKER_ENV}={marker}".encode() not in f.read().split(b"\0")
    except OSError:
        orphaned = True
    if orphaned:
        log.error("the prediction server (parent of this worker) is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tree(pid: int) -> list:
    """``pid`` and its descendants (psutil processes: a kill never hits a reused pid)."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _marked(marker: str) -> list:
    """The running processes whose environment has ``$MLOPS_SERVER_ID`` = ``marker``."""
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.environ().get(MARKER_ENV) == marker and _running(p):
                found.append(p)
        except psutil.Error:  # gone, a zombie, or not ours
            pass
    return found


def _running(p) -> bool:
    import psutil

    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not reaped by us) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True
