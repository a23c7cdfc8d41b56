"""tune: a hyper-parameter search before train (Keras Tuner), whose best values train uses.

Inputs: ``examples`` (Examples), ``transform`` (Transform). Parameters: :class:`TuneParams`
(airflow_mlops/contract/params.py): the search (``training.tuning``: search space, algorithm,
trials, epochs per trial, early stopping, objective) and train's own parameters, the defaults of
every dimension not searched. Settings: ``registry``.

Each trial builds the training module's model with the trial's values
(:mod:`airflow_mlops.runtime.ml.search_space`) and fits it as train does (the module's ``fit``
or Keras ``fit`` on the streamed splits) for ``trial_epochs``, stopping early when the objective
(on the eval split) stops improving. The configuration without any searched value (train's
defaults) is fitted the same way, so the result says what tuning bought; when no trial beats it,
the defaults are the result (train keeps them). Every trial and the defaults are child runs of
the pipeline run in MLflow (parameters, per-epoch metrics, score).
Keras Tuner's state lives in the scratch directory: a retried attempt goes on from the trials
already done.

Output ``hyperparameters`` (HyperParameters): ``best.json`` (the best values, its score, the
defaults' score, every trial) and ``trials.png``. The source of the training module is part of
the fingerprint, as for train.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.components import TUNE
from airflow_mlops.contract.params import TrainParams, TuneParams
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact
from airflow_mlops.runtime.components.train import (
    build_model,
    fit,
    load_training_data,
    module_fingerprint,
    training_context,
)

BEST_FILE = "best.json"


def objective_of(params: TuneParams) -> tuple[str, str]:
    """The metric the search optimises on the eval split, and its direction."""
    name = params.objective or "val_loss"
    return name, "min" if name.endswith(("loss", "mae", "rmse", "error")) else "max"


def best_value(history: dict[str, list[float]], objective: str, direction: str) -> float:
    values = [v for v in history.get(objective, []) if v == v]
    if not values:
        raise ComponentError(ErrorKind.CONFIG, f"tune: the objective {objective!r} is not among the training metrics "
                             f"({', '.join(sorted(history))}); set training.tuning.objective to one of them")
    return min(values) if direction == "min" else max(values)


class Trials:
    """Fits the training module's model for one set of values; what the search and the
    defaults' run share."""

    def __init__(self, ctx: ExecutionContext, module, data, transform: dict[str, Any]):
        self.ctx, self.module, self.data, self.transform = ctx, module, data, transform
        self.params: TuneParams = ctx.params
        self.objective, self.direction = objective_of(self.params)
        self.histories: dict[str, dict[str, list[float]]] = {}

    def train_params(self, values: dict[str, Any]) -> TrainParams:
        from airflow_mlops.runtime.ml.search_space import apply

        base = {name: getattr(self.params, name) for name in TrainParams.field_names()}
        return TrainParams.from_dict(apply(values, base))

    def build(self, values: dict[str, Any]):
        import keras

        params = self.train_params(values)
        keras.utils.set_random_seed(params.seed)
        context = training_context(self.transform, params, self.ctx.log)
        model = build_model(self.module, context, self.data)
        return model, context

    def fit(self, model, context, callbacks: list[Any]) -> dict[str, list[float]]:
        import keras

        context.epochs = self.params.trial_epochs or context.epochs
        context.callbacks = list(callbacks)
        if self.params.early_stopping_patience:
            context.callbacks.append(keras.callbacks.EarlyStopping(
                monitor=self.objective, mode=self.direction, patience=self.params.early_stopping_patience))
        return fit(self.module, model, self.data, context)


def hypermodel(trials: Trials):
    import keras_tuner as kt

    from airflow_mlops.runtime.ml.search_space import declare_all

    class Search(kt.HyperModel):
        def build(self, hp):
            self.values = declare_all(hp, trials.params.search_space)
            self.model, self.context = trials.build(self.values)
            return self.model

        def fit(self, hp, model, *args, callbacks=None, **kwargs):
            history = trials.fit(model, self.context, callbacks or [])
            trials.histories[json.dumps(self.values, sort_keys=True)] = history
            score = best_value(history, trials.objective, trials.direction)
            trials.ctx.log.info("trial %d: %s -> %s %.4f (%d epochs)", len(trials.histories), self.values, trials.objective,
                                score, len(history["loss"]))
            return {trials.objective: score}

    return Search()


