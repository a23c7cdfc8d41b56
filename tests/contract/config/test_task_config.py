"""``task``, ``evaluation.thresholds`` per metric and ``training.module`` in the pipeline config."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from airflow_mlops.contract.config import PipelineConfigError, load_pipeline_config
from airflow_mlops.contract.tasks import DEFAULT_THRESHOLDS, TASKS

BASE = """
pipeline: p
data: {source: x.csv, label: y}
features: {a: numeric, b: categorical}
"""


def _load(tmp_path: Path, extra: str):
    folder = tmp_path / "include" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.dedent(extra))
    return load_pipeline_config(path)


def _problems(tmp_path: Path, extra: str) -> list[str]:
    with pytest.raises(PipelineConfigError) as info:
        _load(tmp_path, extra)
    return info.value.problems


@pytest.mark.parametrize("task", TASKS)
def test_each_task_gets_its_default_thresholds(tmp_path, task):
    config = _load(tmp_path, f"task: {task}\n")
    assert config.task == task
    assert config.evaluation_thresholds == DEFAULT_THRESHOLDS[task]


def test_thresholds_given_replace_the_default(tmp_path):
    config = _load(tmp_path, """
        task: regression
        evaluation:
          thresholds:
            rmse: {max: 60, max_rise: 2.5}
            r2: {min: 0.3}
    """)
    assert config.evaluation_thresholds == {"rmse": {"max": 60.0, "max_rise": 2.5}, "r2": {"min": 0.3}}


def test_threshold_mistakes_are_named_by_their_field_path(tmp_path):
    assert _problems(tmp_path, "evaluation: {thresholds: {r2: {min: high}}}\n") == [
        "evaluation.thresholds.r2.min: must be a number (got 'high')"]
    problems = _problems(tmp_path, """
        task: regression
        evaluation:
          thresholds:
            accuracy: {min: 0.9}
            rmse: {max_drop: 1}
            mae: {}
    """)
    assert problems == [
        "evaluation.thresholds.accuracy: not a metric of a regression task (its metrics: rmse, mae, r2)",
        "evaluation.thresholds.rmse.max_drop: lower rmse is better; its change threshold is max_rise",
        "evaluation.thresholds.mae: give at least one of min, max, max_rise",
    ]


def test_the_keys_thresholds_replaced_say_where_they_went(tmp_path):
    assert _problems(tmp_path, "evaluation: {min_accuracy: 0.9, max_accuracy_drop: 0.02, colour: red}\n") == [
        "evaluation.colour: unknown field (allowed: backtest, slices, thresholds)",
        "evaluation.max_accuracy_drop: replaced by evaluation.thresholds.accuracy.max_drop (thresholds are per metric now)",
        "evaluation.min_accuracy: replaced by evaluation.thresholds.accuracy.min (thresholds are per metric now)",
    ]


def test_an_unknown_task_and_a_misplaced_positive_class(tmp_path):
    assert _problems(tmp_path, "task: ranking\n") == [
        "task: must be one of classification, binary_classification, regression (got 'ranking')"]
    assert _problems(tmp_path, "positive_class: yes_\n") == [
        "positive_class: only for task: binary_classification (task is classification)"]
    assert _load(tmp_path, "task: binary_classification\npositive_class: 'yes'\n").settings.positive_class == "yes"


def test_a_module_file_is_read_relative_to_the_yaml(tmp_path):
    (tmp_path / "include" / "p").mkdir(parents=True)
    (tmp_path / "include" / "p" / "model.py").write_text("def build_model(context): ...\n")
    config = _load(tmp_path, "training: {module: model.py}\n")
    assert config.training_module_path == tmp_path / "include" / "p" / "model.py"
    assert config.training_module_source() == "def build_model(context): ...\n"


def test_an_importable_module_name_travels_as_a_name(tmp_path):
    config = _load(tmp_path, "training: {module: my_models.penguin}\n")
    assert config.training_module_path is None and config.training_module_source() is None


@pytest.mark.parametrize("module, problem", [
    ("missing.py", "training.module: no file {root}/include/p/missing.py (a .py path is relative to the pipeline YAML's directory)"),
    ("my-models/penguin", "training.module: 'my-models/penguin' is neither a .py file nor a module name like my_package.model"),
])
def test_module_mistakes(tmp_path, module, problem):
    assert _problems(tmp_path, f"training: {{module: {module}}}\n") == [problem.format(root=tmp_path)]


def test_the_backtest_defaults_per_task_and_is_checked_like_thresholds(tmp_path):
    from airflow_mlops.contract.tasks import DEFAULT_BACKTEST

    assert _load(tmp_path, "task: regression\n").evaluation_backtest == DEFAULT_BACKTEST["regression"] == {"r2": {"max_drop": 0.1}}
    config = _load(tmp_path, "evaluation: {backtest: {log_loss: {max_rise: 0.2}}}\n")
    assert config.evaluation_backtest == {"log_loss": {"max_rise": 0.2}}
    assert _problems(tmp_path, "evaluation: {backtest: {accuracy: {max_rise: 0.1}}}\n") == [
        "evaluation.backtest.accuracy.max_rise: higher accuracy is better; its change threshold is max_drop"]
