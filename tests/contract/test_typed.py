"""Typed records: reading with field paths, template coercion, plain JSON, one declaration per field."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from airflow_mlops.contract import params
from airflow_mlops.contract.components import BUILT_IN
from airflow_mlops.contract.config import model, runtime
from airflow_mlops.contract.typed import Record, RecordError


def problems_of(cls, data, **kw) -> list[str]:
    with pytest.raises(RecordError) as err:
        cls.from_dict(data, **kw)
    return err.value.problems


def test_every_problem_is_reported_with_its_field_path():
    found = problems_of(
        params.TrainParams,
        {"epochs": "many", "hidden_units": [0], "learning_rate": -1, "batch": 3},
        path="training",
    )
    assert found == [
        "training.batch: unknown field (allowed: batch_size, epochs, hidden_units, hyperparameters, label, learning_rate, module, module_source, seed, task)",
        "training.label: required",
        "training.hidden_units: must be a non-empty list of positive integers (got [0])",
        "training.learning_rate: must be greater than 0 (got -1.0)",
        "training.epochs: must be an integer (got 'many')",
    ]


def test_nested_records_choices_bounds_and_custom_checks():
    found = problems_of(
        params.ValidateParams,
        {"features": {"a": "float"}, "label": "y", "schema_uri": "s", "max_missing_fraction": 2,
         "drift": {"on_drift": "explode", "l_infinity": "x"}},
    )
    assert found == [
        "features.a: must be one of categorical, numeric (got 'float')",
        "max_missing_fraction: must be between 0 and 1 (got 2.0)",
        "drift.l_infinity: must be a number (got 'x')",
        "drift.on_drift: must be one of warn, fail (got 'explode')",
    ]


def test_a_boolean_is_not_a_number_and_a_number_is_not_a_string():
    assert problems_of(params.TrainParams, {"label": "y", "epochs": True}) == ["epochs: must be an integer (got True)"]
    assert problems_of(params.TrainParams, {"label": 3}) == ["label: must be a string (got 3)"]


def test_rendered_templates_are_coerced_only_when_asked():
    rendered = {"label": "y", "epochs": "30", "learning_rate": "0.5"}
    record = params.TrainParams.from_dict(rendered, coerce=True)
    assert (record.epochs, record.learning_rate) == (30, 0.5)
    assert problems_of(params.TrainParams, rendered) == [
        "learning_rate: must be a number (got '0.5')",
        "epochs: must be an integer (got '30')",
    ]
    assert params.CanaryAnalysisParams.from_dict({"force": "True"}, coerce=True).force is True
    assert problems_of(params.CanaryAnalysisParams, {"force": "perhaps"}, coerce=True) == [
        "force: must be true or false (got 'perhaps')"
    ]


def test_to_dict_is_plain_json_and_reads_back_to_the_same_record():
    record = params.DeployParams(action="promote", weight=0.25)
    data = record.to_dict()
    assert data == {"weight": 0.25, "window_minutes": 60, "on_drift": "hold", "action": "promote", "drifted_columns": [],
                    "started_because": ""}  # the unset reason is left out
    assert params.DeployParams.from_dict(data) == record
    train = params.TrainParams(label="y", hidden_units=(4, 2))
    assert train.to_dict()["hidden_units"] == [4, 2]
    assert params.TrainParams.from_dict(train.to_dict()) == train


def test_source_is_a_location_or_a_list_of_locations():
    base = {"label": "y"}
    assert params.IngestParams.from_dict({**base, "source": "a.csv"}).source == "a.csv"
    assert params.IngestParams.from_dict({**base, "source": ["a", "b"]}).source == ("a", "b")
    assert problems_of(params.IngestParams, {**base, "source": 3}) == ["source: must be a string or a list of strings (got 3)"]


def records() -> list[type[Record]]:
    found = {
        obj for module in (params, model, runtime) for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Record) and obj is not Record and obj not in OVERRIDES
    }
    return sorted(found, key=lambda c: c.__name__)


# Fields that share a name but mean different things (a test accuracy bound and a production one).
SAME_NAME_OTHER_MEANING = {"min_accuracy", "max_accuracy_drop", "poll_seconds", "schedule", "min_labels", "reason", "window_minutes",
                           # training data vs served traffic; validation's drift vs a canary's
                           "must_not_drift", "on_drift",
                           # a deployment target's settings vs the launcher's; a pod's vs a Vertex AI job's
                           "vertex", "accelerator", "service_account",
                           # a metric's bounds vs a search range's; the edge export's switch vs tuning's
                           "min", "max", "enabled",
                           # training data vs rows to predict; rows per gradient step vs per model call
                           "source", "batch_size"}
# Records of overrides: every field is another record's, defaulting to None (inherit it).
OVERRIDES = {runtime.StepSettings}


def test_each_parameter_is_declared_once():
    """A step's YAML section is made of the same record as its parameters: no field (and so no
    default) is written twice."""
    declared: dict[str, list[str]] = {}
    for cls in records():
        for name in cls.__dict__.get("__annotations__", {}):
            if name != "extra_keys":
                declared.setdefault(name, []).append(cls.__name__)
    twice = {n: owners for n, owners in declared.items() if len(owners) > 1 and n not in SAME_NAME_OTHER_MEANING}
    assert twice == {}


def test_each_yaml_section_is_made_of_its_steps_options():
    assert issubclass(model.TrainingSettings, params.TrainOptions)
    assert issubclass(params.TrainParams, params.TrainOptions)
    assert issubclass(model.ValidationSettings, params.ValidateOptions)
    assert issubclass(model.MonitoringSettings, params.MonitorOptions)
    assert issubclass(model.CanarySettings, params.CanaryThresholds) and issubclass(model.CanarySettings, params.CanaryRollout)
    assert dataclasses.fields(model.DeploymentSettings)[1].type in ("InfraValidationOptions", params.InfraValidationOptions)


def test_every_field_has_a_one_line_doc():
    missing = [f"{cls.__name__}.{name}" for cls in records() for name, _, _, doc in cls.describe() if not doc]
    assert missing == []


def test_every_built_in_component_has_a_typed_interface():
    assert set(BUILT_IN) == {"ingest", "validate", "transform", "tune", "train", "evaluate", "register", "infra_validate",
                             "deploy", "rollback", "canary_analysis", "monitor", "check_batch", "predict_batch"}
    for interface in BUILT_IN.values():
        assert issubclass(interface.params, Record)
        assert interface.outputs


def test_templates_rendered_as_python_reprs_or_native_values_are_read_back():
    # Airflow renders a list or mapping template as its repr; with native rendering a digits-only
    # string arrives as a number.
    rendered = {"label": "y", "hidden_units": "[16, 8]", "epochs": "3"}
    assert params.TrainParams.from_dict(rendered, coerce=True).hidden_units == (16, 8)
    evaluate = params.EvaluateParams.from_dict(
        {"label": "y", "slices": "['island']", "thresholds": "{'accuracy': {'min': 0.9}}"}, coerce=True)
    assert evaluate.slices == ("island",) and evaluate.thresholds["accuracy"].min == 0.9
    assert params.RollbackParams.from_dict({"reason": 123}, coerce=True).reason == "123"
    assert problems_of(params.TrainParams, {"label": "y", "hidden_units": "[16, 8"}, coerce=True) == [
        "hidden_units: must be a list of integers (got '[16, 8')"]


def test_a_record_given_where_its_mapping_is_expected_is_read():
    nested = params.EvaluateParams.from_dict({"label": "y", "thresholds": {"auc": params.MetricThreshold(min=0.5)}})
    assert nested.thresholds["auc"].min == 0.5


def test_nan_and_infinity_are_not_numbers_here():
    assert problems_of(params.TrainParams, {"label": "y", "learning_rate": "nan"}, coerce=True) == [
        "learning_rate: must be a finite number (got 'nan')"]
    assert problems_of(params.MetricThreshold, {"min": float("inf")}) == ["min: must be a finite number (got inf)"]


def test_a_canary_weight_is_strictly_between_0_and_1_and_a_source_is_not_empty():
    for weight in (0, 1, 1.5):
        assert problems_of(params.DeployParams, {"weight": weight}) == [
            f"weight: must be between 0 and 1 (got {float(weight)!r}), both excluded"]
    for source in ([], "", ["a", ""]):
        assert problems_of(params.IngestParams, {"label": "y", "source": source})[0].startswith(
            "source: must be a location or a non-empty list of locations")


def test_every_entry_of_a_mapping_of_records_reports_its_problems():
    with pytest.raises(RecordError) as caught:
        params.EvaluateOptions.from_dict({"thresholds": {"accuracy": {"min": "high"}, "auc": {"max_drop": -1}}}, path="evaluation")
    assert caught.value.problems == ["evaluation.thresholds.accuracy.min: must be a number (got 'high')",
                                     "evaluation.thresholds.auc.max_drop: must be 0 or more (got -1.0)"]
