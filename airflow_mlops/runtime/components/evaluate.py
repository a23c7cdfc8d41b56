"""evaluate: the candidate on the test split, per slice, against thresholds and the champion.

Inputs: ``examples`` (Examples), ``model`` (Model). Parameters: :class:`EvaluateParams`
(airflow_mlops/contract/params.py): value threshold ``min_accuracy``, change threshold
``max_accuracy_drop`` vs the registry's champion. Settings: ``registry``.

Outputs: ``evaluation`` (``metrics.json``, ``report.html``) and ``blessing`` (``blessing.json``:
``blessed`` with the reason of every check). A model that is not blessed is not registered; the
run still succeeds and says why.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ComponentSpec, ErrorKind
from airflow_mlops.contract.components import EVALUATE
from airflow_mlops.contract.params import EvaluateParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.ml import reports

MISSING = "(missing)"


def external_fingerprint(spec: ComponentSpec) -> str:
    """A new champion is a new baseline: evaluate again."""
    from airflow_mlops.runtime.ml.model_registry import champion_fingerprint

    return champion_fingerprint(spec)


def evaluate_model(model, frame, transform: dict[str, Any], label: str, slices: list[str]) -> dict[str, Any]:
    """Accuracy, log loss, per-class precision/recall/F1, confusion matrix and per-slice accuracy."""
    import numpy as np
    from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support

    from airflow_mlops.runtime.ml.features import label_indices, training_arrays

    classes = transform["label"]["classes"]
    inputs, y, dropped = training_arrays(frame, transform, label)
    if len(y) == 0:
        raise ComponentError(ErrorKind.DATA, "evaluate: the test split has no rows with a known label")
    probabilities = np.asarray(model.predict(inputs, verbose=0), dtype="float64")
    finite = np.isfinite(probabilities).all(axis=1)
    predicted = np.where(finite, np.nan_to_num(probabilities).argmax(axis=1), -1)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(y, predicted, labels=labels, zero_division=0)
    known = label_indices(frame, label, classes)[1]
    correct = predicted == y
    return {
        "rows": int(len(y)),
        "dropped_rows": int(dropped),
        "accuracy": float(correct.mean()),
        "log_loss": float(log_loss(y, _normalized(probabilities), labels=labels)),
        "non_finite_predictions": int((~finite).sum()),
        "per_class": {
            c: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": {"labels": classes, "matrix": confusion_matrix(y, predicted, labels=labels).tolist()},
        "slices": slice_accuracy(frame[known].reset_index(drop=True), correct, slices),
    }


def slice_accuracy(rows, correct, slices: list[str]) -> dict[str, dict[str, Any]]:
    """``{feature: {value: {count, accuracy}}}`` over ``rows`` (missing values: ``(missing)``)."""
    metrics: dict[str, dict[str, Any]] = {}
    for feature in slices:
        values = rows[feature].map(lambda v: MISSING if v is None or (not isinstance(v, str) and v != v) else str(v))
        metrics[feature] = {
            value: {"count": int(mask.sum()), "accuracy": float(correct[mask.to_numpy()].mean())}
            for value, mask in ((v, values == v) for v in sorted(values.unique()))
        }
    return metrics


def _normalized(probabilities):
    """Rows that sum to exactly 1 in float64 (softmax in float32 is off by ~1e-7); non-finite
    rows become uniform so a broken model gets a bad log loss rather than an error."""
    import numpy as np

    p = np.where(np.isfinite(probabilities), probabilities, 1.0)
    p = np.clip(p, 1e-15, None)
    return p / p.sum(axis=1, keepdims=True)


def bless(metrics: dict[str, Any], champion: dict[str, Any] | None, thresholds: dict[str, float]) -> dict[str, Any]:
    """The blessing: every check with its figures; blessed only if all pass."""
    accuracy = metrics["accuracy"]
    minimum = float(thresholds["min_accuracy"])
    checks = [
        {
            "check": "min_accuracy",
            "passed": accuracy >= minimum,
            "reason": f"test accuracy {accuracy:.4f} {'>=' if accuracy >= minimum else '<'} minimum {minimum:.4f}",
        },
        {
            "check": "finite_predictions",
            "passed": metrics["non_finite_predictions"] == 0,
            "reason": f"{metrics['non_finite_predictions']} NaN/infinite predictions",
        },
    ]
    if champion is None:
        checks.append({"check": "vs_champion", "passed": True, "reason": "no champion yet: nothing to compare with"})
    else:
        drop = float(thresholds["max_accuracy_drop"])
        change = accuracy - champion["accuracy"]
        checks.append(
            {
                "check": "vs_champion",
                "passed": change >= -drop,
                "reason": f"test accuracy {accuracy:.4f} vs champion version {champion['version']} {champion['accuracy']:.4f}: "
                f"change {change:+.4f} (a drop of at most {drop:.4f} is allowed)",
            }
        )
    blessed = all(c["passed"] for c in checks)
    return {
        "blessed": blessed,
        "checks": checks,
        "reasons": [c["reason"] for c in checks if not c["passed"]] or ["all checks passed"],
        "champion_version": champion["version"] if champion else None,
    }


def render_report(metrics: dict[str, Any], champion: dict[str, Any] | None, blessing: dict[str, Any]) -> str:
    verdict = "blessed" if blessing["blessed"] else "not blessed"
    sections = [
        f"<p>Verdict: <span class='{'ok' if blessing['blessed'] else 'bad'}'>{verdict}</span></p>",
        "<h2>Checks</h2>" + reports.table(["check", "passed", "detail"], [(c["check"], "yes" if c["passed"] else "NO", c["reason"]) for c in blessing["checks"]]),
        "<h2>Test split</h2>"
        + reports.table(
            ["metric", "candidate", "champion"],
            [
                ("accuracy", metrics["accuracy"], champion["accuracy"] if champion else "-"),
                ("log loss", metrics["log_loss"], champion["log_loss"] if champion else "-"),
                ("rows", metrics["rows"], champion["rows"] if champion else "-"),
            ],
        ),
        "<h2>Per class</h2>"
        + reports.table(
            ["class", "precision", "recall", "f1", "support"],
            [(c, m["precision"], m["recall"], m["f1"], m["support"]) for c, m in metrics["per_class"].items()],
        ),
        "<h2>Confusion matrix (rows: true, columns: predicted)</h2>"
        + reports.table([""] + metrics["confusion_matrix"]["labels"], [[c, *row] for c, row in zip(metrics["confusion_matrix"]["labels"], metrics["confusion_matrix"]["matrix"])]),
    ]
    for feature, values in metrics["slices"].items():
        sections.append(f"<h2>Slices by {reports.esc(feature)}</h2>" + reports.table([feature, "rows", "accuracy"], [(v, m["count"], m["accuracy"]) for v, m in values.items()]))
    return reports.page("Model evaluation", sections)


def load_champion(registry, client, log):
    """(version, keras model) of the registry's champion, or None."""
    import mlflow

    from airflow_mlops.runtime.ml.model import load_model
    from airflow_mlops.runtime.ml.model_registry import CHAMPION

    version = registry.version(client, CHAMPION)
    if version is None:
        log.info("no champion in the registry yet: the first model is compared with thresholds only")
        return None
    # A scratch download (from the registry's artifact store, gs:// with a gs:// root), removed
    # once the model is in memory.
    with tempfile.TemporaryDirectory(prefix="mlops-champion-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{registry.model_name}/{version.version}", dst_path=tmp)
        log.info("champion: %s version %s", registry.model_name, version.version)
        return str(version.version), load_model(f"{local}/model.keras")


