"""Running the CT components in-process against a temporary artifact root and registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_mlops.contract import ArtifactRef, ComponentSpec, ExecutionRecord, RunInfo, join_uri
from airflow_mlops.runtime.components.catalog import load_component
from airflow_mlops.runtime.components.runner import run_component

REPO = Path(__file__).resolve().parents[3]
PENGUIN_SCHEMA = REPO / "include" / "penguin" / "schema.pbtxt"
FEATURES = {
    "island": "categorical",
    "bill_length_mm": "numeric",
    "bill_depth_mm": "numeric",
    "flipper_length_mm": "numeric",
    "body_mass_g": "numeric",
    "sex": "categorical",
}
LABEL = "species"
SPLIT = {"train": 0.7, "eval": 0.15, "test": 0.15}


@dataclass
class Pipeline:
    root: str
    tracking_uri: str
    schema_uri: str
    model_name: str = "penguin"
    counter: list = field(default_factory=lambda: [0])

    def spec(self, component: str, params: dict, inputs: dict[str, ArtifactRef] | None = None, run_id: str = "r1", cache: bool = True, beam_args=None) -> ComponentSpec:
        self.counter[0] += 1
        return ComponentSpec(
            component=component,
            pipeline="penguin",
            artifact_root=self.root,
            invocation_uri=join_uri(self.root, "penguin", "_invocations", f"{component}-{self.counter[0]}"),
            params=params,
            inputs=inputs or {},
            cache=cache,
            run=RunInfo(dag_id="penguin_training", run_id=run_id),
            settings={
                "registry": {"tracking_uri": self.tracking_uri, "model_name": self.model_name},
                "beam_pipeline_args": beam_args or ["--runner=DirectRunner"],
            },
        )

    def run(self, component: str, params: dict, inputs: dict[str, ArtifactRef] | None = None, **kw) -> ExecutionRecord:
        return run_component(load_component(component), self.spec(component, params, inputs, **kw))

    # One call per step, with the penguin pipeline's parameters.
    def ingest(self, source: str, **kw) -> ExecutionRecord:
        return self.run("ingest", {"source": source, "label": LABEL, "split": SPLIT, "format": "auto"}, **kw)

    def validate(self, examples: ArtifactRef, on_drift: str = "warn", stop_above: float = 0.8, **kw) -> ExecutionRecord:
        params = {
            "features": FEATURES,
            "label": LABEL,
            "schema_uri": self.schema_uri,
            "max_missing_fraction": 0.1,
            "drift": {"jensen_shannon": 0.3, "l_infinity": 0.3, "on_drift": on_drift, "stop_above": stop_above},
        }
        return self.run("validate", params, {"examples": examples}, **kw)

    def transform(self, examples: ArtifactRef, schema: ArtifactRef, **kw) -> ExecutionRecord:
        return self.run("transform", {"features": FEATURES, "label": LABEL}, {"examples": examples, "schema": schema}, **kw)

    def train(self, examples: ArtifactRef, transform: ArtifactRef, epochs: int = 10, **kw) -> ExecutionRecord:
        params = {"label": LABEL, "hidden_units": [16, 8], "learning_rate": 0.01, "epochs": epochs, "batch_size": 32, "seed": 42}
        return self.run("train", params, {"examples": examples, "transform": transform}, **kw)

    def evaluate(self, examples: ArtifactRef, model: ArtifactRef, min_accuracy: float = 0.9, **kw) -> ExecutionRecord:
        params = {"label": LABEL, "slices": ["island", "sex"], "thresholds": {"accuracy": {"min": min_accuracy, "max_drop": 0.02}}}
        return self.run("evaluate", params, {"examples": examples, "model": model}, **kw)

    def register(self, records: dict[str, ExecutionRecord], params: dict | None = None, **kw) -> ExecutionRecord:
        inputs = {
            "model": records["train"].outputs["model"],
            "blessing": records["evaluate"].outputs["blessing"],
            "evaluation": records["evaluate"].outputs["evaluation"],
            "examples": records["ingest"].outputs["examples"],
            "statistics": records["validate"].outputs["statistics"],
            "schema": records["validate"].outputs["schema"],
            "transform": records["transform"].outputs["transform"],
        }
        return self.run("register", params or {}, inputs, **kw)

    def infra_validate(self, model_version: ArtifactRef, examples: ArtifactRef, max_latency_ms: float = 1000, **kw) -> ExecutionRecord:
        params = {"features": FEATURES, "sample_rows": 10, "max_latency_ms": max_latency_ms}
        return self.run("infra_validate", params, {"model_version": model_version, "examples": examples}, **kw)

    def deploy(self, model_version: ArtifactRef, infra_blessing: ArtifactRef, action: str = "canary", weight: float = 0.1, **kw) -> ExecutionRecord:
        params = {"action": action, "weight": weight, "window_minutes": 60}
        return self.run("deploy", params, {"model_version": model_version, "infra_blessing": infra_blessing}, **kw)

    def chain(self, source: str, run_id: str = "r1", epochs: int = 10) -> dict[str, ExecutionRecord]:
        """ingest -> validate -> transform -> train -> evaluate -> register -> infra_validate -> deploy."""
        r: dict[str, ExecutionRecord] = {}
        r["ingest"] = self.ingest(source, run_id=run_id)
        examples = r["ingest"].outputs["examples"]
        r["validate"] = self.validate(examples, run_id=run_id)
        r["transform"] = self.transform(examples, r["validate"].outputs["schema"], run_id=run_id)
        r["train"] = self.train(examples, r["transform"].outputs["transform"], epochs=epochs, run_id=run_id)
        r["evaluate"] = self.evaluate(examples, r["train"].outputs["model"], run_id=run_id)
        if r["evaluate"].metrics["blessed"]:
            r["register"] = self.register(r, run_id=run_id)
            version = r["register"].outputs["model_version"]
            r["infra_validate"] = self.infra_validate(version, examples, run_id=run_id)
            r["deploy"] = self.deploy(version, r["infra_validate"].outputs["infra_blessing"], run_id=run_id)
        return r

    def registry(self):
        from airflow_mlops.runtime.ml.model_registry import Registry

        return Registry(self.tracking_uri, self.model_name, "penguin", join_uri(self.root, "penguin", "_mlflow"))


def new_pipeline(tmp_path_factory) -> Pipeline:
    """A pipeline with its own artifact root, MLflow registry and copy of the curated schema."""
    import shutil

    base = tmp_path_factory.mktemp("pipeline")
    shutil.copy(PENGUIN_SCHEMA, base / "schema.pbtxt")
    return Pipeline(root=f"file://{base}/artifacts", tracking_uri=f"sqlite:///{base}/mlflow.db", schema_uri=f"file://{base}/schema.pbtxt")


# A module that changes the registry or the prediction log imports these two fixtures: a
# pipeline and a first run of its own instead of the session's shared ones (conftest.py).
@pytest.fixture(scope="module", name="pipeline")
def own_pipeline(tmp_path_factory) -> Pipeline:
    return new_pipeline(tmp_path_factory)


@pytest.fixture(scope="module", name="first_run")
def own_first_run(pipeline: Pipeline, penguins_csv) -> dict[str, ExecutionRecord]:
    return pipeline.chain(str(penguins_csv))
