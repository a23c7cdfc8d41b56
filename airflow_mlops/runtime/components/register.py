"""register: a blessed model becomes a version of the registered model, alias ``challenger``.

Inputs: ``model``, ``blessing``, and for lineage ``examples``, ``statistics``, ``schema``,
``transform``, ``evaluation``. Settings: ``registry``. Output ``model_version``
(``models:/<name>/<version>``).

The model files are logged to the pipeline run's MLflow run and the version points there, so
the registry holds everything needed to serve it. Idempotent: a model already registered (same
model fingerprint) is not registered twice, even by runs at once
(:func:`~airflow_mlops.runtime.ml.model_registry.keep_first_registration`). Always runs (it
changes the registry).

Before a new version is created, the model is loaded by the prediction server's own loader
(:func:`~airflow_mlops.runtime.serving.models.load_model_dir`) and answers rows of the test split
as the server would: a model that cannot is a model error, and nothing is registered.

With ``registry.tflite.enabled`` the model is also converted to TFLite (LiteRT) for edge devices
and checked against the Keras model on the whole test split (:mod:`airflow_mlops.runtime.ml.edge`):
within the bounds it is stored with the version (``model/edge/model.tflite`` and ``parity.json``);
otherwise the version is registered without it. Either way the version's ``edge_tflite*`` tags
say what happened and the parity figures.
"""

from __future__ import annotations

import json
import os
import tempfile

from airflow_mlops import __version__
from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.components import REGISTER
from airflow_mlops.contract.params import RegisterParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact

LINEAGE_INPUTS = ("examples", "statistics", "schema", "transform", "evaluation", "model", "tuned_hyperparameters")
#: test-split rows the candidate answers, through the server's loader, before it is registered
SERVING_CHECK_ROWS = 20
#: test rows through the Keras and the TFLite model at a time, for the edge export's parity
PARITY_BATCH_ROWS = 1024


def check_answers_as_served(model_dir: str, examples, log) -> None:
    """Load the model in ``model_dir`` as the prediction server does and have it answer
    :data:`SERVING_CHECK_ROWS` test rows in its task's shape.

    :raises ComponentError: (``MODEL``) it does not load, fails to answer, or answers wrongly."""
    from airflow_mlops.runtime.components.infra_validate import check_answers
    from airflow_mlops.runtime.ml.examples import read_split
    from airflow_mlops.runtime.serving.models import load_model_dir
    from airflow_mlops.runtime.serving.requests import json_rows

    candidate = "candidate"
    try:
        loaded = load_model_dir(model_dir, candidate)
        rows = json_rows(read_split(examples, "test").head(SERVING_CHECK_ROWS), loaded.features)
        answers = [{**answer, "request_id": str(i), "model_version": candidate} for i, answer in enumerate(loaded.answers(rows))]
    except Exception as exc:
        raise ComponentError(
            ErrorKind.MODEL,
            f"register: the model does not load or answer as the prediction server would ({type(exc).__name__}: {exc}); "
            "it is not registered",
        ) from None
    problems = check_answers(answers, candidate, set(loaded.classes), len(rows), loaded.task)
    if problems:
        raise ComponentError(ErrorKind.MODEL, "register: the model's answers are not its task's, so it is not registered: "
                             + "; ".join(problems))
    log.info("the model loads as the server loads it and answered %d test rows", len(rows))


def export_for_edge(model_dir: str, ctx: ExecutionContext, client, run_id: str) -> dict[str, str]:
    """The TFLite model (``registry.tflite``) logged next to the model as ``model/edge/``, if it
    converts and answers as the Keras model on the test split; the version's tags say how it went."""
    from airflow_mlops.runtime.ml.edge import export_edge
    from airflow_mlops.runtime.ml.examples import split_uri
    from airflow_mlops.runtime.ml.split_stream import SplitStream

    with open(os.path.join(model_dir, "transform.json")) as f:
        transform = json.load(f)
    test = SplitStream(split_uri(ctx.spec.inputs["examples"], "test"), transform, transform["label"]["name"])
    with tempfile.TemporaryDirectory(prefix="mlops-edge-") as tmp:
        result = export_edge(model_dir, tmp, test.batches(PARITY_BATCH_ROWS), ctx.params.tflite, ctx.log)
        if result.exported:
            client.log_artifacts(run_id, tmp, "model/edge")
    return result.tags()


