"""infra_validate: the candidate answers real requests in the serving runtime before any rollout.

Starts the prediction server (``airflow_mlops.runtime.serving``) on 127.0.0.1 with the candidate version
pinned, sends rows of the test split one request each plus one batch, and checks every answer:
status 200, the pinned version, the task's answer (a classifier: a known class and probabilities
that sum to 1; a regression: a finite number), and the p95 latency within ``max_latency_ms``.
Errors, by kind (``model`` and ``config`` fail without retries; the champion keeps serving):

- the version does not load in the server (corrupt or missing files, a layer that does not
  deserialize, an output not of its task): a **model** error with the load error, within
  seconds - the server reports it in ``/status`` and :meth:`ServerProcess.wait` fails at once
  instead of waiting out ``start_timeout``;
- the version is of another task than ``task`` (the server refuses it at once): a **config** error;
- wrong answers or a p95 latency over the bound: a **model** error with the problems;
- the server does not come up for another reason (exits, a port taken, ``start_timeout`` with no
  load error) or the registry cannot be reached: an **infrastructure** error (retried).

Cleanup: the server (``bentoml serve`` and its workers) is stopped on every path - success,
failure, start timeout - and, since it runs in the component's process group, a launcher's kill
of that group (task killed, timeout, SIGKILL) takes it too; a SIGTERM to the component alone
ends it through the same ``finally`` (:func:`sigterm_exits`).

Reuse: a passed validation is recorded under a key of everything it depended on - the version's
model files (its registry fingerprint), the test split, the checks and the serving code (the
serving package's sources and the versions of BentoML, TensorFlow, Keras, pydantic); a later run
of the same key (a re-run with nothing changed) reuses it and starts no server, and says so.

Inputs: ``model_version`` (ModelVersion), ``examples`` (Examples). Parameters:
:class:`InfraValidateParams` (airflow_mlops/contract/params.py). Settings: ``registry``. Output
``infra_blessing`` (``infra_validation.json``).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import INFRA_VALIDATE
from airflow_mlops.contract.params import InfraValidateParams
from airflow_mlops.contract.tasks import CLASSIFICATION, is_classification
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# -- the server -----------------------------------------------------------------------------------


def sample_rows(examples, params: InfraValidateParams) -> list[dict[str, Any]]:
    """The first ``sample_rows`` rows of the test split as request instances."""
    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.serving.requests import json_rows

    rows = json_rows(read_split(examples, "test").head(params.sample_rows), dict(params.features))
    if not rows:
        raise ComponentError(ErrorKind.DATA, "infra_validate: the test split has no rows to send")
    return rows


def serving_config(spec: ComponentSpec, registry, params: InfraValidateParams, version: str, local: str):
    """A prediction server on a free local port, pinned to ``version``, not logging predictions."""
    from airflow_mlops.runtime.serving.config import ServingConfig

    return ServingConfig(
        pipeline=spec.pipeline,
        model_name=registry.model_name,
        tracking_uri=registry.tracking_uri,
        artifact_root=spec.artifact_root,
        features=dict(params.features),
        task=params.task,
        cache_dir=f"{local}/models",
        port=free_port(),
        pin_version=version,
        log_predictions=False,
    )


#: seconds a stopping server gets between SIGTERM and SIGKILL
STOP_GRACE = 10.0


def start_server(config, local: str, timeout: float, version: str, task: str = CLASSIFICATION):
    """The running server, in this process's group, and its startup time in seconds. A server
    that does not come up has been stopped (see :meth:`ServerProcess.start`) and raises the
    error's kind (see the module's docstring)."""
    from airflow_mlops.runtime.serving.server import ServerError, ServerProcess, VersionLoadFailed, VersionRefused

    started = time.monotonic()
    try:
        server = ServerProcess.start(config, f"{local}/server", wait_ready=timeout, own_session=False, stop_grace=STOP_GRACE)
    except VersionRefused as exc:
        kind = ErrorKind.MODEL if _task_of_download(config, version) in (None, task) else ErrorKind.CONFIG
        raise ComponentError(kind, f"infra_validate: version {version} is not served: {exc.reason}") from None
    except VersionLoadFailed as exc:
        # The files came from the registry and do not load: the model is at fault. Nothing
        # downloaded: the registry or its artifact store failed (a retry may pass).
        kind = ErrorKind.MODEL if _downloaded(config, version) else ErrorKind.INFRASTRUCTURE
        raise ComponentError(kind, f"infra_validate: version {version} does not load in the serving runtime: {exc.reason}") from None
    except ServerError as exc:
        raise ComponentError(
            ErrorKind.INFRASTRUCTURE, f"infra_validate: the prediction server for version {version} did not come up: {exc}"
        ) from None
    return server, time.monotonic() - started


def _model_dir(config, version: str) -> str:
    """Where the server's :class:`~airflow_mlops.runtime.serving.models.ModelCache` downloads ``version``."""
    return os.path.join(config.cache_dir, config.model_name, version, "model")


