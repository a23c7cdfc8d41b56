"""evaluate: the candidate on the test split, per slice, against thresholds and the champion.

Inputs: ``examples`` (Examples), ``model`` (Model). Parameters: :class:`EvaluateParams`
(airflow_mlops/contract/params.py): the task, and per metric of the task value thresholds
(``min``, ``max``) and a change threshold vs the registry's champion on the same rows
(``max_drop``, or ``max_rise`` where lower is better); none given: the task's default. The
champion is scored with its own transform; one of another task or other classes is not
compared. The backtest scores the candidate and the champion also on the champion's own test
split (its ``examples_uri`` lineage tag) with ``backtest``'s change thresholds: a model trained
on corrupted but self-consistent data looks fine on its own test split, not there. Settings:
``registry``.

Outputs: ``evaluation`` (``metrics.json``, ``report.html``) and ``blessing`` (``blessing.json``:
``blessed`` with the reason of every check). A model that is not blessed is not registered; the
run still succeeds and says why.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import EVALUATE
from airflow_mlops.contract.params import EvaluateParams
from airflow_mlops.contract.tasks import (
    BINARY_CLASSIFICATION,
    CLASSIFICATION,
    DEFAULT_BACKTEST,
    DEFAULT_THRESHOLDS,
    METRICS,
    REGRESSION,
    metric,
)
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml import report_charts, reports

MISSING = "(missing)"


class OutputMismatch(ValueError):
    """The model's output does not fit the task and classes (a champion of an earlier config)."""


def external_fingerprint(spec: ComponentSpec) -> str:
    """A new champion is a new baseline: evaluate again - unless the champion is this very model
    (a re-run after it became the champion), which is judged as with no champion."""
    from airflow_mlops.runtime.ml.model_registry import champion_fingerprint

    return champion_fingerprint(spec, unless_model=spec.inputs["model"].fingerprint)


def evaluate_model(model, frame, transform: dict[str, Any], label: str, slices: list[str]) -> dict[str, Any]:
    """The task's metrics (:data:`airflow_mlops.contract.tasks.METRICS`) on ``frame``, with
    per-slice figures; a classifier also gets per-class figures and the confusion matrix."""
    import numpy as np

    from airflow_mlops.runtime.ml.features import task_of, training_arrays
    from airflow_mlops.runtime.ml.outputs import shape_problem

    task = task_of(transform)
    inputs, y, dropped = training_arrays(frame, transform, label)
    if len(y) == 0:
        raise ComponentError(ErrorKind.DATA, "evaluate: the test split has no rows with a known label")
    raw = np.asarray(model.predict(inputs, verbose=0), dtype="float64")
    problem = shape_problem(task, transform["label"].get("classes", ()), raw, len(y))
    if problem:
        raise OutputMismatch(problem)
    known = frame[_usable_label(frame, transform, label)].reset_index(drop=True)
    figures = regression_metrics(raw, y) if task == REGRESSION else classification_metrics(raw, y, task, transform["label"]["classes"])
    per_row = figures.pop("per_row")
    return {"task": task, "rows": int(len(y)), "dropped_rows": int(dropped), **figures,
            "slices": slice_metrics(known, per_row, slices)}


def _usable_label(frame, transform: dict[str, Any], label: str):
    from airflow_mlops.runtime.ml.features import label_indices, target_values, task_of

    if task_of(transform) == REGRESSION:
        return target_values(frame, label)[1]
    return label_indices(frame, label, transform["label"]["classes"])[1]


