"""The request and response types of the prediction API, generated from the feature spec."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

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


class Prediction(BaseModel):
    request_id: str
    prediction: str = Field(description="the most probable class")
    probabilities: dict[str, float]
    model_version: str = Field(description="the registered model version that answered")
    model_role: str = Field(description="champion or challenger (canary)")
