"""Answers per task, without a server: the response types, LoadedModel's decoding, infra
validation's checks."""

from __future__ import annotations

import numpy as np
import pytest

from airflow_mlops.runtime.components.infra_validate import check_answers
from airflow_mlops.runtime.serving.models import LoadedModel
from airflow_mlops.runtime.serving.schema import Prediction, RegressionPrediction, prediction_model

CLASSES = {"Adelie", "Chinstrap", "Gentoo"}


def answer(prediction, probabilities=None, version="3"):
    out = {"request_id": "r", "prediction": prediction, "model_version": version, "model_role": "champion"}
    return out if probabilities is None else {**out, "probabilities": probabilities}


def test_each_task_has_its_response_type():
    assert prediction_model("classification") is Prediction is prediction_model("binary_classification")
    assert prediction_model("regression") is RegressionPrediction
    assert "probabilities" not in RegressionPrediction.model_fields
    assert RegressionPrediction.model_json_schema()["properties"]["prediction"]["type"] == "number"
    with pytest.raises(ValueError, match="unknown task 'ranking'"):
        prediction_model("ranking")


class Raw:
    """A stand-in Keras model: gives ``output`` whatever the inputs."""

    def __init__(self, output):
        self.output = np.asarray(output, dtype="float32")

    def __call__(self, inputs, training=False):
        assert {name: x.shape for name, x in inputs.items()} == {"x": (len(self.output), 1), "c": (len(self.output), 1)}
        return self.output


FEATURES = {"x": "numeric", "c": "categorical"}


def test_loaded_model_answers_per_task():
    rows = [{"x": 1.0, "c": "a"}, {"x": None, "c": None}]
    regression = LoadedModel("1", Raw([[2.5], [-1.0]]), [], FEATURES, "regression")
    assert regression.answers(rows) == [{"prediction": 2.5}, {"prediction": -1.0}]
    assert regression.output_problem() is None

    binary = LoadedModel("1", Raw([[0.25], [0.75]]), ["no", "yes"], FEATURES, "binary_classification")
    assert binary.answers(rows) == [{"prediction": "no", "probabilities": {"no": 0.75, "yes": 0.25}},
                                    {"prediction": "yes", "probabilities": {"no": 0.25, "yes": 0.75}}]

    multi = LoadedModel("1", Raw([[0.1, 0.7, 0.2], [0.6, 0.2, 0.2]]), ["A", "B", "C"], FEATURES)
    assert [a["prediction"] for a in multi.answers(rows)] == ["B", "A"]


def test_a_model_whose_output_is_not_its_tasks_has_a_problem():
    two_values = LoadedModel("1", Raw([[1.0, 2.0], [1.0, 2.0]]), [], FEATURES, "regression")
    assert "a regression model must give (rows, 1) or (rows,) values" in two_values.output_problem()
    one_column = LoadedModel("1", Raw([[0.5], [0.5]]), ["A", "B", "C"], FEATURES, "classification")
    assert "(rows, 3) class probabilities" in one_column.output_problem()


def test_check_answers_of_a_classifier():
    good = answer("Gentoo", {"Adelie": 0.1, "Chinstrap": 0.1, "Gentoo": 0.8})
    assert check_answers([good], "3", CLASSES, 1) == []
    assert check_answers([good, good], "3", CLASSES, 2, "binary_classification") == []
    assert check_answers([good], "3", CLASSES, 2) == [f"expected a list of 2 predictions, got {[good]}"]
    assert check_answers([answer("Gentoo")], "3", CLASSES, 1) == ["an answer lacks ['probabilities']"]
    assert check_answers([{**good, "model_version": "2"}], "3", CLASSES, 1) == ["answered by version 2, not 3"]
    assert check_answers([{**good, "prediction": "Emperor"}], "3", CLASSES, 1) == ["unknown class 'Emperor'"]
    assert check_answers([{**good, "probabilities": {"Gentoo": 0.5}}], "3", CLASSES, 1) == ["probabilities sum to 0.5000"]
    assert check_answers([{**good, "probabilities": {"Gentoo": 1.5, "Adelie": -0.5}}], "3", CLASSES, 1) == [
        "probabilities are not numbers in [0, 1]: {'Gentoo': 1.5, 'Adelie': -0.5}"]
    assert check_answers([{**good, "probabilities": {"Gentoo": None}}], "3", CLASSES, 1)[0].startswith("probabilities are not numbers")
    # A regression's answer is not a classifier's.
    assert check_answers([answer(151.2)], "3", CLASSES, 1) == ["an answer lacks ['probabilities']"]


def test_check_answers_of_a_regression():
    assert check_answers([answer(151.2), answer(-3), answer(0.0)], "3", set(), 3, "regression") == []
    # probabilities are not required (nor looked at)
    assert check_answers([answer(1.0, {"x": 1.0})], "3", set(), 1, "regression") == []
    for bad, shown in ((None, "None"), ("151.2", "'151.2'"), (True, "True"), ([1.0], "[1.0]"), (float("nan"), "nan"), (float("inf"), "inf")):
        assert check_answers([answer(bad)], "3", set(), 1, "regression") == [f"the prediction {shown} is not a finite number"], bad
    assert check_answers([answer(1.0, version="2")], "3", set(), 1, "regression") == ["answered by version 2, not 3"]
    assert check_answers([{"prediction": 1.0}], "3", set(), 1, "regression") == ["an answer lacks ['model_version', 'request_id']"]
    assert check_answers(["oops"], "3", set(), 1, "regression") == ["an answer is not an object: oops"]
    assert check_answers({"detail": "x"}, "3", set(), 1, "regression")[0].startswith("expected a list of 1 predictions")
    assert len(check_answers([answer(None)] * 9, "3", set(), 9, "regression")) == 5
