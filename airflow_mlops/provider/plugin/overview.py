"""A pipeline's MLOps state, assembled from what :class:`~.data.ArtifactReader` reads.

The result is plain JSON (the view's API returns it as is; the pages render it):

- ``versions``: one per registered model version, from ``register``'s execution record: its
  aliases (``champion``, ``challenger``, ``previous``, from the deployment record that moves them),
  ``held`` (deploy held it back), blessing, evaluation metrics, lineage (data snapshot, statistics,
  schema, transform, model, MLflow run, DAG run) and its reports;
- ``canary``: the version on trial and its share of the traffic;
- ``history``: every rollout decision with its figures and reason (the record's ``bootstrap``,
  ``canary``, ``promote``, ``reject``, ``rollback``, and deploy's ``hold``, which the record does not keep);
- ``monitoring``: the verdicts over time;
- ``reports``: every HTML report under the pipeline (validation, evaluation, infra validation,
  canary analysis, monitoring), as paths relative to ``<root>/<pipeline>/``.
"""

from __future__ import annotations

from typing import Any

from airflow_mlops.contract import ExecutionRecord
from airflow_mlops.provider.plugin.data import ArtifactReader

#: components whose outputs hold HTML reports, with what people call them
REPORT_COMPONENTS = {
    "validate": "validation",
    "evaluate": "evaluation",
    "infra_validate": "infra validation",
    "canary_analysis": "canary analysis",
    "monitor": "monitoring",
}
#: the metrics shown per version, in this order when present
KEY_METRICS = ("accuracy", "auc", "f1", "log_loss", "rmse", "mae", "r2")
#: which metric the "per version" picture shows: the first one a version has
HEADLINE_METRICS = ("accuracy", "auc", "r2", "rmse", "mae")


def _run(record: ExecutionRecord) -> dict[str, Any]:
    return {"dag_id": record.run.dag_id, "run_id": record.run.run_id, "task_id": record.run.task_id}


def _report_of(reader: ArtifactReader, pipeline: str, properties: dict[str, Any]) -> str | None:
    report = properties.get("report")
    return reader.relative(pipeline, report) if isinstance(report, str) else None


def previous_champion(record: dict[str, Any]) -> str | None:
    """The champion before the current one (alias ``previous``): the one the last promotion or
    rollback replaced."""
    for decision in reversed(record["history"]):
        if decision.get("action") in ("promote", "rollback") and str(decision.get("version")) == str(record["champion"]):
            previous = decision.get("previous_champion")
            return str(previous) if previous is not None else None
    return None


def aliases(record: dict[str, Any]) -> dict[str, str]:
    """``{alias: version}`` as the rollout sets them in the registry."""
    out: dict[str, str] = {}
    if record["champion"] is not None:
        out["champion"] = str(record["champion"])
    if record["canary"]:
        out["challenger"] = str(record["canary"]["version"])
    previous = previous_champion(record)
    if previous is not None:
        out["previous"] = previous
    return out


def holds(reader: ArtifactReader, pipeline: str) -> list[dict[str, Any]]:
    """deploy's ``hold`` decisions (a model of drifted data kept from a canary), as history entries."""
    out = []
    for record in reader.executions(pipeline, "deploy"):
        deployment = record.outputs.get("deployment")
        properties = deployment.properties if deployment is not None else {}
        if properties.get("action") == "hold":
            out.append({
                "action": "hold", "version": str(properties.get("version")), "at": record.ended_at,
                "by": f"{record.run.dag_id}/{record.run.run_id}", "reason": properties.get("reason", ""),
                "previous_champion": properties.get("champion"), "figures": {},
            })
    return out


