"""The request and response types of the prediction API: the row type is generated from the
feature spec, the answer type follows the pipeline's task (:func:`prediction_model`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from airflow_mlops.contract.tasks import BINARY_CLASSIFICATION, CLASSIFICATION, REGRESSION

MAX_STRING = 256
REQUEST_ID = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


def row_model(features: dict[str, str], descriptions: dict[str, str] | None = None) -> type[BaseModel]:
    """One row: every feature is required (``null`` means missing, which the model imputes),
    numbers must be finite, strings at most 256 characters, no other fields but an optional
    ``request_id`` (echoed back and logged, for joining labels later)."""
    descriptions = descriptions or {}
    fields = {}
    for name, kind in features.items():
        if kind == "numeric":
            annotation = Annotated[float, Field(allow_inf_nan=False)] | None
        else:
            annotation = Annotated[str, StringConstraints(max_length=MAX_STRING)] | None
        fields[name] = (annotation, Field(..., description=descriptions.get(name) or f"{kind} feature"))
    fields["request_id"] = (REQUEST_ID | None, Field(None, description="your id for this row; generated when absent"))
    return create_model("Row", __config__=ConfigDict(extra="forbid", strict=True), **fields)


_REQUEST_ID = "the row's request_id, or the one generated for it"
_VERSION = "the registered model version that answered"
_ROLE = "champion or challenger (canary)"


class Prediction(BaseModel):
    """A classifier's answer (tasks ``classification`` and ``binary_classification``)."""

    request_id: str = Field(description=_REQUEST_ID)
    prediction: str = Field(description="the most probable class")
    probabilities: dict[str, float] = Field(
        description="the probability of every class (they sum to 1); binary classification: the negative and the positive class"
    )
    model_version: str = Field(description=_VERSION)
    model_role: str = Field(description=_ROLE)


class RegressionPrediction(BaseModel):
    """A regression's answer: one number, no probabilities."""

    request_id: str = Field(description=_REQUEST_ID)
    prediction: float = Field(description="the predicted value of the target, in the target's own units")
    model_version: str = Field(description=_VERSION)
    model_role: str = Field(description=_ROLE)


#: the answer type of each task
PREDICTION_MODELS: dict[str, type[BaseModel]] = {
    CLASSIFICATION: Prediction,
    BINARY_CLASSIFICATION: Prediction,
    REGRESSION: RegressionPrediction,
}


def prediction_model(task: str) -> type[BaseModel]:
    """The answer type of ``task``: :class:`Prediction` for classifiers, :class:`RegressionPrediction`."""
    try:
        return PREDICTION_MODELS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r} (one of {', '.join(PREDICTION_MODELS)})") from None