def load_candidate(model_ref) -> tuple[Any, dict[str, Any]]:
    """The candidate keras model and the transform it was trained with."""
    from airflow_mlops.runtime.ml.model import load_model

    store = ArtifactStore()
    with store.local_dir(model_ref.uri) as local:
        return load_model(f"{local}/model.keras"), store.read_json(f"file://{local}/transform.json")


def evaluate_champion(registry, client, test, transform: dict[str, Any], params: EvaluateParams, log) -> dict[str, Any] | None:
    """The champion's metrics on the same rows, with its version; ``None`` without a champion."""
    loaded = load_champion(registry, client, log)
    if loaded is None:
        return None
    version, champion_model = loaded
    champion = {"version": version, **evaluate_model(champion_model, test, transform, params.label, list(params.slices))}
    log.info("champion version %s: accuracy %.4f on the same rows", version, champion["accuracy"])
    return champion


def log_blessing(blessing: dict[str, Any], log) -> None:
    for check in blessing["checks"]:
        log.info("check %s: %s - %s", check["check"], "passed" if check["passed"] else "FAILED", check["reason"])
    log.info("blessing: %s", "BLESSED" if blessing["blessed"] else "NOT BLESSED: " + "; ".join(blessing["reasons"]))


def write_evaluation(ctx: ExecutionContext, metrics: dict[str, Any], champion: dict[str, Any] | None, blessing: dict[str, Any]) -> str:
    """``metrics.json``, ``report.html`` and ``blessing.json``; the report's URI."""
    store = ArtifactStore()
    report_uri = ctx.output_uri("evaluation", "report.html")
    store.write_json(ctx.output_uri("evaluation", "metrics.json"), {"candidate": metrics, "champion": champion})
    store.write_text(report_uri, render_report(metrics, champion, blessing))
    store.write_json(ctx.output_uri("blessing", "blessing.json"), blessing)
    return report_uri