def version_entry(reader: ArtifactReader, pipeline: str, record: ExecutionRecord, validation: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One registered version from ``register``'s execution record."""
    inputs = record.inputs
    output = record.outputs["model_version"]

    def uri(name: str) -> str | None:
        return inputs[name].uri if name in inputs else None

    evaluation = inputs["evaluation"].properties if "evaluation" in inputs else {}
    blessing = inputs["blessing"].properties if "blessing" in inputs else {}
    examples = inputs["examples"].properties if "examples" in inputs else {}
    model = inputs["model"].properties if "model" in inputs else {}
    statistics_fp = inputs["statistics"].fingerprint if "statistics" in inputs else None
    reports = {}
    if (evaluation_report := _report_of(reader, pipeline, evaluation)) is not None:
        reports["evaluation"] = evaluation_report
    reports.update(validation.get(statistics_fp or "", {}))
    return {
        "version": str(output.properties.get("version")),
        "registered_at": record.ended_at,
        "model_uri": output.uri,
        "task": evaluation.get("task") or model.get("task"),
        "metrics": {k: evaluation[k] for k in KEY_METRICS if isinstance(evaluation.get(k), (int, float))},
        "blessing": {"blessed": blessing.get("blessed"), "reasons": list(blessing.get("reasons") or []),
                     "champion_version": blessing.get("champion_version")},
        "lineage": {
            "examples": uri("examples"), "rows": examples.get("rows"), "splits": examples.get("splits"),
            "source": examples.get("source"), "statistics": uri("statistics"), "schema": uri("schema"),
            "transform": uri("transform"), "model": uri("model"), "mlflow_run_id": model.get("mlflow_run_id"),
            "dag_run": _run(record),
        },
        "reports": reports,
    }


def validation_reports(reader: ArtifactReader, pipeline: str) -> dict[str, dict[str, str]]:
    """validate's reports by the fingerprint of its execution (what a version's ``statistics`` input names)."""
    out: dict[str, dict[str, str]] = {}
    for record in reader.executions(pipeline, "validate"):
        reports = {}
        if "anomalies" in record.outputs and (r := _report_of(reader, pipeline, record.outputs["anomalies"].properties)):
            reports["validation"] = r
        if "statistics" in record.outputs and (
            r := reader.relative(pipeline, record.outputs["statistics"].uri.rstrip("/") + "/statistics.html")
        ):
            reports["statistics"] = r
        out[record.fingerprint] = reports
    return out


def versions(reader: ArtifactReader, pipeline: str, record: dict[str, Any], held: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every registered version, newest first, with its aliases."""
    validation = validation_reports(reader, pipeline)
    by_version: dict[str, dict[str, Any]] = {}
    for execution in reader.executions(pipeline, "register"):
        if "model_version" not in execution.outputs:
            continue
        entry = version_entry(reader, pipeline, execution, validation)
        # the same model registered again names its version; the first registration is the one with lineage
        by_version.setdefault(entry["version"], entry)
    version_aliases: dict[str, list[str]] = {}
    for alias, version in aliases(record).items():
        version_aliases.setdefault(version, []).append(alias)
    held_versions = {h["version"]: h["reason"] for h in held}
    out = []
    for version, entry in by_version.items():
        entry["aliases"] = version_aliases.get(version, [])
        entry["held"] = held_versions.get(version)
        out.append(entry)
    return sorted(out, key=lambda e: (len(e["version"]), e["version"]), reverse=True)


def reports(reader: ArtifactReader, pipeline: str) -> list[dict[str, Any]]:
    """Every HTML report of a succeeded execution, newest first: ``kind``, ``path``, ``at``, ``dag_run``."""
    out = []
    for component, kind in REPORT_COMPONENTS.items():
        executions = reader.executions(pipeline, component)
        files = reader.html_files(pipeline, component) if executions else []
        for execution in executions:
            prefixes = [ref.uri.rstrip("/") + "/" for ref in execution.outputs.values()]
            for uri in files:
                path = reader.relative(pipeline, uri)
                if path is not None and any(uri.startswith(p) for p in prefixes):
                    out.append({"kind": kind, "component": component, "path": path, "name": uri.rsplit("/", 1)[-1],
                                "at": execution.ended_at, "dag_run": _run(execution)})
    return sorted(out, key=lambda r: r["at"], reverse=True)


def monitoring(reader: ArtifactReader, pipeline: str) -> list[dict[str, Any]]:
    """The verdicts, oldest first, with their report as a path under the pipeline."""
    out = []
    for verdict in reader.verdicts(pipeline):
        report = verdict.get("report")
        out.append({
            "status": verdict.get("status"), "at": verdict.get("at"), "window_start": verdict.get("window_start"),
            "window_end": verdict.get("window_end"), "rows": verdict.get("rows"), "labelled": verdict.get("labelled"),
            "accuracy": verdict.get("accuracy"), "mae": verdict.get("mae"), "drift": verdict.get("drift"),
            "degradation": verdict.get("degradation"), "drift_share": verdict.get("drift_share"),
            "drifted_features": verdict.get("drifted_features") or [], "reasons": verdict.get("reasons") or [],
            "champion_version": verdict.get("champion_version"), "features": verdict.get("features") or {},
            "by_version": verdict.get("by_version") or {},
            "report": reader.relative(pipeline, report) if isinstance(report, str) else None,
        })
    return out


def headline_metric(entries: list[dict[str, Any]]) -> str | None:
    for metric in HEADLINE_METRICS:
        if any(metric in e["metrics"] for e in entries):
            return metric
    return None


def pipeline_overview(reader: ArtifactReader, pipeline: str) -> dict[str, Any]:
    """Everything the pipeline page shows (see the module docstring)."""
    record = reader.deployment_record(pipeline)
    held = holds(reader, pipeline)
    entries = versions(reader, pipeline, record, held)
    canary = record["canary"]
    history = sorted([*record["history"], *held], key=lambda d: str(d.get("at") or ""))
    return {
        "pipeline": pipeline,
        "artifact_root": reader.root,
        "champion": record["champion"],
        "aliases": aliases(record),
        "canary": {**canary, "share": canary.get("weight")} if canary else None,
        "versions": entries,
        "headline_metric": headline_metric(entries),
        "history": list(reversed(history)),
        "monitoring": monitoring(reader, pipeline),
        "reports": reports(reader, pipeline),
    }


def pipeline_summary(reader: ArtifactReader, pipeline: str) -> dict[str, Any]:
    """What the index lists per pipeline: champion, canary and the last verdict (cheap: no executions read)."""
    record = reader.deployment_record(pipeline)
    verdicts = reader.verdicts(pipeline, limit=1)
    last = verdicts[-1] if verdicts else None
    return {
        "pipeline": pipeline,
        "champion": record["champion"],
        "canary": record["canary"],
        "last_decision": record["history"][-1] if record["history"] else None,
        "last_verdict": {k: last.get(k) for k in ("status", "at", "reasons")} if last else None,
    }