def tuner_directory(scratch_dir: str) -> str | None:
    """Where Keras Tuner keeps its trials: the scratch directory when it is local (a retry goes
    on from there); ``None`` for a remote one (a temporary directory: a retry starts over)."""
    return scratch_dir.removeprefix("file://") + "/keras_tuner" if scratch_dir.startswith("file://") else None


def search(trials: Trials, directory: str):
    import keras_tuner as kt

    params = trials.params
    objective = kt.Objective(trials.objective, direction=trials.direction)
    kind = kt.BayesianOptimization if params.algorithm == "bayesian" else kt.RandomSearch
    tuner = kind(hypermodel(trials), objective=objective, max_trials=params.max_trials, seed=params.seed,
                 directory=directory, project_name="search", overwrite=False)
    done = sum(1 for t in tuner.oracle.trials.values() if t.status == "COMPLETED")
    if done:
        trials.ctx.log.info("resuming the search: %d trial(s) already done", done)
    trials.ctx.log.info("searching %d trial(s) (%s) over %s, objective %s (%s)", params.max_trials, params.algorithm,
                        ", ".join(sorted(params.search_space)), trials.objective, trials.direction)
    tuner.search(verbose=0)
    return tuner


def trial_rows(tuner, trials: Trials) -> list[dict[str, Any]]:
    from airflow_mlops.runtime.ml.search_space import decoded

    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items(), key=lambda item: int(item[0]) if item[0].isdigit() else item[0]):
        values = decoded(trial.hyperparameters.values)
        history = trials.histories.get(json.dumps(values, sort_keys=True), {})
        rows.append({"trial": trial_id, "values": values, "score": trial.score, "status": trial.status,
                     "epochs": len(history.get("loss", [])), "history": history})
    return rows


def log_to_mlflow(ctx: ExecutionContext, rows: list[dict[str, Any]], defaults: dict[str, Any], best: dict[str, Any]) -> str:
    """Every trial and the defaults as child runs of the pipeline run; the best values and both
    scores on the pipeline run. A retried attempt does not log a trial twice."""
    import time

    from mlflow.entities import Metric, Param

    from airflow_mlops.runtime.ml.model_registry import Registry

    registry = Registry.from_spec(ctx.spec)
    client = registry.client()
    parent = registry.pipeline_run_id(client, ctx.spec.run, ctx.spec.invocation_uri)
    experiment = registry.experiment_id(client)
    for row in [*rows, defaults]:
        key = f"{ctx.spec.invocation_uri}#{row['trial']}"
        if client.search_runs([experiment], filter_string=f"tags.`airflow_mlops.tune_trial` = '{key}'", max_results=1):
            continue
        run = client.create_run(experiment, run_name=f"tune {row['trial']}", tags={
            "mlflow.parentRunId": parent, "airflow_mlops.tune_trial": key, "status": str(row["status"])})
        now = int(time.time() * 1000)
        metrics = [Metric(name, float(v), now, step) for name, values in row["history"].items() for step, v in enumerate(values) if v == v]
        if row["score"] is not None:
            metrics.append(Metric("tune.score", float(row["score"]), now, 0))
        client.log_batch(run.info.run_id, metrics=metrics,
                         params=[Param(name, json.dumps(v) if isinstance(v, (list, tuple)) else str(v)) for name, v in row["values"].items()])
        client.set_terminated(run.info.run_id)
    registry.log_params(client, parent, {f"tune.best.{k}": v for k, v in best["values"].items()})
    client.log_batch(parent, metrics=[Metric(f"tune.{name}", float(best[name]), int(time.time() * 1000), 0)
                                      for name in ("best_score", "default_score") if best.get(name) is not None])
    return parent