def log_to_mlflow(registry, client, spec: ComponentSpec, metrics: dict[str, Any], blessing: dict[str, Any]) -> None:
    """``eval.accuracy``, ``eval.log_loss`` and the ``blessed`` tag on the pipeline run's MLflow run."""
    from mlflow.entities import Metric

    run_id = registry.pipeline_run_id(client, spec.run, spec.invocation_uri)
    now = time.time_ns() // 1_000_000
    client.log_batch(run_id, metrics=[Metric(f"eval.{k}", float(metrics[k]), now, 0) for k in ("accuracy", "log_loss")])
    client.set_tag(run_id, "blessed", str(blessing["blessed"]).lower())


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.ml.model_registry import Registry

    params: EvaluateParams = ctx.params
    model, transform = load_candidate(ctx.spec.inputs["model"])
    test = read_split(ctx.spec.inputs["examples"], "test")
    metrics = evaluate_model(model, test, transform, params.label, list(params.slices))
    ctx.log.info("candidate: accuracy %.4f, log loss %.4f on %d test rows", metrics["accuracy"], metrics["log_loss"], metrics["rows"])

    registry = Registry.from_spec(ctx.spec)
    client = registry.client()
    champion = evaluate_champion(registry, client, test, transform, params, ctx.log)
    blessing = bless(metrics, champion, params.thresholds.to_dict())
    log_blessing(blessing, ctx.log)

    report_uri = write_evaluation(ctx, metrics, champion, blessing)
    log_to_mlflow(registry, client, ctx.spec, metrics, blessing)
    return evaluation_result(ctx, metrics, champion, blessing, report_uri)


def evaluation_result(
    ctx: ExecutionContext, metrics: dict[str, Any], champion: dict[str, Any] | None, blessing: dict[str, Any], report_uri: str
) -> ComponentResult:
    blessing_props = {"blessed": blessing["blessed"], "reasons": blessing["reasons"], "champion_version": blessing["champion_version"]}
    return ComponentResult(
        outputs={
            "evaluation": OutputArtifact(ctx.output_uri("evaluation"), {"accuracy": metrics["accuracy"], "report": report_uri}),
            "blessing": OutputArtifact(ctx.output_uri("blessing"), blessing_props),
        },
        metrics={
            "accuracy": metrics["accuracy"],
            "log_loss": metrics["log_loss"],
            "champion_accuracy": champion["accuracy"] if champion else None,
            "blessed": blessing["blessed"],
        },
    )


COMPONENT = Component.implementing(EVALUATE, run, external_fingerprint=external_fingerprint)