def lineage_tags(ctx: ExecutionContext) -> dict[str, str]:
    inputs = ctx.spec.inputs
    tags = {f"{name}_uri": inputs[name].uri for name in LINEAGE_INPUTS if name in inputs}
    tags.update(
        {
            "model_fingerprint": inputs["model"].fingerprint,
            "examples_content_fingerprint": str(inputs["examples"].properties.get("content_fingerprint", "")),
            "dag_id": ctx.spec.run.dag_id or "",
            "run_id": ctx.spec.run.run_id or "",
            "airflow_mlops_version": __version__,
        }
    )
    # the test-split metrics of the model's task, from evaluate
    evaluation = inputs["evaluation"].properties if "evaluation" in inputs else {}
    tags.update({name: str(value) for name, value in evaluation.items()
                 if name not in ("report", "task") and isinstance(value, (int, float)) and not isinstance(value, bool)})
    if "task" in evaluation:
        tags["task"] = str(evaluation["task"])
    if "tuned_hyperparameters" in inputs:  # the tune step's best values, which train used
        tags["tuned_hyperparameters"] = json.dumps(inputs["tuned_hyperparameters"].properties.get("values"), sort_keys=True)
    return tags


def run(ctx: ExecutionContext) -> ComponentResult:
    from mlflow.exceptions import MlflowException

    from airflow_mlops.runtime.ml.model_registry import CHALLENGER, CHAMPION, Registry, keep_first_registration

    params: RegisterParams = ctx.params
    store = ArtifactStore()
    blessing = store.read_json(f"{ctx.spec.inputs['blessing'].uri}/blessing.json")
    if not blessing["blessed"]:
        raise ComponentError(ErrorKind.CONFIG, "register: the model is not blessed: " + "; ".join(blessing["reasons"]))

    registry = Registry.from_spec(ctx.spec)
    client = registry.client()
    name = registry.model_name
    try:
        client.create_registered_model(name, description=f"{ctx.spec.pipeline} model, registered by airflow-mlops")
        ctx.log.info("created registered model %s", name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise

    model_ref = ctx.spec.inputs["model"]
    existing = client.search_model_versions(f"name = '{name}' and tags.model_fingerprint = '{model_ref.fingerprint}'")
    if existing:
        version = max(existing, key=lambda v: int(v.version))
        ctx.log.info("this model (fingerprint %s) is already version %s of %s", model_ref.fingerprint, version.version, name)
        already = True
    else:
        edge_tags: dict[str, str] = {}
        with store.local_dir(model_ref.uri) as local:
            check_answers_as_served(local, ctx.spec.inputs["examples"], ctx.log)
            run_id = registry.pipeline_run_id(client, ctx.spec.run, ctx.spec.invocation_uri)
            client.log_artifacts(run_id, local, "model")
            if params.tflite.enabled:
                edge_tags = export_for_edge(local, ctx, client, run_id)
        version = client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id,
                                              tags={**lineage_tags(ctx), **edge_tags})
        first = keep_first_registration(client, name, model_ref.fingerprint, str(version.version))
        already = first != str(version.version)
        if already:  # a concurrent run registered the same model first; ours is gone
            ctx.log.info("this model was registered at the same time by another run, as version %s", first)
            version = client.get_model_version(name, first)
        else:
            client.set_tag(run_id, "registered_version", version.version)
            ctx.log.info("registered %s version %s", name, version.version)

    champion = registry.version(client, CHAMPION)
    if champion is not None and str(champion.version) == str(version.version):
        ctx.log.info("version %s is already the champion", version.version)
    else:
        client.set_registered_model_alias(name, CHALLENGER, version.version)
        ctx.log.info("alias %s -> version %s", CHALLENGER, version.version)

    return ComponentResult(
        outputs={
            "model_version": OutputArtifact(
                f"models:/{name}/{version.version}",
                {"name": name, "version": str(version.version), "already_registered": already, "model_uri": model_ref.uri,
                 **({"edge_tflite": version.tags.get("edge_tflite", "")} if params.tflite.enabled else {})},
            )
        },
        metrics={"version": int(version.version), "already_registered": already},
    )


COMPONENT = Component.implementing(REGISTER, run)
