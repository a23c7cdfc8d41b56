"""A small artifact root as the runtime writes it, for the MLOps view's tests (file:// or gs://).

Pipeline ``penguin`` (or the name given): versions 1 (bootstrap), 2 (canary, then promoted with
figures), 3 (on canary at 10 %), 4 (held: drifted data); validation, evaluation, infra validation,
canary and monitoring reports; two monitoring verdicts (ok, then an alert with drift in ``body_mass_g``).
"""

from __future__ import annotations

from pathlib import Path

from airflow_mlops.artifacts.store import ArtifactStore
from airflow_mlops.contract import ArtifactRef, ExecutionRecord, RunInfo, Status, join_uri

PIPELINE = "penguin"
PROMOTE_REASON = "canary passed: challenger 0.50% vs champion 0.60% (at most +1.00%)"
HOLD_REASON = "training data drifted from the champion's in body_mass_g: held back from a canary"
ALERT_REASON = "data drift: must-not-drift feature(s) body_mass_g drifted"
ACCURACIES = {"1": 0.91, "2": 0.95, "3": 0.97, "4": 0.93}


def write_pipeline_yaml(include: Path, name: str, artifact_root: str | None = None, directory: str | None = None) -> Path:
    """A minimal valid ``<include>/<directory or name>/pipeline.yaml`` (with ``artifact_root`` when given)."""
    path = include / (directory or name) / "pipeline.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    root = f"artifact_root: {artifact_root}\n" if artifact_root else ""
    path.write_text(f"pipeline: {name}\n{root}data: {{source: data.csv, label: y}}\nfeatures: {{x: numeric}}\n")
    return path


def _html(title: str) -> str:
    return f"<!DOCTYPE html><html><body><h1>{title}</h1></body></html>"