def plot_trials(rows: list[dict[str, Any]], best: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scored = [r for r in rows if r["score"] is not None]
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(scored) + 3), 4))
    ax.bar([r["trial"] for r in scored], [r["score"] for r in scored], color="#8fb3d9", label="trial")
    if best.get("default_score") is not None:
        ax.axhline(best["default_score"], color="#c0504d", linestyle="--", label=f"defaults {best['default_score']:.4g}")
    ax.axhline(best["best_score"], color="#4f8a3c", label=f"best {best['best_score']:.4g}")
    ax.set_xlabel("trial")
    ax.set_ylabel(f"{best['objective']} ({best['direction']})")
    ax.set_title("hyper-parameter search")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(ctx: ExecutionContext) -> ComponentResult:
    from airflow_mlops.runtime.ml import training_module

    params: TuneParams = ctx.params
    if not params.search_space:
        raise ComponentError(ErrorKind.CONFIG, "tune: training.tuning.search_space is empty: name the values to search")
    transform = ArtifactStore().read_json(f"{ctx.spec.inputs['transform'].uri}/transform.json")
    module = training_module.load(params.module, params.module_source)
    data = load_training_data(ctx.spec.inputs["examples"], transform, params.label, params.seed, ctx.log)
    if data.eval_rows == 0:
        raise ComponentError(ErrorKind.DATA, "tune: the eval split has no rows with a known label; the search judges trials on it")
    trials = Trials(ctx, module, data, transform)

    local = tuner_directory(ctx.scratch_dir)
    with tempfile.TemporaryDirectory(prefix="mlops-tune-") as tmp:
        tuner = search(trials, local or tmp)
        rows = trial_rows(tuner, trials)
        best_trial = tuner.oracle.get_best_trials(1)[0]
    from airflow_mlops.runtime.ml.search_space import decoded

    ctx.log.info("fitting the defaults (no searched value) the same way, for comparison")
    model, context = trials.build({})
    default_history = trials.fit(model, context, [])
    defaults = {"trial": "defaults", "values": {}, "status": "COMPLETED", "history": default_history,
                "score": best_value(default_history, trials.objective, trials.direction), "epochs": len(default_history["loss"])}
    searched_better = (best_trial.score < defaults["score"]) if trials.direction == "min" else (best_trial.score > defaults["score"])
    if searched_better:
        best_values, best_score, best_id = decoded(best_trial.hyperparameters.values), float(best_trial.score), best_trial.trial_id
    else:  # no trial beat the defaults: train keeps them
        best_values, best_score, best_id = {}, defaults["score"], "defaults"
        ctx.log.info("no trial beat the defaults (%s %.4f against %.4f): train keeps them", trials.objective, defaults["score"],
                     best_trial.score)
    best = {"values": best_values, "objective": trials.objective, "direction": trials.direction,
            "best_score": best_score, "best_trial": best_id, "best_searched_score": float(best_trial.score),
            "default_score": defaults["score"],
            "trials": [{k: v for k, v in r.items() if k != "history"} for r in rows],
            "search_space": {name: d.to_dict() for name, d in params.search_space.items()}}
    ctx.log.info("best of %d trials and the defaults: %s, %s %.4f with %s (the defaults: %.4f)", len(rows), best_id,
                 trials.objective, best_score, best_values or "the defaults", defaults["score"])
    run_id = log_to_mlflow(ctx, rows, defaults, best)

    with tempfile.TemporaryDirectory(prefix="mlops-tune-out-") as out:
        with open(os.path.join(out, BEST_FILE), "w") as f:
            json.dump(best, f, indent=2, default=str)
        plot_trials(rows, best, os.path.join(out, "trials.png"))
        ArtifactStore().put_dir(out, ctx.output_uri("hyperparameters"))
    properties = {"values": best_values, "best_trial": best_id, "objective": trials.objective, "best_score": best_score,
                  "default_score": defaults["score"], "trials": len(rows), "mlflow_run_id": run_id}
    return ComponentResult(
        outputs={"hyperparameters": OutputArtifact(ctx.output_uri("hyperparameters"), properties)},
        metrics={"trials": len(rows), "best_score": best_score, "default_score": defaults["score"]},
    )


COMPONENT = Component.implementing(TUNE, run, external_fingerprint=module_fingerprint)
