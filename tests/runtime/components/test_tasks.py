"""Task types through the components: a regression (the diabetes example, its own module) and a
binary classification from ingest to register, the metrics of each task, and per-metric
thresholds that bless and reject."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import REPO, SPLIT, Pipeline
from report_images import images

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.runtime.components.evaluate import bless, classification_metrics, regression_metrics
from airflow_mlops.runtime.ml.report_charts import SQUARE, pixels

DIABETES = REPO / "include" / "diabetes"
DIABETES_SOURCE = "python://sklearn.datasets:load_diabetes?as_frame=true&scaled=false"
DIABETES_FEATURES = {name: "numeric" for name in ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")}


def chain(pipeline: Pipeline, source: str, features: dict, label: str, task: str, train: dict, thresholds: dict,
          positive_class: str | None = None, run_id: str = "r1") -> dict:
    """ingest -> validate -> transform -> train -> evaluate (-> register when blessed)."""
    r = {"ingest": pipeline.run("ingest", {"source": source, "label": label, "split": SPLIT, "format": "auto"}, run_id=run_id)}
    examples = r["ingest"].outputs["examples"]
    r["validate"] = pipeline.run("validate", {"features": features, "label": label, "schema_uri": pipeline.schema_uri},
                                 {"examples": examples}, run_id=run_id)
    transform = {"features": features, "label": label, "task": task, **({"positive_class": positive_class} if positive_class else {})}
    r["transform"] = pipeline.run("transform", transform, {"examples": examples, "schema": r["validate"].outputs["schema"]}, run_id=run_id)
    r["train"] = pipeline.run("train", {"label": label, "task": task, "seed": 42, **train},
                              {"examples": examples, "transform": r["transform"].outputs["transform"]}, run_id=run_id)
    r["evaluate"] = pipeline.run("evaluate", {"label": label, "task": task, "slices": [], "thresholds": thresholds},
                                 {"examples": examples, "model": r["train"].outputs["model"]}, run_id=run_id)
    if r["evaluate"].metrics["blessed"]:
        r["register"] = pipeline.register(r, run_id=run_id)
    return r


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    base = tmp_path_factory.mktemp("diabetes")
    shutil.copy(DIABETES / "schema.pbtxt", base / "schema.pbtxt")
    pipeline = Pipeline(root=f"file://{base}/artifacts", tracking_uri=f"sqlite:///{base}/mlflow.db",
                        schema_uri=f"file://{base}/schema.pbtxt", model_name="diabetes")
    train = {"module": "model.py", "module_source": (DIABETES / "model.py").read_text(), "epochs": 200, "batch_size": 16,
             "learning_rate": 0.005, "hyperparameters": {"hidden_units": 8, "dropout": 0.2, "patience": 30}}
    records = chain(pipeline, DIABETES_SOURCE, DIABETES_FEATURES, "target", "regression", train,
                    {"r2": {"min": 0.25, "max_drop": 0.05}, "rmse": {"max": 66.0, "max_rise": 3.0}})
    return pipeline, records


def test_a_regression_from_ingest_to_the_registry(diabetes):
    pipeline, r = diabetes
    target = ArtifactStore().read_json(r["transform"].outputs["transform"].uri + "/transform.json")["label"]
    assert target["task"] == "regression" and "classes" not in target
    assert 25 <= target["min"] < target["mean"] < target["max"] <= 346
    assert r["train"].outputs["model"].properties["task"] == "regression"
    m = r["evaluate"].metrics
    assert m["blessed"] is True, r["evaluate"].outputs["blessing"].properties["reasons"]
    assert m["r2"] >= 0.25 and m["rmse"] <= 66 and 0 < m["mae"] < m["rmse"]
    assert "accuracy" not in m
    saved = ArtifactStore().read_json(r["evaluate"].outputs["evaluation"].uri + "/metrics.json")["candidate"]
    assert saved["task"] == "regression" and saved["rows"] == r["ingest"].metrics["rows_test"]
    assert len(saved["sample"]["prediction"]) == saved["rows"]
    report = ArtifactStore().read_text(r["evaluate"].outputs["evaluation"].uri + "/report.html")
    assert "Predicted against true values" in report and "r2.min" in report
    pictures = images(report)  # predictions against the truth, and the residuals
    rows = saved["rows"]
    assert pictures.get(f"Predicted against true values ({rows} rows)") == pixels(SQUARE)
    assert [size for title, size in pictures.items() if title.startswith(f"Residuals ({rows} rows, mean ")] == [pixels()]
    version = r["register"].outputs["model_version"].properties["version"]
    tags = pipeline.registry().client().get_model_version("diabetes", version).tags
    assert tags["task"] == "regression" and abs(float(tags["r2"]) - m["r2"]) < 1e-9


def test_per_metric_thresholds_reject_a_regression(diabetes):
    pipeline, r = diabetes
    examples, model = r["ingest"].outputs["examples"], r["train"].outputs["model"]
    strict = pipeline.run("evaluate", {"label": "target", "task": "regression", "thresholds": {"rmse": {"max": 20.0}}},
                          {"examples": examples, "model": model}, run_id="strict")
    blessing = strict.outputs["blessing"].properties
    assert blessing["blessed"] is False
    assert blessing["reasons"] == [f"test rmse {strict.metrics['rmse']:.4f} > maximum 20.0000"]


def test_a_regression_needs_a_numeric_target(tmp_path):
    frame = pd.DataFrame({"x": np.arange(30.0), "y": ["low", "high"] * 15})
    frame.to_csv(tmp_path / "text_target.csv", index=False)
    pipeline = Pipeline(root=f"file://{tmp_path}/artifacts", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                        schema_uri=f"file://{tmp_path}/schema.pbtxt")
    examples = pipeline.run("ingest", {"source": str(tmp_path / "text_target.csv"), "label": "y", "split": SPLIT}).outputs["examples"]
    schema = pipeline.run("validate", {"features": {"x": "numeric"}, "label": "y", "schema_uri": pipeline.schema_uri},
                          {"examples": examples}).outputs["schema"]
    with pytest.raises(ComponentError) as failed:
        pipeline.run("transform", {"features": {"x": "numeric"}, "label": "y", "task": "regression"}, {"examples": examples, "schema": schema})
    assert failed.value.kind is ErrorKind.DATA
    assert "task regression needs a numeric target; column 'y' holds" in failed.value.message


@pytest.fixture(scope="module")
def gentoo(tmp_path_factory, penguins_csv):
    """A binary classification: is the penguin a Gentoo?"""
    base = tmp_path_factory.mktemp("gentoo")
    frame = pd.read_csv(penguins_csv)
    frame["gentoo"] = np.where(frame.pop("species") == "Gentoo", "yes", "no")
    frame.to_csv(base / "gentoo.csv", index=False)
    pipeline = Pipeline(root=f"file://{base}/artifacts", tracking_uri=f"sqlite:///{base}/mlflow.db",
                        schema_uri=f"file://{base}/schema.pbtxt", model_name="gentoo")
    features = {"island": "categorical", "bill_length_mm": "numeric", "bill_depth_mm": "numeric", "flipper_length_mm": "numeric"}
    records = chain(pipeline, str(base / "gentoo.csv"), features, "gentoo", "binary_classification",
                    {"epochs": 10, "hidden_units": [8]}, {"auc": {"min": 0.95, "max_drop": 0.01}, "recall": {"min": 0.9}},
                    positive_class="yes")
    return pipeline, records


def test_a_binary_classification_from_ingest_to_the_registry(gentoo):
    _, r = gentoo
    label = ArtifactStore().read_json(r["transform"].outputs["transform"].uri + "/transform.json")["label"]
    assert label["classes"] == ["no", "yes"] and label["positive_class"] == "yes"
    m = r["evaluate"].metrics
    assert m["blessed"] is True and m["auc"] >= 0.95 and m["recall"] >= 0.9
    saved = ArtifactStore().read_json(r["evaluate"].outputs["evaluation"].uri + "/metrics.json")["candidate"]
    assert m["recall"] == saved["per_class"]["yes"]["recall"] and m["precision"] == saved["per_class"]["yes"]["precision"]
    assert "register" in r


def test_binary_needs_exactly_two_classes(pipeline, first_run):
    examples = first_run["ingest"].outputs["examples"]
    from pipeline_helpers import FEATURES, LABEL

    with pytest.raises(ComponentError) as failed:
        pipeline.run("transform", {"features": FEATURES, "label": LABEL, "task": "binary_classification"},
                     {"examples": examples, "schema": first_run["validate"].outputs["schema"]})
    assert failed.value.kind is ErrorKind.DATA
    assert "needs exactly 2 classes of 'species'; the training split has 3: Adelie, Chinstrap, Gentoo" in failed.value.message


# -- the metrics and the blessing, on numbers worked out by hand ---------------------------------


def test_regression_metrics():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    m = regression_metrics(np.array([[1.5], [2.0], [2.0], [4.5]]), y)
    assert m["mae"] == pytest.approx((0.5 + 0 + 1 + 0.5) / 4)
    assert m["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 1 + 0.25) / 4))
    assert m["r2"] == pytest.approx(1 - 1.5 / 5.0)
    assert m["non_finite_predictions"] == 0


def test_a_non_finite_regression_prediction_counts_and_hurts():
    m = regression_metrics(np.array([[1.0], [np.nan], [3.0]]), np.array([1.0, 2.0, 3.0]))
    assert m["non_finite_predictions"] == 1 and m["mae"] > 0


def test_binary_metrics_from_a_single_probability():
    y = np.array([0, 0, 1, 1])
    m = classification_metrics(np.array([[0.1], [0.6], [0.4], [0.9]]), y, "binary_classification", ["no", "yes"])
    assert m["accuracy"] == 0.5 and m["auc"] == 0.75
    assert (m["precision"], m["recall"]) == (0.5, 0.5)
    assert m["confusion_matrix"]["matrix"] == [[1, 1], [1, 1]]


@pytest.mark.parametrize("candidate, champion, blessed, reasons", [
    ({"rmse": 50.0, "r2": 0.4}, None, True, ["all checks passed"]),
    ({"rmse": 70.0, "r2": 0.4}, None, False, ["test rmse 70.0000 > maximum 66.0000"]),
    ({"rmse": 55.0, "r2": 0.4}, {"rmse": 51.0, "r2": 0.4}, False,
     ["test rmse 55.0000 vs champion version 2 51.0000: change +4.0000 (at most 3.0000 higher is allowed)"]),
    ({"rmse": 53.0, "r2": 0.3}, {"rmse": 51.0, "r2": 0.4}, False,
     ["test r2 0.3000 vs champion version 2 0.4000: change -0.1000 (at most 0.0500 lower is allowed)"]),
])
def test_per_metric_thresholds_bless_and_reject(candidate, champion, blessed, reasons):
    thresholds = {"r2": {"min": 0.25, "max_drop": 0.05}, "rmse": {"max": 66.0, "max_rise": 3.0}}
    metrics = {**candidate, "non_finite_predictions": 0}
    blessing = bless(metrics, {**champion, "version": "2"} if champion else None, thresholds, "regression")
    assert blessing["blessed"] is blessed and blessing["reasons"] == reasons


def test_a_metric_that_cannot_be_computed_is_not_passed():
    blessing = bless({"auc": None, "non_finite_predictions": 0}, None, {"auc": {"min": 0.8}}, "binary_classification")
    assert not blessing["blessed"]
    assert blessing["reasons"] == ["auc could not be computed on the test split (binary_classification task)"]


def test_the_champion_is_scored_with_its_own_classes(gentoo):
    """The positive class flips between champion and candidate: the champion is still scored in
    its own class order (not as 1 - its probability), so the comparison is fair."""
    pipeline, r = gentoo
    client = pipeline.registry().client()
    client.set_registered_model_alias("gentoo", "champion", r["register"].outputs["model_version"].properties["version"])
    examples, schema = r["ingest"].outputs["examples"], r["validate"].outputs["schema"]
    features = {"island": "categorical", "bill_length_mm": "numeric", "bill_depth_mm": "numeric", "flipper_length_mm": "numeric"}
    flipped = pipeline.run("transform", {"features": features, "label": "gentoo", "task": "binary_classification",
                                         "positive_class": "no"}, {"examples": examples, "schema": schema}, run_id="flip")
    assert ArtifactStore().read_json(flipped.outputs["transform"].uri + "/transform.json")["label"]["classes"] == ["yes", "no"]
    model = pipeline.run("train", {"label": "gentoo", "task": "binary_classification", "epochs": 10, "hidden_units": [8]},
                         {"examples": examples, "transform": flipped.outputs["transform"]}, run_id="flip").outputs["model"]
    evaluation = pipeline.run("evaluate", {"label": "gentoo", "task": "binary_classification", "thresholds": {}},
                              {"examples": examples, "model": model}, run_id="flip")
    m = evaluation.metrics
    assert m["champion_auc"] >= 0.95 and m["champion_accuracy"] >= 0.9, m  # not inverted
    assert m["champion_accuracy"] == r["evaluate"].metrics["accuracy"]
    # no thresholds given: the task's default (auc) judged it
    checks = {c["check"] for c in ArtifactStore().read_json(evaluation.outputs["blessing"].uri + "/blessing.json")["checks"]}
    assert {"auc.min", "auc.max_drop", "finite_predictions"} == checks


def test_a_two_unit_binary_model_trains_with_the_built_in_compile(gentoo):
    pipeline, r = gentoo
    source = ("import keras\n"
              "def build_model(context):\n"
              "    inputs = context.inputs()\n"
              "    x = keras.layers.Dense(8, activation='relu')(context.preprocess(inputs))\n"
              "    return keras.Model(inputs, keras.layers.Dense(2, activation='softmax')(x))\n")
    inputs = {"examples": r["ingest"].outputs["examples"], "transform": r["transform"].outputs["transform"]}
    model = pipeline.run("train", {"label": "gentoo", "task": "binary_classification", "epochs": 10, "module": "two.py",
                                   "module_source": source}, inputs, run_id="two").outputs["model"]
    evaluation = pipeline.run("evaluate", {"label": "gentoo", "task": "binary_classification", "thresholds": {"auc": {"min": 0.95}}},
                              {"examples": r["ingest"].outputs["examples"], "model": model}, run_id="two")
    assert evaluation.metrics["auc"] >= 0.95


def test_a_champion_of_another_task_is_not_compared_and_the_new_model_is_promoted_at_once(diabetes, gentoo):
    """The pipeline's task changed: evaluation judges by value thresholds only, and deploy
    promotes instead of starting a canary the server could not serve."""
    from airflow_mlops.runtime.components.deploy import task_change
    from airflow_mlops.runtime.components.evaluate import comparable
    from airflow_mlops.runtime.serving.rollout import Rollout

    pipeline, r = diabetes
    regression = ArtifactStore().read_json(r["transform"].outputs["transform"].uri + "/transform.json")
    binary = ArtifactStore().read_json(gentoo[1]["transform"].outputs["transform"].uri + "/transform.json")
    assert comparable(regression, binary) == "it is a binary_classification model, the candidate a regression one"
    assert comparable(binary, {**binary, "label": {**binary["label"], "classes": ["no", "maybe"]}}).startswith("it knows the classes")
    assert comparable(binary, binary) is None

    client = pipeline.registry().client()
    first = r["register"].outputs["model_version"].properties["version"]
    client.set_registered_model_alias("diabetes", "champion", first)
    other = client.create_model_version("diabetes", source=r["train"].outputs["model"].uri, tags={"task": "binary_classification"})
    rollout = Rollout(pipeline.registry(), pipeline.root, "diabetes", "test")
    assert task_change(rollout, str(first)) is None
    reason = task_change(rollout, str(other.version))
    assert reason == (f"the champion (version {first}) is a regression model and version {other.version} a "
                      "binary_classification one: no canary between them, promoted at once")