def _downloaded(config, version: str) -> bool:
    with contextlib.suppress(OSError):
        return bool(os.listdir(_model_dir(config, version)))
    return False


def _task_of_download(config, version: str) -> str | None:
    """The task the downloaded version was trained for, ``None`` if its transform is unreadable."""
    import json

    from airflow_mlops.runtime.ml.features import task_of

    try:
        with open(os.path.join(_model_dir(config, version), "transform.json")) as f:
            return task_of(json.load(f))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """While in the block, SIGTERM raises ``SystemExit(143)`` in the main thread, so the
    component's ``finally`` blocks run (stopping the server) instead of the process ending at
    once; a second SIGTERM is ignored, so the cleanup is not interrupted (a SIGKILL follows a
    launcher's SIGTERM anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def exit_on_sigterm(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, exit_on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- requests and checks --------------------------------------------------------------------------


def check_answers(answers, version: str, classes: set[str], rows: int, task: str = CLASSIFICATION) -> list[str]:
    """What is wrong with a server's answers to ``rows`` rows (at most 5 problems): not a list of
    ``rows`` answers, an answer without its fields or from another version than ``version``; a
    classifier's prediction not one of ``classes`` or probabilities that are not numbers in
    [0, 1] summing to 1; a regression's prediction not a finite number."""
    problems = []
    if not isinstance(answers, list) or len(answers) != rows:
        return [f"expected a list of {rows} predictions, got {str(answers)[:200]}"]
    regression = not is_classification(task)
    required = {"request_id", "prediction", "model_version"} | (set() if regression else {"probabilities"})
    for answer in answers:
        if not isinstance(answer, dict):
            problems.append(f"an answer is not an object: {str(answer)[:100]}")
            continue
        missing = required - set(answer)
        if missing:
            problems.append(f"an answer lacks {sorted(missing)}")
        elif answer["model_version"] != version:
            problems.append(f"answered by version {answer['model_version']}, not {version}")
        elif regression:
            if not _finite_number(answer["prediction"]):
                problems.append(f"the prediction {repr(answer['prediction'])[:50]} is not a finite number")
        elif answer["prediction"] not in classes:
            problems.append(f"unknown class {str(answer['prediction'])[:50]!r}")
        elif not isinstance(answer["probabilities"], dict) or not all(
            _finite_number(p) and 0 <= p <= 1 for p in answer["probabilities"].values()
        ):
            problems.append(f"probabilities are not numbers in [0, 1]: {str(answer['probabilities'])[:100]}")
        elif abs(sum(answer["probabilities"].values()) - 1) > 1e-3:
            problems.append(f"probabilities sum to {sum(answer['probabilities'].values()):.4f}")
    return problems[:5]


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def send_rows(url: str, rows: list[dict[str, Any]], version: str, task: str = CLASSIFICATION) -> tuple[list[str], list[float]]:
    """One request per row, then one batch of them all; the problems in the answers (for
    ``task``), and the latency (ms) of each single-row request. A classifier's known classes are
    those its answers give probabilities for."""
    from airflow_mlops.runtime.serving.server import http_post_json

    problems: list[str] = []
    latencies: list[float] = []
    classes: set[str] = set()
    for i, row in enumerate(rows):
        t0 = time.perf_counter()
        status, answers = http_post_json(url + "/predict", {"instances": [row]})
        latencies.append((time.perf_counter() - t0) * 1000)
        if status != 200:
            problems.append(f"row {i}: HTTP {status}: {str(answers)[:200]}")
            continue
        first = answers[0] if isinstance(answers, list) and answers and isinstance(answers[0], dict) else {}
        if isinstance(first.get("probabilities"), dict):
            classes.update(first["probabilities"])
        problems += check_answers(answers, version, classes, 1, task)
    status, answers = http_post_json(url + "/predict", {"instances": rows})
    problems += [f"batch of {len(rows)}: HTTP {status}"] if status != 200 else check_answers(answers, version, classes, len(rows), task)
    return problems, latencies


def validation_report(
    version: str, rows: int, problems: list[str], latencies: list[float], startup_seconds: float, max_latency_ms: float
) -> dict[str, Any]:
    """``infra_validation.json``: blessed unless there are problems, the p95 latency bound included."""
    p95 = percentile(latencies, 95)
    if p95 > max_latency_ms:
        problems = [*problems, f"p95 latency {p95:.1f} ms is over the bound of {max_latency_ms} ms"]
    return {
        "version": version,
        "blessed": not problems,
        "problems": problems,
        "requests": rows + 1,
        "latency_ms": {"p50": percentile(latencies, 50), "p95": p95, "max": max(latencies)},
        "startup_seconds": round(startup_seconds, 2),
    }