class FakeRoot:
    def __init__(self, root: str, store: ArtifactStore | None = None, pipeline: str = PIPELINE) -> None:
        self.root = root.rstrip("/")
        self.store = store or ArtifactStore()
        self.pipeline = pipeline
        self.reports: dict[str, str] = {}  # path under <root>/<pipeline> -> content

    def uri(self, *parts: str) -> str:
        return join_uri(self.root, self.pipeline, *parts)

    def report(self, path: str, title: str) -> str:
        self.store.write_text(self.uri(path), _html(title))
        self.reports[path] = _html(title)
        return self.uri(path)

    def execution(self, component: str, fp: str, minute: int, inputs: dict, outputs: dict, metrics: dict | None = None,
                  dag: str = "training") -> ExecutionRecord:
        def ref(name: str, spec: tuple) -> ArtifactRef:
            kind, uri, props, producer, producer_fp = spec
            return ArtifactRef(name=name, type=kind, uri=uri, producer=producer, fingerprint=producer_fp,
                               execution_uri=join_uri(self.uri(producer, producer_fp), "execution.json"), properties=props)

        record = ExecutionRecord(
            component=component, pipeline=self.pipeline, code_version="test", fingerprint=fp, status=Status.SUCCEEDED,
            params={}, inputs={k: ref(k, v) for k, v in inputs.items()},
            outputs={k: ref(k, (*v, component, fp)) for k, v in outputs.items()}, metrics=metrics or {},
            started_at=f"2026-01-01T10:{minute:02d}:00.000+00:00", ended_at=f"2026-01-01T10:{minute:02d}:30.000+00:00",
            duration_seconds=30.0, host="test", executor="pid 1",
            run=RunInfo(dag_id=f"{self.pipeline}_{dag}", run_id=f"manual__run{minute}", task_id=component, try_number=1),
        )
        self.store.write_record(self.uri(component, fp), record)
        return record

    def write(self) -> FakeRoot:
        validate_dir = self.uri("validate", "v1", "attempt-a")
        validation_report = self.report("validate/v1/attempt-a/anomalies/report.html", "validation report")
        self.report("validate/v1/attempt-a/statistics/statistics.html", "statistics facets")
        self.execution("validate", "v1", 1, {}, {
            "anomalies": ("ExampleAnomalies", f"{validate_dir}/anomalies", {"verdict": "valid", "report": validation_report}),
            "statistics": ("ExampleStatistics", f"{validate_dir}/statistics", {"splits": ["train"]}),
            "schema": ("Schema", f"{validate_dir}/schema", {}),
        })
        # a report left by a killed attempt: no execution record names it, the view does not list it
        self.store.write_text(self.uri("validate/v1/attempt-killed/anomalies/report.html"), _html("stale"))
        for i, version in enumerate(["1", "2", "3", "4"]):
            minute = 10 + 10 * i
            eval_dir = self.uri("evaluate", f"e{version}", "attempt-a")
            evaluation_report = self.report(f"evaluate/e{version}/attempt-a/evaluation/report.html", f"evaluation of v{version}")
            evaluation = {"accuracy": ACCURACIES[version], "auc": 0.99, "task": "classification", "report": evaluation_report}
            blessing = {"blessed": True, "reasons": ["all checks passed"], "champion_version": None}
            self.execution("evaluate", f"e{version}", minute, {}, {
                "evaluation": ("ModelEvaluation", f"{eval_dir}/evaluation", evaluation),
                "blessing": ("ModelBlessing", f"{eval_dir}/blessing", blessing),
            })
            infra_dir = self.uri("infra_validate", f"i{version}", "attempt-a")
            self.report(f"infra_validate/i{version}/attempt-a/infra_blessing/report.html", f"infra validation of v{version}")
            self.execution("infra_validate", f"i{version}", minute + 2, {}, {
                "infra_blessing": ("InfraBlessing", f"{infra_dir}/infra_blessing", {"blessed": True, "version": version}),
            })
            self.execution("register", f"r{version}", minute + 1, {
                "examples": ("Examples", self.uri("ingest/x/attempt-a/examples"), {"rows": 300 + i, "splits": {"train": 200}},
                             "ingest", "x"),
                "statistics": ("ExampleStatistics", f"{validate_dir}/statistics", {}, "validate", "v1"),
                "schema": ("Schema", f"{validate_dir}/schema", {}, "validate", "v1"),
                "transform": ("Transform", self.uri("transform/t/attempt-a/transform"), {}, "transform", "t"),
                "model": ("Model", self.uri(f"train/m{version}/attempt-a/model"), {"mlflow_run_id": f"run{version}"},
                          "train", f"m{version}"),
                "evaluation": ("ModelEvaluation", f"{eval_dir}/evaluation", evaluation, "evaluate", f"e{version}"),
                "blessing": ("ModelBlessing", f"{eval_dir}/blessing", blessing, "evaluate", f"e{version}"),
            }, {"model_version": ("ModelVersion", f"models:/{self.pipeline}/{version}", {"version": version, "name": self.pipeline})})
        hold_dir = self.uri("deploy", "d4", "attempt-a")
        self.execution("deploy", "d4", 45, {}, {"deployment": ("Deployment", f"{hold_dir}/deployment", {
            "action": "hold", "version": "4", "champion": "2", "canary": "3", "reason": HOLD_REASON})})
        canary_dir = self.uri("canary_analysis", "c2", "attempt-a")
        self.report("canary_analysis/c2/attempt-a/canary_report/report.html", "canary analysis of v2")
        self.execution("canary_analysis", "c2", 25, {}, {"canary_report": ("CanaryReport", f"{canary_dir}/canary_report",
                                                                           {"decision": "promote"})}, dag="promotion")
        self.store.write_json(self.uri("deployment", "record.json"), {
            "pipeline": self.pipeline, "champion": "2", "updated_at": "2026-01-01T10:35:00+00:00",
            "canary": {"version": "3", "weight": 0.1, "started_at": "2026-01-01T10:35:00+00:00", "window_minutes": 60},
            "history": [
                {"action": "bootstrap", "version": "1", "at": "2026-01-01T10:12:00+00:00", "by": f"{self.pipeline}_training/r1",
                 "reason": "first model: no champion to compare with", "previous_champion": None, "figures": {}},
                {"action": "canary", "version": "2", "at": "2026-01-01T10:22:00+00:00", "by": f"{self.pipeline}_training/r2",
                 "reason": "challenger answers 10% of requests for 60 min", "previous_champion": "1", "figures": {}},
                {"action": "promote", "version": "2", "at": "2026-01-01T10:26:00+00:00", "by": f"{self.pipeline}_promotion/p",
                 "reason": PROMOTE_REASON, "previous_champion": "1",
                 "figures": {"challenger": {"error_rate": 0.005, "predictions": 120}, "champion": {"error_rate": 0.006}}},
                {"action": "canary", "version": "3", "at": "2026-01-01T10:35:00+00:00", "by": f"{self.pipeline}_training/r3",
                 "reason": "challenger answers 10% of requests for 60 min", "previous_champion": "2", "figures": {}},
            ],
        })
        for n, (status, drifted, by_version) in enumerate([("ok", [], {"2": 90}), ("alert", ["body_mass_g"], {"2": 180, "3": 20})]):
            stamp = f"2026-01-01T11-0{n}-00.000Z"
            monitor_dir = self.uri("monitor", f"w{n}", "attempt-a", "monitoring")
            report = self.report(f"monitor/w{n}/attempt-a/monitoring/report.html", f"monitoring window {n}")
            features = {f: {"detected": f in drifted, "score": 0.001 if f in drifted else 0.6, "stattest": "K-S p_value",
                            "threshold": 0.05, "type": "numeric"} for f in ("bill_length_mm", "body_mass_g")}
            self.store.write_json(f"{monitor_dir}/metrics.json", {"features": features, "by_version": by_version})
            verdict = {"status": status, "at": f"2026-01-01T11:0{n}:05+00:00", "window_start": f"2026-01-01T10:0{n}:00+00:00",
                       "window_end": f"2026-01-01T11:0{n}:00+00:00", "rows": sum(by_version.values()), "labelled": 50,
                       "accuracy": 0.9, "drift": bool(drifted), "degradation": False, "drifted_features": drifted,
                       "reasons": [ALERT_REASON] if drifted else ["no data drift"], "champion_version": "2", "report": report}
            self.store.write_json(f"{monitor_dir}/verdict.json", verdict)
            self.store.write_json(self.uri("monitoring", "verdicts", f"{stamp}.json"), verdict)
            self.execution("monitor", f"w{n}", 50 + n, {}, {"monitoring": ("MonitoringReport", monitor_dir, {"status": status})},
                           dag="monitoring")
        return self
