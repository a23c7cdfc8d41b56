"""What each built-in component is, seen from both planes: its name, its parameter record, and
the artifact kinds it reads and writes. The operator and the runtime component of a step both
refer to its :class:`ComponentInterface`, so neither restates it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_mlops.contract import params as p
from airflow_mlops.contract.typed import Record


@dataclass(frozen=True)
class ComponentInterface:
    """:param name: the component's name on the command line and in artifact paths.
    :param params: its parameter record.
    :param inputs: input name -> artifact type.
    :param outputs: output name -> artifact type.
    :param cacheable: ``False`` for steps whose effect is outside the artifact store (the
        registry, serving): they always run and are idempotent.
    :param optional_inputs: inputs a pipeline may give or not (train's ``tuned_hyperparameters``)."""

    name: str
    params: type[Record]
    inputs: Mapping[str, str] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)
    cacheable: bool = True
    optional_inputs: Mapping[str, str] = field(default_factory=dict)


INGEST = ComponentInterface("ingest", p.IngestParams, outputs={"examples": "Examples"})
VALIDATE = ComponentInterface(
    "validate", p.ValidateParams, inputs={"examples": "Examples"},
    outputs={"statistics": "ExampleStatistics", "schema": "Schema", "anomalies": "ExampleAnomalies"},
)
TRANSFORM = ComponentInterface(
    "transform", p.TransformParams, inputs={"examples": "Examples", "schema": "Schema"}, outputs={"transform": "Transform"}
)
TUNE = ComponentInterface(
    "tune", p.TuneParams, inputs={"examples": "Examples", "transform": "Transform"},
    outputs={"hyperparameters": "HyperParameters"},
)
TRAIN = ComponentInterface(
    "train", p.TrainParams, inputs={"examples": "Examples", "transform": "Transform"}, outputs={"model": "Model"},
    optional_inputs={"tuned_hyperparameters": "HyperParameters"},
)
EVALUATE = ComponentInterface(
    "evaluate", p.EvaluateParams, inputs={"examples": "Examples", "model": "Model"},
    outputs={"evaluation": "ModelEvaluation", "blessing": "ModelBlessing"},
)
REGISTER = ComponentInterface(
    "register", p.RegisterParams,
    inputs={
        "model": "Model", "blessing": "ModelBlessing", "evaluation": "ModelEvaluation", "examples": "Examples",
        "statistics": "ExampleStatistics", "schema": "Schema", "transform": "Transform",
    },
    outputs={"model_version": "ModelVersion"}, cacheable=False, optional_inputs={"tuned_hyperparameters": "HyperParameters"},
)
INFRA_VALIDATE = ComponentInterface(
    "infra_validate", p.InfraValidateParams, inputs={"model_version": "ModelVersion", "examples": "Examples"},
    outputs={"infra_blessing": "InfraBlessing"}, cacheable=False,
)
DEPLOY = ComponentInterface(
    "deploy", p.DeployParams, inputs={"model_version": "ModelVersion", "infra_blessing": "InfraBlessing"},
    outputs={"deployment": "Deployment"}, cacheable=False,
)
ROLLBACK = ComponentInterface("rollback", p.RollbackParams, outputs={"deployment": "Deployment"}, cacheable=False)
CANARY_ANALYSIS = ComponentInterface(
    "canary_analysis", p.CanaryAnalysisParams, outputs={"canary_report": "CanaryReport"}, cacheable=False
)
CHECK_BATCH = ComponentInterface(
    "check_batch", p.BatchCheckParams,
    outputs={"batch": "BatchExamples", "statistics": "ExampleStatistics", "anomalies": "ExampleAnomalies"},
)
PREDICT_BATCH = ComponentInterface(
    "predict_batch", p.BatchPredictParams, inputs={"batch": "BatchExamples"}, outputs={"predictions": "BatchPredictions"},
)
MONITOR = ComponentInterface("monitor", p.MonitorParams, outputs={"monitoring": "MonitoringReport"}, cacheable=False)

BUILT_IN: dict[str, ComponentInterface] = {
    c.name: c
    for c in (INGEST, VALIDATE, TRANSFORM, TUNE, TRAIN, EVALUATE, REGISTER, INFRA_VALIDATE, DEPLOY, ROLLBACK, CANARY_ANALYSIS, CHECK_BATCH,
              PREDICT_BATCH, MONITOR)
}
