"""The Dockerfiles install what the lock files pin, and nothing is re-resolved.

No image is built here (`make image-runtime` builds the runtime image without a Docker daemon):
the Dockerfiles are parsed and checked against the lock files the Makefile's test environments
use, and the runtime image's entrypoint (docker/entrypoint.sh) is run with stand-ins for `python`
and Beam's boot launcher. Every rule is also shown to fail on a mutated file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_DOCKERFILE = "Dockerfile"
RUNTIME_DOCKERFILE = "docker/runtime.Dockerfile"
CUDA_DOCKERFILE = "docker/runtime-cuda.Dockerfile"
CUDA_LOCK = "docker/runtime-cuda.lock.txt"
COMPONENT_CLI = ["python", "-m", "airflow_mlops.runtime.components"]
#: the runtime images' ENTRYPOINT: docker/entrypoint.sh, the component CLI or Beam's boot launcher
ENTRYPOINT_SCRIPT = "docker/entrypoint.sh"
ENTRYPOINT = ["/opt/mlops/entrypoint"]
BEAM_BOOT = "/opt/apache/beam/boot"
#: how Dataflow (and Beam's portable runners) start the SDK container: boot's flags
HARNESS_ARGS = [
    ["--id=1-1", "--logging_endpoint=localhost:12370", "--artifact_endpoint=localhost:12372",
     "--provision_endpoint=localhost:12372", "--control_endpoint=localhost:12371"],
    ["--provision_endpoint=localhost:12372", "--id=sdk-0-0", "--semi_persist_dir=/var/opt/google"],
    ["--worker_pool"],
]
#: how pods, Vertex AI jobs and `docker run <image> ...` call the component CLI
CLI_ARGS = [["ingest", "--spec", "file:///data/spec.json"], ["--help"], ["train", "--spec=gs://b/id/spec.json"]]


def _read(path: str) -> str:
    return (ROOT / path).read_text()


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, args = current.partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


def _makefile() -> str:
    return _read("Makefile")


def _venv_lock(venv_var: str) -> str:
    """The lock file the Makefile builds $(<venv_var>) from."""
    match = re.search(r"\$\(call build-venv,\$\(" + venv_var + r"\),([^,]+),", _makefile())
    assert match, f"Makefile builds no {venv_var}"
    return match.group(1)


def _lock_python() -> str:
    match = re.search(r"^LOCK_PLATFORM := .*--python-version (\d+\.\d+)", _makefile(), re.M)
    assert match
    return match.group(1)


def _pins(lock_text: str) -> dict[str, str]:
    pins = {}
    for line in lock_text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def _copied_locks(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """Destination path in the image -> lock file copied there from the build context."""
    copied = {}
    for keyword, args in instructions:
        if keyword != "COPY":
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        sources, dest = words[:-1], words[-1]
        for source in sources:
            if source.endswith(".txt"):
                copied[dest.rstrip("/") + "/" + Path(source).name if dest.endswith("/") else dest] = source
    return copied


def _commands(instructions: list[tuple[str, str]]) -> list[list[str]]:
    """Every shell command of every RUN, split on ;, && and ||."""
    commands = []
    for keyword, args in instructions:
        if keyword == "RUN":
            for part in re.split(r";|&&|\|\|", args):
                words = shlex.split(part, posix=True) if part.strip() else []
                if words:
                    commands.append(words)
    return commands


def _pip_commands(instructions: list[tuple[str, str]]) -> list[tuple[str, list[str]]]:
    """("install"|"sync"|..., arguments) of every `pip <cmd>` / `uv pip <cmd>` in a RUN."""
    found = []
    for words in _commands(instructions):
        for i, word in enumerate(words[:-1]):
            if Path(word).name in {"pip", "pip3"} or (word == "pip" and i and words[i - 1].endswith("uv")):
                found.append((words[i + 1], words[i + 2 :]))
                break
            if word in {"-m"} and words[i + 1] == "pip" and i + 2 < len(words):
                found.append((words[i + 2], words[i + 3 :]))
                break
    return found


def _requirement_files(args: list[str], subcommand: str) -> list[str]:
    files = []
    for i, arg in enumerate(args):
        if arg in {"-r", "--requirement", "--requirements"} and i + 1 < len(args):
            files.append(args[i + 1])
        elif subcommand == "sync" and not arg.startswith("-") and (i == 0 or args[i - 1] not in {"--python"}):
            files.append(arg)
    return files


def _final(instructions: list[tuple[str, str]], keyword: str) -> str | None:
    values = [args for kw, args in instructions if kw == keyword]
    return values[-1] if values else None


def _arg_default(instructions: list[tuple[str, str]], name: str) -> str | None:
    for keyword, args in instructions:
        if keyword == "ARG" and args.split("=", 1)[0] == name:
            return args.split("=", 1)[1] if "=" in args else None
    return None


def _no_resolution(instructions: list[tuple[str, str]]) -> list[str]:
    problems = []
    for subcommand, args in _pip_commands(instructions):
        if subcommand == "install" and "--no-deps" not in args:
            problems.append(f"pip install without --no-deps resolves dependencies: {' '.join(args)}")
        if subcommand in {"compile", "lock", "download"} or (subcommand == "install" and {"-U", "--upgrade"} & set(args)):
            problems.append(f"pip {subcommand} re-resolves: {' '.join(args)}")
    return problems


def _installs_lock(instructions: list[tuple[str, str]], lock: str) -> list[str]:
    """The image installs exactly `lock` (sync, or install --no-deps) and no other lock file."""
    copied = _copied_locks(instructions)
    installed = []
    for subcommand, args in _pip_commands(instructions):
        if subcommand in {"install", "sync"}:
            installed += [copied.get(f, f) for f in _requirement_files(args, subcommand)]
    problems = []
    if lock not in installed:
        problems.append(f"does not install {lock} (installs {installed or 'no lock file'})")
    problems += [f"installs {f}, not {lock}" for f in installed if f != lock and f != CUDA_LOCK]
    return problems


def _non_root_cli(instructions: list[tuple[str, str]]) -> list[str]:
    problems = []
    user = _final(instructions, "USER")
    if user is None or user.split(":")[0] in {"root", "0"}:
        problems.append(f"final USER is {user or 'missing'}: the image would run as root")
    entrypoint = _final(instructions, "ENTRYPOINT")
    try:
        parsed = json.loads(entrypoint) if entrypoint else None
    except json.JSONDecodeError:
        parsed = entrypoint
    if parsed != ENTRYPOINT:
        problems.append(
            f"ENTRYPOINT is {entrypoint}, not the dispatcher {json.dumps(ENTRYPOINT)} ({ENTRYPOINT_SCRIPT}: "
            "the component CLI, or Beam's boot launcher for Dataflow)"
        )
    return problems


def _env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            for word in shlex.split(args):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def _beam_sdk(instructions: list[tuple[str, str]]) -> list[str]:
    """Beam's boot launcher is copied from Beam's SDK image of the lock's Python and apache-beam."""
    problems = []
    python = _lock_python()
    beam = _pins(_read(_venv_lock("RUNTIME_VENV")))["apache-beam"]
    expected = f"apache/beam_python{python}_sdk:{beam}"
    image = _arg_default(instructions, "BEAM_SDK_IMAGE") or ""
    if image != expected:
        problems.append(
            f"BEAM_SDK_IMAGE {image!r} is not {expected!r} (the lock's Python and apache-beam=={beam})"
        )
    stages = [args.split() for kw, args in instructions if kw == "FROM"]
    stage = next((w[2] for w in stages if w[0] == "${BEAM_SDK_IMAGE}" and len(w) == 3 and w[1].upper() == "AS"), None)
    copies = [args.split() for kw, args in instructions if kw == "COPY"]
    if stage is None or [f"--from={stage}", "/opt/apache/beam", "/opt/apache/beam"] not in copies:
        problems.append("does not copy Beam's boot launcher (/opt/apache/beam) from ${BEAM_SDK_IMAGE}")
    if _env(instructions).get("RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT") != "1":
        problems.append("RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1 is not set: boot would make its own venv")
    pip = [a for s, a in _pip_commands(instructions) if s == "install" and any(re.fullmatch(r"pip==\S+", w) for w in a)]
    if not pip:
        problems.append("no pinned pip in the venv: boot's `python -m pip show apache-beam` would fail")
    return problems


