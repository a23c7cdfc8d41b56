"""Run the prediction service as a process: ``bentoml serve`` on 127.0.0.1 with a config file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from airflow_mlops.contract.params import InfraValidationOptions
from airflow_mlops.runtime.serving.config import CONFIG_ENV, ServingConfig

SERVICE = "airflow_mlops.runtime.serving.service:PredictionService"


class ServerError(RuntimeError):
    pass


def server_env(config_path: str | Path, state_dir: str | Path) -> dict[str, str]:
    env = dict(os.environ)
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
    so the prediction log is flushed."""

    config: ServingConfig
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return self.config.url

    @classmethod
    def start(cls, config: ServingConfig, state_dir: str | Path, wait_ready: float | None = InfraValidationOptions.start_timeout) -> ServerProcess:
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        config_path = state_dir / "config.json"
        config_path.write_text(config.to_json())
        log_path = state_dir / "server.log"
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "bentoml", "serve", SERVICE, "--host", config.host, "--port", str(config.port)],
                env=server_env(config_path, state_dir),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        server = cls(config, process, log_path)
        if wait_ready:
            server.wait(wait_ready, ready=True)
        return server

    def wait(self, timeout: float, ready: bool = True) -> None:
        """Until ``/readyz`` (or ``/healthz``) answers 200; raise with the log's tail if the
        process dies or time runs out, and at once if the pinned version is refused (it will
        never be ready: another task than the server's, see :mod:`.watcher`)."""
        path = "/readyz" if ready else "/healthz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the prediction server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                code = http_get(self.url + path)[0]
                if code == 200:
                    return
                if ready and self.config.pin_version and (reason := self._refused(str(self.config.pin_version))):
                    raise ServerError(f"the prediction server does not serve version {self.config.pin_version}: {reason}")
            except OSError:
                pass
            time.sleep(0.25)
        raise ServerError(f"the prediction server was not {'ready' if ready else 'up'} after {timeout:.0f} s:\n{self.log_tail()}")

    def _refused(self, version: str) -> str | None:
        """Why the running server refused ``version`` (``POST /status``), if it did."""
        try:
            code, status = http_post_json(self.url + "/status", {}, timeout=5)
        except (OSError, ValueError):
            return None
        refused = status.get("refused_versions") if code == 200 and isinstance(status, dict) else None
        return (refused or {}).get(version)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> int:
        return stop_process_group(self.process.pid, timeout, self.process)


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