# -- the component --------------------------------------------------------------------------------


# -- reuse ----------------------------------------------------------------------------------------

#: what answers a request besides the model: the serving package and the libraries under it
SERVING_DISTRIBUTIONS = ("bentoml", "tensorflow", "keras", "pydantic")


def serving_code_fingerprint() -> str:
    """The serving package's source files and the versions of the libraries it runs on."""
    import hashlib
    from importlib import metadata
    from pathlib import Path

    import airflow_mlops.runtime.serving as serving

    digest = hashlib.sha256()
    for path in sorted(Path(serving.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for name in SERVING_DISTRIBUTIONS:
        digest.update(f"{name}=={metadata.version(name)}".encode())
    return digest.hexdigest()


def reuse_key(ctx: ExecutionContext, registry, version: str) -> str | None:
    """What a passed validation of ``version`` depended on, hashed: the model's files (its
    registry fingerprint), the test rows, the checks and the serving code. ``None`` when the
    version has no model fingerprint (validated every time)."""
    import hashlib
    import json

    fingerprint = registry.client().get_model_version(registry.model_name, version).tags.get("model_fingerprint")
    if not fingerprint:
        return None
    parts = {
        "model": registry.model_name, "version": version, "model_fingerprint": fingerprint,
        "examples": ctx.spec.inputs["examples"].fingerprint,
        "params": {k: v for k, v in ctx.params.to_dict().items() if k != "reuse"},
        "serving_code": serving_code_fingerprint(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def reused(ctx: ExecutionContext, version: str, record_uri: str | None) -> ComponentResult | None:
    """The result of an earlier passed validation under the same key, written as this run's
    output; ``None`` if there is none."""
    store = ArtifactStore()
    if record_uri is None or not store.exists(record_uri):
        return None
    report = {**store.read_json(record_uri), "reused_from": record_uri}
    store.write_json(ctx.output_uri("infra_blessing", "infra_validation.json"), report)
    latency = report["latency_ms"]
    ctx.log.info("version %s already passed infra validation with this model, these test rows, checks and serving code "
                 "(p50 %.1f ms, p95 %.1f ms): reused, no server started (%s)",
                 version, latency["p50"], latency["p95"], record_uri)
    return ComponentResult(
        outputs={"infra_blessing": OutputArtifact(ctx.output_uri("infra_blessing"), {"blessed": True, "version": version})},
        metrics={"p50_ms": latency["p50"], "p95_ms": latency["p95"], "startup_seconds": report["startup_seconds"],
                 "reused": True},
    )


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.contract.layout import infra_validated_uri
    from airflow_mlops.runtime.ml.model_registry import Registry

    params: InfraValidateParams = ctx.params
    version = str(ctx.spec.inputs["model_version"].properties["version"])
    registry = Registry.from_spec(ctx.spec)
    key = reuse_key(ctx, registry, version)
    record_uri = infra_validated_uri(ctx.spec.artifact_root, ctx.spec.pipeline, version, key) if key else None
    if params.reuse and (result := reused(ctx, version, record_uri)) is not None:
        return result
    rows = sample_rows(ctx.spec.inputs["examples"], params)

    local = tempfile.mkdtemp(prefix="mlops-infra-")
    with sigterm_exits():
        try:
            config = serving_config(ctx.spec, registry, params, version, local)
            ctx.log.info("starting a prediction server for %s version %s on %s", registry.model_name, version, config.url)
            server, startup_seconds = start_server(config, local, params.start_timeout, version, params.task)
            try:
                problems, latencies = send_rows(config.url, rows, version, params.task)
            finally:
                server.stop(STOP_GRACE)
        finally:
            shutil.rmtree(local, ignore_errors=True)

    report = validation_report(version, len(rows), problems, latencies, startup_seconds, params.max_latency_ms)
    ArtifactStore().write_json(ctx.output_uri("infra_blessing", "infra_validation.json"), report)
    latency = report["latency_ms"]
    ctx.log.info("answered %d requests: p50 %.1f ms, p95 %.1f ms; server ready in %.1f s",
                 report["requests"], latency["p50"], latency["p95"], startup_seconds)
    if report["problems"]:
        raise ComponentError(
            ErrorKind.MODEL, f"infra_validate: version {version} failed in the serving runtime: " + "; ".join(report["problems"])
        )
    if record_uri is not None:  # written last: only a validation that passed is reused
        ArtifactStore().write_json(record_uri, report)
    return ComponentResult(
        outputs={"infra_blessing": OutputArtifact(ctx.output_uri("infra_blessing"), {"blessed": True, "version": version})},
        metrics={"p50_ms": latency["p50"], "p95_ms": latency["p95"], "startup_seconds": report["startup_seconds"],
                 "reused": False},
    )


COMPONENT = Component.implementing(INFRA_VALIDATE, run)
