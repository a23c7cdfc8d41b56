"""The local launcher: streaming, exit codes, process-group kill on timeout and on kill."""

from __future__ import annotations

import os
import stat
import textwrap
import threading
import time
from pathlib import Path

import pytest

from airflow_mlops.provider.launchers import LaunchRequest, LocalLauncher, resolve_runtime_python
from airflow_mlops.provider.launchers.local import RuntimeNotFoundError


def fake_python(tmp_path: Path, body: str) -> str:
    """An executable standing in for the runtime interpreter; it gets the component's argv."""
    path = tmp_path / "python"
    path.write_text("#!/bin/bash\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" not in status.read_text()


def assert_dies(*pids: int, within: float = 30.0) -> None:
    """Every pid ends within ``within`` seconds (a killed process group takes a moment to go on a
    busy machine; one that survives its kill is still there at the deadline)."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running after {within} s: {[p for p in pids if alive(p)]}"
        time.sleep(0.05)


def test_command_line_and_streaming(tmp_path):
    """Streamed as produced, not collected at exit: the component writes its second line only
    once the caller has seen the first (it waits for the file the callback creates)."""
    seen_first = tmp_path / "seen-first"
    python = fake_python(
        tmp_path,
        f"""
        echo "args: $*"
        echo first
        for _ in $(seq 600); do [ -e {seen_first} ] && break; sleep 0.05; done
        if [ -e {seen_first} ]; then echo "second, after the caller saw the first" >&2; else echo "second, unseen" >&2; fi
        """,
    )
    lines: list[str] = []

    def on_line(line: str) -> None:
        lines.append(line)
        if line == "first":
            seen_first.touch()

    outcome = LocalLauncher(python).run(LaunchRequest("ingest", "file:///x/spec.json"), on_line)
    assert lines == [
        "args: -m airflow_mlops.runtime.components ingest --spec file:///x/spec.json",
        "first",
        "second, after the caller saw the first",
    ]
    assert outcome.returncode == 0 and not outcome.timed_out


@pytest.mark.parametrize("code", [1, 3, 42])
def test_exit_code_is_reported(tmp_path, code):
    outcome = LocalLauncher(fake_python(tmp_path, f"exit {code}\n")).run(LaunchRequest("c", "s"), lambda _: None)
    assert outcome.returncode == code and not outcome.timed_out


def test_timeout_kills_the_whole_process_group(tmp_path):
    pids = tmp_path / "pids"
    python = fake_python(
        tmp_path,
        f"""
        sleep 300 &
        echo $! >> {pids}
        echo $$ >> {pids}
        echo started
        wait
        """,
    )
    start = time.monotonic()
    outcome = LocalLauncher(python, timeout=1.5, kill_grace=2).run(LaunchRequest("c", "s"), lambda _: None)
    assert outcome.timed_out
    assert outcome.returncode < 0  # ended by a signal
    assert time.monotonic() - start < 20
    child, parent = (int(p) for p in pids.read_text().split())
    assert_dies(parent, child)  # the grandchild too, with the component


def test_sigterm_is_followed_by_sigkill_after_the_grace(tmp_path):
    python = fake_python(tmp_path, "trap '' TERM\necho ignoring TERM\nwhile true; do sleep 0.1; done\n")
    start = time.monotonic()
    outcome = LocalLauncher(python, timeout=1, kill_grace=1).run(LaunchRequest("c", "s"), lambda _: None)
    assert outcome.timed_out and outcome.returncode == -9
    assert time.monotonic() - start < 10


def test_kill_from_another_thread_ends_the_run(tmp_path):
    """What Airflow's on_kill does when a task is killed from the UI."""
    launcher = LocalLauncher(fake_python(tmp_path, "echo running\nsleep 300\n"), kill_grace=2)
    lines: list[str] = []

    def on_line(line: str) -> None:  # killed once it runs, from another thread as on_kill is
        lines.append(line)
        threading.Thread(target=launcher.kill).start()

    start = time.monotonic()
    outcome = launcher.run(LaunchRequest("c", "s"), on_line)
    assert lines == ["running"]
    assert outcome.returncode < 0 and not outcome.timed_out
    assert time.monotonic() - start < 10


def test_an_exception_in_the_caller_kills_the_component(tmp_path):
    """Airflow's execution_timeout raises inside execute(); the component must not outlive it."""
    pids = tmp_path / "pids"
    python = fake_python(tmp_path, f"echo $$ > {pids}\necho tick\nsleep 300\n")

    def explode(line: str) -> None:
        raise TimeoutError("task timed out")

    with pytest.raises(TimeoutError):
        LocalLauncher(python, kill_grace=2).run(LaunchRequest("c", "s"), explode)
    assert_dies(int(pids.read_text()))


def test_runtime_python_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MLOPS_RUNTIME_PYTHON", raising=False)
    monkeypatch.delenv("AIRFLOW__MLOPS__RUNTIME_PYTHON", raising=False)
    venv_python = tmp_path / ".venv-runtime" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.write_text("#!/bin/sh\n")
    venv_python.chmod(0o755)
    assert resolve_runtime_python(project_root=tmp_path) == str(venv_python)
    other = fake_python(tmp_path, "")
    monkeypatch.setenv("MLOPS_RUNTIME_PYTHON", other)
    assert resolve_runtime_python(project_root=tmp_path) == other
    assert resolve_runtime_python("/bin/sh", project_root=tmp_path) == "/bin/sh"
    monkeypatch.setenv("MLOPS_RUNTIME_PYTHON", str(tmp_path / "missing"))
    with pytest.raises(RuntimeNotFoundError, match="does not exist"):
        resolve_runtime_python(project_root=tmp_path)
    monkeypatch.delenv("MLOPS_RUNTIME_PYTHON")
    with pytest.raises(RuntimeNotFoundError, match="run `make setup`"):
        resolve_runtime_python(project_root=tmp_path / "elsewhere")
