"""A hand-written prediction server, the baseline `benchmarks/serving.py` compares the BentoML service with.

The smallest reasonable FastAPI app around the same :class:`~airflow_mlops.runtime.serving.models.LoadedModel`,
its Keras model called eagerly (``model(inputs)``, as a hand-written server does; the service
runs the graph :func:`~airflow_mlops.runtime.serving.models.compile_inference` traces):
``POST /predict`` ``{"instances": [row, ...]}`` with the same pydantic row model as the service
(every feature required, ``null`` for missing, no other fields), one model call per request, the
same answer per row (request id, prediction, probabilities, model version). No adaptive batching,
no prediction log, no canary, no body-size limit. ``GET /healthz`` answers once the model is loaded.

Run by `benchmarks/serving.py` as ``python benchmarks/fastapi_baseline.py --port P --tracking-uri U
--model-name M --version V --cache-dir D`` under uvicorn, one worker.
"""

# No `from __future__ import annotations`: FastAPI must see the real types of the locally
# defined request model, not strings it cannot resolve.
import argparse
import dataclasses
import os
import uuid

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def build_app(model):
    from typing import Annotated

    from fastapi import FastAPI
    from pydantic import BaseModel, Field

    from airflow_mlops.runtime.serving.schema import Prediction, row_model

    Row = row_model(model.features)

    class Request(BaseModel):
        instances: Annotated[list[Row], Field(min_length=1, max_length=1000)]

    app = FastAPI(title="baseline")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.post("/predict")
    def predict(request: Request) -> list[Prediction]:  # a sync endpoint: FastAPI runs it in its thread pool
        rows = [row.model_dump() for row in request.instances]
        request_ids = [row.pop("request_id") or uuid.uuid4().hex for row in rows]
        answers = []
        for request_id, p in zip(request_ids, model.predict(rows)):
            probs = {c: float(v) for c, v in zip(model.classes, p)}
            answers.append(Prediction(request_id=request_id, prediction=max(probs, key=probs.get), probabilities=probs,
                                      model_version=model.version, model_role="champion"))
        return answers

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--cache-dir", required=True)
    args = parser.parse_args()

    import uvicorn

    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.models import ModelCache

    registry = Registry(args.tracking_uri, args.model_name, args.model_name, "")
    # called as Keras loads it, as a hand-written server would: not the graph the service traces
    model = dataclasses.replace(ModelCache(registry, args.cache_dir).get(args.version), compiled=None)
    uvicorn.run(build_app(model), host=args.host, port=args.port, workers=1, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