def classification_metrics(raw, y, task: str, classes: list[str]) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support, roc_auc_score

    from airflow_mlops.runtime.ml.outputs import class_probabilities

    probabilities = class_probabilities(task, raw)
    finite = np.isfinite(probabilities).all(axis=1)
    predicted = np.where(finite, np.nan_to_num(probabilities).argmax(axis=1), -1)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    normalized = _normalized(probabilities)
    binary = task == BINARY_CLASSIFICATION
    try:
        auc = float(roc_auc_score(y, normalized[:, 1]) if binary else roc_auc_score(y, normalized, multi_class="ovr", labels=labels))
    except ValueError:  # a class absent from the test rows: AUC is undefined
        auc = None
    summary = (precision[1], recall[1], f1[1]) if binary else (precision.mean(), recall.mean(), f1.mean())
    correct = predicted == y
    return {
        "accuracy": float(correct.mean()),
        "log_loss": float(log_loss(y, normalized, labels=labels)),
        "auc": auc,
        "precision": float(summary[0]),
        "recall": float(summary[1]),
        "f1": float(summary[2]),
        "non_finite_predictions": int((~finite).sum()),
        "per_class": {
            c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": {"labels": classes, "matrix": confusion_matrix(y, predicted, labels=labels).tolist()},
        "per_row": {"correct": correct},
    }


def regression_metrics(raw, y) -> dict[str, Any]:
    import numpy as np

    from airflow_mlops.runtime.ml.outputs import values

    predicted = values(raw)
    finite = np.isfinite(predicted)
    # A non-finite prediction counts as the worst of the finite ones (or the target's spread).
    fallback = float(np.abs(y - y.mean()).max()) if len(y) else 0.0
    error = np.where(finite, predicted - y, fallback)
    total = float(((y - y.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt((error**2).mean())),
        "mae": float(np.abs(error).mean()),
        "r2": float(1 - (error**2).sum() / total) if total > 0 else None,
        "mean_target": float(y.mean()),
        "mean_prediction": float(predicted[finite].mean()) if finite.any() else None,
        "non_finite_predictions": int((~finite).sum()),
        "sample": {"target": [float(v) for v in y[:500]], "prediction": [float(v) for v in np.where(finite, predicted, np.nan)[:500]]},
        "per_row": {"error": error},
    }


def slice_metrics(rows, per_row: dict[str, Any], slices: list[str]) -> dict[str, dict[str, Any]]:
    """``{feature: {value: {count, accuracy}}}`` (a regression: ``{count, rmse, mae}``) over
    ``rows`` (missing values: ``(missing)``)."""
    import numpy as np

    metrics: dict[str, dict[str, Any]] = {}
    for feature in slices:
        values = rows[feature].map(lambda v: MISSING if v is None or (not isinstance(v, str) and v != v) else str(v))
        metrics[feature] = {}
        for value in sorted(values.unique()):
            mask = (values == value).to_numpy()
            if "correct" in per_row:
                figures = {"accuracy": float(per_row["correct"][mask].mean())}
            else:
                error = per_row["error"][mask]
                figures = {"rmse": float(np.sqrt((error**2).mean())), "mae": float(np.abs(error).mean())}
            metrics[feature][value] = {"count": int(mask.sum()), **figures}
    return metrics


def _normalized(probabilities):
    """Rows that sum to exactly 1 in float64 (softmax in float32 is off by ~1e-7); non-finite
    rows become uniform so a broken model gets a bad log loss rather than an error."""
    import numpy as np

    p = np.where(np.isfinite(probabilities), probabilities, 1.0)
    p = np.clip(p, 1e-15, None)
    return p / p.sum(axis=1, keepdims=True)


def _check(name: str, passed: bool, reason: str) -> dict[str, Any]:
    return {"check": name, "passed": passed, "reason": reason}


def threshold_checks(task: str, metrics: dict[str, Any], champion: dict[str, Any] | None,
                     thresholds: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One check per value threshold (``min``, ``max``) and change threshold (``max_drop`` /
    ``max_rise`` against the champion on the same rows) of each metric."""
    checks = []
    for name, bounds in thresholds.items():
        known = metric(task, name)
        value = metrics.get(name)
        if known is None or value is None:
            checks.append(_check(f"{name}", False, f"{name} could not be computed on the test split ({task} task)"))
            continue
        if bounds.get("min") is not None:
            low = float(bounds["min"])
            checks.append(_check(f"{name}.min", value >= low, f"test {name} {value:.4f} {'>=' if value >= low else '<'} minimum {low:.4f}"))
        if bounds.get("max") is not None:
            high = float(bounds["max"])
            checks.append(_check(f"{name}.max", value <= high, f"test {name} {value:.4f} {'<=' if value <= high else '>'} maximum {high:.4f}"))
        limit = bounds.get(known.change_key)
        if limit is None:
            continue
        theirs = champion.get(name) if champion else None
        if champion is None or theirs is None:
            checks.append(_check(f"{name}.{known.change_key}", True, "no champion yet: nothing to compare with" if champion is None
                                 else f"the champion's {name} could not be computed"))
            continue
        change = value - theirs
        worse = -change if known.higher_is_better else change
        checks.append(_check(
            f"{name}.{known.change_key}", worse <= float(limit),
            f"test {name} {value:.4f} vs champion version {champion['version']} {theirs:.4f}: change {change:+.4f} "
            f"(at most {float(limit):.4f} {'lower' if known.higher_is_better else 'higher'} is allowed)",
        ))
    return checks


def bless(metrics: dict[str, Any], champion: dict[str, Any] | None, thresholds: dict[str, dict[str, float]],
          task: str = CLASSIFICATION, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The blessing: every check (``extra``: the backtest's) with its figures; blessed only if all pass."""
    checks = [
        *threshold_checks(task, metrics, champion, thresholds),
        *(extra or []),
        _check("finite_predictions", metrics["non_finite_predictions"] == 0, f"{metrics['non_finite_predictions']} NaN/infinite predictions"),
    ]
    blessed = all(c["passed"] for c in checks)
    return {
        "blessed": blessed,
        "checks": checks,
        "reasons": [c["reason"] for c in checks if not c["passed"]] or ["all checks passed"],
        "champion_version": champion["version"] if champion else None,
    }


def headline(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The task's metrics (:data:`~airflow_mlops.contract.tasks.METRICS`) out of ``metrics``."""
    return {m.name: metrics.get(m.name) for m in METRICS[metrics["task"]]}


def describe(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4f}" for k, v in headline(metrics).items() if v is not None)


def render_report(metrics: dict[str, Any], champion: dict[str, Any] | None, blessing: dict[str, Any],
                  back: dict[str, Any] | None = None) -> str:
    verdict = "blessed" if blessing["blessed"] else "not blessed"
    theirs = headline(champion) if champion else {}
    sections = [
        f"<p>Verdict: <span class='{'ok' if blessing['blessed'] else 'bad'}'>{verdict}</span> ({reports.esc(metrics['task'])})</p>",
        "<h2>Checks</h2>" + reports.table(["check", "passed", "detail"], [(c["check"], "yes" if c["passed"] else "NO", c["reason"]) for c in blessing["checks"]]),
        "<h2>Test split</h2>"
        + reports.table(
            ["metric", "candidate", "champion"],
            [*((name, "-" if value is None else value, theirs.get(name, "-") if champion else "-") for name, value in headline(metrics).items()),
             ("rows", metrics["rows"], champion["rows"] if champion else "-")],
        ),
    ]
    if back is not None:
        sections.append(
            f"<h2>Backtest: on champion version {reports.esc(back['version'])}'s test split ({back['rows']} rows)</h2>"
            + reports.table(["metric", "candidate", "champion"],
                            [(n, "-" if v is None else v, "-" if back["champion"].get(n) is None else back["champion"][n])
                             for n, v in back["candidate"].items()]))
    if "per_class" in metrics:
        sections += [
            "<h2>Per class</h2>" + reports.table(
                ["class", "precision", "recall", "f1", "support"],
                [(c, m["precision"], m["recall"], m["f1"], m["support"]) for c, m in metrics["per_class"].items()],
            ),
            "<h2>Confusion matrix (rows: true, columns: predicted)</h2>"
            + report_charts.confusion_heatmap(metrics["confusion_matrix"]["labels"], metrics["confusion_matrix"]["matrix"])
            + reports.table([""] + metrics["confusion_matrix"]["labels"], [[c, *row] for c, row in zip(metrics["confusion_matrix"]["labels"], metrics["confusion_matrix"]["matrix"])]),
        ]
    else:
        actual, predicted = metrics["sample"]["target"], metrics["sample"]["prediction"]
        sections.append("<h2>Predicted against true values</h2><div class='charts'>"
                        + report_charts.predicted_vs_actual(actual, predicted) + report_charts.residual_histogram(actual, predicted) + "</div>")
    sections += slice_sections(metrics["slices"], champion)
    return reports.page("Model evaluation", sections)


def slice_sections(slices: dict[str, dict[str, Any]], champion: dict[str, Any] | None) -> list[str]:
    """Per slice feature: the main metric per value as bars (next to the champion's on the
    same rows, when there is one) and every figure as a table."""
    sections = []
    for feature, values in slices.items():
        names = [k for k in next(iter(values.values()), {}) if k != "count"]
        theirs = (champion or {}).get("slices", {}).get(feature)
        bars = report_charts.slice_bars(feature, names[0], values, theirs, f"champion v{champion['version']}" if champion else "champion") if names else ""
        sections.append(f"<h2>Slices by {reports.esc(feature)}</h2>" + bars
                        + reports.table([feature, "rows", *names], [(v, m["count"], *(m[n] for n in names)) for v, m in values.items()]))
    return sections


@dataclass(frozen=True)
class Champion:
    """The registry's champion, loaded: its model, the transform it was trained with, and the
    examples it was trained and tested on (its lineage tag)."""

    version: str
    model: Any
    transform: dict[str, Any]
    examples_uri: str | None


def load_champion(registry, client, log, candidate_fingerprint: str | None = None) -> Champion | None:
    """The registry's champion, or None (also when it is the candidate itself)."""
    import mlflow

    from airflow_mlops.runtime.ml.model import load_model
    from airflow_mlops.runtime.ml.model_registry import CHAMPION

    version = registry.version(client, CHAMPION)
    if version is None:
        log.info("no champion in the registry yet: the first model is compared with thresholds only")
        return None
    if candidate_fingerprint is not None and (version.tags or {}).get("model_fingerprint") == candidate_fingerprint:
        log.info("the champion (version %s) is this very model: it is judged by the thresholds only", version.version)
        return None
    # A scratch download (from the registry's artifact store, gs:// with a gs:// root), removed
    # once the model is in memory.
    with tempfile.TemporaryDirectory(prefix="mlops-champion-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{registry.model_name}/{version.version}", dst_path=tmp)
        log.info("champion: %s version %s", registry.model_name, version.version)
        with open(f"{local}/transform.json") as f:
            return Champion(str(version.version), load_model(f"{local}/model.keras"), json.load(f),
                            (version.tags or {}).get("examples_uri"))


def load_candidate(model_ref) -> tuple[Any, dict[str, Any]]:
    """The candidate keras model and the transform it was trained with. A model that does not
    load is a model error (train loads it back once, so this is rare: a changed environment)."""
    from airflow_mlops.runtime.ml.model import load_model

    store = ArtifactStore()
    with store.local_dir(model_ref.uri) as local:
        try:
            model = load_model(f"{local}/model.keras")
        except (ImportError, TypeError, ValueError) as exc:
            raise ComponentError(ErrorKind.MODEL, f"evaluate: the candidate model {model_ref.uri} does not load: "
                                 f"{type(exc).__name__}: {exc}") from None
        return model, store.read_json(f"file://{local}/transform.json")


def comparable(candidate: dict[str, Any], champion: dict[str, Any]) -> str | None:
    """Why the champion cannot be compared with the candidate on the same rows (another task,
    other classes); ``None`` when it can. The champion is scored with its own transform, so its
    classes are read in its own order."""
    from airflow_mlops.runtime.ml.features import task_of

    if task_of(champion) != task_of(candidate):
        return f"it is a {task_of(champion)} model, the candidate a {task_of(candidate)} one"
    theirs, ours = champion["label"].get("classes"), candidate["label"].get("classes")
    if theirs is not None and set(theirs) != set(ours or ()):
        return f"it knows the classes {', '.join(theirs)}, the candidate {', '.join(ours or ())}"
    return None


def evaluate_champion(champion: Champion | None, test, transform: dict[str, Any], params: EvaluateParams, log) -> dict[str, Any] | None:
    """The champion's metrics on the same rows, with its version; ``None`` without a champion,
    or with one that cannot be compared (another task, other classes)."""
    if champion is None:
        return None
    why_not = comparable(transform, champion.transform)
    if why_not:
        log.warning("champion version %s is not compared: %s; the candidate is judged by the value thresholds", champion.version, why_not)
        return None
    try:
        figures = {"version": champion.version, **evaluate_model(champion.model, test, champion.transform, params.label, list(params.slices))}
    except OutputMismatch as exc:
        log.warning("champion version %s is not compared: %s", champion.version, exc)
        return None
    log.info("champion version %s on the same rows: %s", champion.version, describe(figures))
    return figures


def backtest(champion: Champion | None, model, transform: dict[str, Any], examples_uri: str, params: EvaluateParams,
             log) -> dict[str, Any] | None:
    """The candidate and the champion on the champion's own test split: ``{"examples_uri",
    "rows", "candidate", "champion"}``, or None when there is nothing to backtest on (no
    comparable champion, the same split, a split no longer readable)."""
    if champion is None or comparable(transform, champion.transform) or not champion.examples_uri:
        return None
    if champion.examples_uri == examples_uri:
        log.info("backtest: the champion was tested on the same split; nothing more to learn")
        return None
    store = ArtifactStore()
    split = f"{champion.examples_uri}/test.parquet"
    try:
        import pandas as pd

        with store.open(split) as f:
            theirs = pd.read_parquet(f)
    except (OSError, ValueError) as exc:
        log.warning("backtest skipped: the champion's test split %s cannot be read (%s)", split, exc)
        return None
    try:
        candidate = evaluate_model(model, theirs, transform, params.label, [])
        reference = evaluate_model(champion.model, theirs, champion.transform, params.label, [])
    except (OutputMismatch, ComponentError) as exc:
        log.warning("backtest skipped: %s", exc)
        return None
    result = {"examples_uri": champion.examples_uri, "rows": candidate["rows"], "version": champion.version,
              "candidate": headline(candidate), "champion": headline(reference)}
    log.info("backtest on champion version %s's test split (%d rows): candidate %s; champion %s", champion.version,
             candidate["rows"], describe(candidate), describe(reference))
    return result


def backtest_checks(task: str, result: dict[str, Any] | None, thresholds: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """The backtest's change thresholds as checks named ``backtest.<metric>.<key>``."""
    if result is None:
        return []
    champion = {**result["champion"], "version": result["version"]}
    checks = threshold_checks(task, result["candidate"], champion, thresholds)
    return [{**c, "check": f"backtest.{c['check']}", "reason": f"on the champion's test split ({result['rows']} rows): {c['reason']}"}
            for c in checks]


def log_blessing(blessing: dict[str, Any], log) -> None:
    for check in blessing["checks"]:
        log.info("check %s: %s - %s", check["check"], "passed" if check["passed"] else "FAILED", check["reason"])
    log.info("blessing: %s", "BLESSED" if blessing["blessed"] else "NOT BLESSED: " + "; ".join(blessing["reasons"]))


def write_evaluation(ctx: ExecutionContext, metrics: dict[str, Any], champion: dict[str, Any] | None, blessing: dict[str, Any],
                     back: dict[str, Any] | None = None) -> str:
    """``metrics.json``, ``report.html`` and ``blessing.json``; the report's URI."""
    store = ArtifactStore()
    report_uri = ctx.output_uri("evaluation", "report.html")
    store.write_json(ctx.output_uri("evaluation", "metrics.json"), {"candidate": metrics, "champion": champion, "backtest": back})
    store.write_text(report_uri, render_report(metrics, champion, blessing, back))
    store.write_json(ctx.output_uri("blessing", "blessing.json"), blessing)
    return report_uri


def log_to_mlflow(registry, client, spec: ComponentSpec, metrics: dict[str, Any], blessing: dict[str, Any]) -> None:
    """``eval.<metric>`` for the task's metrics and the ``blessed`` tag on the pipeline run's MLflow run."""
    from mlflow.entities import Metric

    run_id = registry.pipeline_run_id(client, spec.run, spec.invocation_uri)
    now = time.time_ns() // 1_000_000
    client.log_batch(run_id, metrics=[Metric(f"eval.{k}", float(v), now, 0) for k, v in headline(metrics).items() if v is not None])
    client.set_tag(run_id, "blessed", str(blessing["blessed"]).lower())


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.ml.model_registry import Registry

    params: EvaluateParams = ctx.params
    model, transform = load_candidate(ctx.spec.inputs["model"])
    test = read_split(ctx.spec.inputs["examples"], "test")
    metrics = evaluate_model(model, test, transform, params.label, list(params.slices))
    ctx.log.info("candidate (%s) on %d test rows: %s", params.task, metrics["rows"], describe(metrics))

    registry = Registry.from_spec(ctx.spec)
    client = registry.client()
    loaded = load_champion(registry, client, ctx.log, ctx.spec.inputs["model"].fingerprint)
    champion = evaluate_champion(loaded, test, transform, params, ctx.log)
    back = backtest(loaded, model, transform, ctx.spec.inputs["examples"].uri, params, ctx.log)
    thresholds = {name: bounds.to_dict() for name, bounds in params.thresholds.items()} or DEFAULT_THRESHOLDS[params.task]
    back_thresholds = {name: bounds.to_dict() for name, bounds in params.backtest.items()} or DEFAULT_BACKTEST[params.task]
    blessing = bless(metrics, champion, thresholds, params.task, backtest_checks(params.task, back, back_thresholds))
    log_blessing(blessing, ctx.log)

    report_uri = write_evaluation(ctx, metrics, champion, blessing, back)
    log_to_mlflow(registry, client, ctx.spec, metrics, blessing)
    return evaluation_result(ctx, metrics, champion, blessing, report_uri)


def evaluation_result(
    ctx: ExecutionContext, metrics: dict[str, Any], champion: dict[str, Any] | None, blessing: dict[str, Any], report_uri: str
) -> ComponentResult:
    blessing_props = {"blessed": blessing["blessed"], "reasons": blessing["reasons"], "champion_version": blessing["champion_version"]}
    figures = headline(metrics)
    theirs = headline(champion) if champion else {}
    return ComponentResult(
        outputs={
            "evaluation": OutputArtifact(ctx.output_uri("evaluation"), {"task": metrics["task"], **figures, "report": report_uri}),
            "blessing": OutputArtifact(ctx.output_uri("blessing"), blessing_props),
        },
        metrics={
            **figures,
            **{f"champion_{k}": theirs.get(k) for k in figures},
            "blessed": blessing["blessed"],
        },
    )


COMPONENT = Component.implementing(EVALUATE, run, external_fingerprint=external_fingerprint)