def _installs_entrypoint(instructions: list[tuple[str, str]]) -> list[str]:
    problems = []
    copies = [[w for w in args.split() if not w.startswith("--")] for kw, args in instructions if kw == "COPY"]
    copy = next((c for c in copies if c == [ENTRYPOINT_SCRIPT, ENTRYPOINT[0]]), None)
    if copy is None:
        problems.append(f"does not install {ENTRYPOINT_SCRIPT} as {ENTRYPOINT[0]}")
    chmod = any(w[0] == "chmod" and ENTRYPOINT[0] in w for w in _commands(instructions)) or any(
        kw == "COPY" and "--chmod=" in args and ENTRYPOINT_SCRIPT in args for kw, args in instructions
    )
    if not chmod:
        problems.append(f"{ENTRYPOINT[0]} is not made executable (chmod)")
    return problems


def _run_entrypoint(script: str, args: list[str], stubs: Path) -> list[str]:
    """Run the entrypoint script with `python` and the boot launcher replaced by stand-ins that
    print their own name and their arguments, one a line."""
    stubs.mkdir(parents=True, exist_ok=True)
    for name in ("python", "boot"):
        stub = stubs / name
        stub.write_text(f"#!/bin/sh\nprintf '%s\\n' {name} \"$@\"\n")
        stub.chmod(0o755)
    (stubs / "entrypoint").write_text(script.replace(BEAM_BOOT, str(stubs / "boot")))
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        ["sh", str(stubs / "entrypoint"), *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return done.stdout.splitlines() if done.returncode == 0 else [f"exit {done.returncode}: {done.stderr.strip()}"]


def check_entrypoint(text: str) -> list[str]:
    """docker/entrypoint.sh: POSIX sh; the SDK harness's arguments go to Beam's boot launcher
    unchanged, everything else to the component CLI."""
    problems = []
    if not text.startswith("#!/bin/sh\n"):
        problems.append("not a POSIX sh script (#!/bin/sh)")
    with tempfile.TemporaryDirectory() as tmp:
        for args in HARNESS_ARGS:
            got = _run_entrypoint(text, args, Path(tmp))
            if got != ["boot", *args]:
                problems.append(f"SDK harness arguments {args} do not reach {BEAM_BOOT}: {got}")
        for args in [*CLI_ARGS, []]:
            got = _run_entrypoint(text, args, Path(tmp))
            if got != [*COMPONENT_CLI, *args]:
                problems.append(f"{args} does not run the component CLI {' '.join(COMPONENT_CLI)}: {got}")
    return problems


def check_runtime(text: str) -> list[str]:
    instructions = _instructions(text)
    problems = _installs_lock(instructions, _venv_lock("RUNTIME_VENV"))
    problems += _no_resolution(instructions)
    problems += _non_root_cli(instructions)
    problems += _installs_entrypoint(instructions)
    problems += _beam_sdk(instructions)
    python = _lock_python()
    base = _arg_default(instructions, "BASE") or ""
    if not re.match(rf"python:{re.escape(python)}(-|$)", base):
        problems.append(f"BASE {base!r} is not Python {python} (the lock platform)")
    venv_pythons = [
        w[w.index("--python") + 1] for w in _commands(instructions) if w[:2] == ["uv", "venv"] and "--python" in w
    ]
    if venv_pythons != [f"python{python}"]:
        problems.append(f"the venv's Python is {venv_pythons}, not python{python} (the lock platform)")
    uv_version = re.search(r"^UV_VERSION := (\S+)", _makefile(), re.M).group(1)
    if not (_arg_default(instructions, "UV_IMAGE") or "").endswith(f":{uv_version}"):
        problems.append(f"UV_IMAGE is not uv {uv_version} (the Makefile's UV_VERSION)")
    packages = [a for s, a in _pip_commands(instructions) if s == "install" and "/tmp/airflow-mlops" in a]
    if not packages or not {"/tmp/airflow-mlops", "/tmp/airflow-mlops/runtime"} <= set(packages[0]):
        problems.append("does not install both distributions (airflow-mlops, airflow-mlops-runtime)")
    return problems


def check_airflow(text: str) -> list[str]:
    instructions = _instructions(text)
    lock = _venv_lock("AIRFLOW_VENV")
    problems = _installs_lock(instructions, lock)
    problems += _no_resolution(instructions)
    base = _final(instructions, "FROM") or ""
    pinned = _pins(_read(lock))["apache-airflow"]
    match = re.fullmatch(r"apache/airflow:([\d.]+)-python(\d+\.\d+)", base.split()[0] if base else "")
    if not match:
        problems.append(f"FROM {base!r} is not apache/airflow:<version>-python<version>")
    else:
        if match.group(1) != pinned:
            problems.append(f"base image Airflow {match.group(1)} differs from the lock's apache-airflow=={pinned}")
        if match.group(2) != _lock_python():
            problems.append(f"base image Python {match.group(2)} differs from the lock platform {_lock_python()}")
    user = _final(instructions, "USER")
    if user is not None and user.split(":")[0] in {"root", "0"}:
        problems.append("final USER is root")
    return problems


def check_cuda(text: str, cuda_lock: str | None = None) -> list[str]:
    instructions = _instructions(text)
    problems = _installs_lock(instructions, CUDA_LOCK)
    problems += _no_resolution(instructions)
    problems += _non_root_cli(instructions)
    runtime_pins = _pins(_read(_venv_lock("RUNTIME_VENV")))
    cuda_text = _read(CUDA_LOCK) if cuda_lock is None else cuda_lock
    extra = re.search(r"^# tensorflow\[and-cuda\]==(\S+)$", cuda_text, re.M)
    if not extra or extra.group(1) != runtime_pins["tensorflow"]:
        problems.append(f"{CUDA_LOCK} is not tensorflow[and-cuda]=={runtime_pins['tensorflow']}")
    cuda_pins = _pins(cuda_text)
    if not cuda_pins:
        problems.append(f"{CUDA_LOCK} pins nothing")
    problems += [f"{CUDA_LOCK} re-pins {name} of the runtime lock" for name in cuda_pins if name in runtime_pins]
    return problems


CHECKS = {
    AIRFLOW_DOCKERFILE: check_airflow,
    RUNTIME_DOCKERFILE: check_runtime,
    CUDA_DOCKERFILE: check_cuda,
    ENTRYPOINT_SCRIPT: check_entrypoint,
}


@pytest.mark.parametrize("path", sorted(CHECKS))
def test_image_file_follows_its_rules(path: str) -> None:
    assert CHECKS[path](_read(path)) == []


def test_entrypoint_dispatches(tmp_path: Path) -> None:
    """Both branches of docker/entrypoint.sh, with stand-ins for `python` and Beam's boot."""
    script = _read(ENTRYPOINT_SCRIPT)
    dataflow = HARNESS_ARGS[0]
    assert _run_entrypoint(script, dataflow, tmp_path) == ["boot", *dataflow]
    assert _run_entrypoint(script, ["ingest", "--spec", "file:///s.json"], tmp_path) == [
        "python", "-m", "airflow_mlops.runtime.components", "ingest", "--spec", "file:///s.json"
    ]
    # `docker run <image>` with no arguments: the image's CMD, --help
    assert _run_entrypoint(script, ["--help"], tmp_path)[:4] == [*COMPONENT_CLI, "--help"]


def test_cuda_lock_checked() -> None:
    cuda_lock = _read(CUDA_LOCK)
    assert check_cuda(_read(CUDA_DOCKERFILE), cuda_lock.replace("==2.16.", "==2.99.")) != []
    assert any("re-pins" in p for p in check_cuda(_read(CUDA_DOCKERFILE), cuda_lock + "numpy==1.0\n"))


# (file, text replaced, replacement, part of the expected problem)
MUTATIONS = [
    (RUNTIME_DOCKERFILE, "uv pip sync --no-cache --compile-bytecode /tmp/runtime.lock.txt",
     "uv pip install --no-cache --compile-bytecode -r /tmp/runtime.lock.txt", "without --no-deps"),
    (RUNTIME_DOCKERFILE, "COPY requirements/runtime.lock.txt", "COPY requirements/airflow.lock.txt",
     "does not install requirements/runtime.lock.txt"),
    (RUNTIME_DOCKERFILE, "uv pip sync --no-cache --compile-bytecode /tmp/runtime.lock.txt",
     "uv pip install --no-cache tensorflow", "does not install requirements/runtime.lock.txt"),
    (RUNTIME_DOCKERFILE, "--no-deps /tmp/airflow-mlops /tmp/airflow-mlops/runtime",
     "/tmp/airflow-mlops /tmp/airflow-mlops/runtime", "without --no-deps"),
    (RUNTIME_DOCKERFILE, "--no-deps /tmp/airflow-mlops /tmp/airflow-mlops/runtime",
     "--no-deps /tmp/airflow-mlops", "both distributions"),
    (RUNTIME_DOCKERFILE, "ARG BASE=python:3.11-slim-bookworm", "ARG BASE=python:3.12-slim-bookworm", "BASE"),
    (RUNTIME_DOCKERFILE, "uv venv --python python3.11", "uv venv --python python3.12", "venv's Python"),
    (RUNTIME_DOCKERFILE, "USER 10001", "USER root", "final USER is root"),
    (RUNTIME_DOCKERFILE, "USER 10001", "", "final USER is missing"),
    (RUNTIME_DOCKERFILE, "USER 10001\n", "USER 10001\nUSER 0\n", "final USER is 0"),
    (RUNTIME_DOCKERFILE, 'ENTRYPOINT ["/opt/mlops/entrypoint"]', 'ENTRYPOINT ["python"]', "ENTRYPOINT"),
    (RUNTIME_DOCKERFILE, 'ENTRYPOINT ["/opt/mlops/entrypoint"]', "", "ENTRYPOINT"),
    # the component CLI as the entrypoint cannot be Dataflow's SDK container
    (RUNTIME_DOCKERFILE, 'ENTRYPOINT ["/opt/mlops/entrypoint"]',
     'ENTRYPOINT ["python", "-m", "airflow_mlops.runtime.components"]', "ENTRYPOINT"),
    (RUNTIME_DOCKERFILE, "COPY docker/entrypoint.sh /opt/mlops/entrypoint\n", "", "does not install docker/entrypoint.sh"),
    (RUNTIME_DOCKERFILE, "RUN chmod 0755 /opt/mlops/entrypoint \\\n    && useradd", "RUN useradd", "chmod"),
    (RUNTIME_DOCKERFILE, "ARG BEAM_SDK_IMAGE=apache/beam_python3.11_sdk:2.72.0",
     "ARG BEAM_SDK_IMAGE=apache/beam_python3.11_sdk:2.71.0", "apache-beam==2.72.0"),
    (RUNTIME_DOCKERFILE, "ARG BEAM_SDK_IMAGE=apache/beam_python3.11_sdk:2.72.0",
     "ARG BEAM_SDK_IMAGE=apache/beam_python3.12_sdk:2.72.0", "BEAM_SDK_IMAGE"),
    (RUNTIME_DOCKERFILE, "COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam\n", "", "boot launcher"),
    (RUNTIME_DOCKERFILE, "FROM ${BEAM_SDK_IMAGE} AS beam_sdk", "FROM ${BEAM_SDK_IMAGE} AS other", "boot launcher"),
    (RUNTIME_DOCKERFILE, "    RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1", "    MLOPS_UNRELATED=1",
     "RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT"),
    (RUNTIME_DOCKERFILE, "    uv pip install --no-cache --compile-bytecode --no-deps pip==26.3; \\\n", "", "pip"),
    (ENTRYPOINT_SCRIPT, '\nexec python -m airflow_mlops.runtime.components "$@"',
     '\nexec python -m airflow_mlops.runtime.components', "component CLI"),
    (ENTRYPOINT_SCRIPT, '\nexec python -m airflow_mlops.runtime.components "$@"',
     '\nexec python -m airflow_mlops.runtime.serving "$@"', "component CLI"),
    (ENTRYPOINT_SCRIPT, 'exec /opt/apache/beam/boot "$@"', 'exec /opt/apache/beam/boot', "do not reach"),
    (ENTRYPOINT_SCRIPT, 'exec /opt/apache/beam/boot "$@"', 'exec /opt/apache/beam/bin/boot "$@"', "do not reach"),
    (ENTRYPOINT_SCRIPT, "        -*) ;;\n", "", "do not reach"),
    (ENTRYPOINT_SCRIPT, "        id | logging_endpoint", "        spec | id | logging_endpoint", "component CLI"),
    (ENTRYPOINT_SCRIPT, "    name=${name#-}\n", "", "do not reach"),
    (ENTRYPOINT_SCRIPT, "#!/bin/sh\n", "#!/bin/bash\n", "POSIX sh"),
    (RUNTIME_DOCKERFILE, "ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9", "ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.5.0",
     "UV_VERSION"),
    (AIRFLOW_DOCKERFILE, "--no-deps -r /tmp/airflow-mlops/requirements/airflow.lock.txt",
     "-r /tmp/airflow-mlops/requirements/airflow.lock.txt", "without --no-deps"),
    (AIRFLOW_DOCKERFILE, "COPY --chown=airflow:0 requirements/airflow.lock.txt",
     "COPY --chown=airflow:0 requirements/airflow-min.lock.txt", "does not install requirements/airflow.lock.txt"),
    (AIRFLOW_DOCKERFILE, "--no-deps /tmp/airflow-mlops ", "/tmp/airflow-mlops ", "without --no-deps"),
    (AIRFLOW_DOCKERFILE, "FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:3.1.8-python3.11",
     "differs from the lock's apache-airflow"),
    (AIRFLOW_DOCKERFILE, "FROM apache/airflow:3.3.2-python3.11", "FROM apache/airflow:3.3.2-python3.12",
     "base image Python"),
    (AIRFLOW_DOCKERFILE, "ENV AIRFLOW__CORE__LOAD_EXAMPLES=False", "USER root", "final USER is root"),
    (AIRFLOW_DOCKERFILE, "ENV AIRFLOW__CORE__LOAD_EXAMPLES=False",
     "RUN pip install --no-deps x && uv pip compile pyproject.toml", "re-resolves"),
    (CUDA_DOCKERFILE, "uv pip install --no-cache --no-deps -r", "uv pip install --no-cache -r", "without --no-deps"),
    (CUDA_DOCKERFILE, "COPY docker/runtime-cuda.lock.txt", "COPY docker/other.txt", "does not install"),
    (CUDA_DOCKERFILE, "USER 10001", "", "final USER is root"),
    (CUDA_DOCKERFILE, 'ENTRYPOINT ["/opt/mlops/entrypoint"]', 'ENTRYPOINT ["bash"]', "ENTRYPOINT"),
    (CUDA_DOCKERFILE, 'ENTRYPOINT ["/opt/mlops/entrypoint"]',
     'ENTRYPOINT ["python", "-m", "airflow_mlops.runtime.components"]', "ENTRYPOINT"),
]


@pytest.mark.parametrize(("path", "old", "new", "expected"), MUTATIONS, ids=[f"{m[0]}:{m[3]}" for m in MUTATIONS])
def test_mutation_is_caught(path: str, old: str, new: str, expected: str) -> None:
    text = _read(path)
    assert old in text, f"mutation no longer applies to {path}: {old!r}"
    problems = CHECKS[path](text.replace(old, new))
    assert any(expected in p for p in problems), problems
