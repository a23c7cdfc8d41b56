"""``ComponentOperator``: run one runtime component through a launcher and publish its result."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_mlops.contract import (
    REMOTE_JOB_FILE,
    SPEC_FILE,
    ArtifactRef,
    ComponentSpec,
    RemoteJob,
    RunInfo,
    invocation_dir,
    join_uri,
)
from airflow_mlops.contract.components import ComponentInterface
from airflow_mlops.contract.config.runtime import LAUNCHERS
from airflow_mlops.contract.typed import Record, RecordError, parse_bool
from airflow_mlops.provider.compat import AirflowException, AirflowFailException, conf
from airflow_mlops.provider.links import LINKS_XCOM_KEY, STEP_LINKS, gke_cluster, link_data, report_uri

#: How the component process ended (exit code, wall time), next to its spec: for debugging and benchmarks.
LAUNCH_FILE = "launch.json"

# The launchers and hooks are imported where a task runs, not when a DAG file is parsed.
if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from airflow.sdk import Context

    from airflow_mlops.provider.launchers import InvocationResult, JobState, Launcher, LaunchRequest, RemoteLauncher


@dataclass(frozen=True)
class ComponentOutput:
    """An output of an upstream component task, used as an input of a downstream one.

    Passing one as an input makes the producing task upstream of the consumer.
    """

    task_id: str
    name: str
    operator: BaseOperator | None = field(default=None, compare=False, repr=False)


def _as_bool(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    parsed = parse_bool(str(value)) if str(value).strip() else False
    if parsed is None:
        raise AirflowFailException(f"cache must be true or false (got {value!r})")
    return parsed


def safe_segment(segment: str) -> str:
    """A run id or task id as a path segment (``manual__2026-01-01T00:00:00+00:00`` has ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", segment)


class ComponentOperator(BaseOperator):
    """Run a runtime-plane component (``python -m airflow_mlops.runtime.components <name>``).

    The operator writes the component spec under the artifact root, launches the component,
    streams its output into the task log and returns the execution result to XCom:
    ``{"component", "fingerprint", "cache_hit", "outputs": {name: ArtifactRef dict}, "metrics",
    "execution_uri", "duration_seconds"}``.

    A component that rejects its input (``error.json`` of kind ``data``, ``config`` or ``model``) fails the
    task with its message and no retry; a crash, a timeout or an infrastructure error fails it
    with retries.

    Subclasses name a built-in component's :class:`ComponentInterface` (``interface``): then the
    component's parameters may be given as keyword arguments named like the fields of its
    parameter record (``epochs=...``) or as the record itself (``component_params=TrainParams(...)``),
    and its inputs as keyword arguments named like the inputs (``examples=ingest.artifact("examples")``).
    After templates are rendered the parameters are checked against the record; a wrong type
    fails the task with the field's name and no retry.

    :param component: component name, e.g. ``ingest`` (default: the interface's).
    :param pipeline: pipeline name (first path segment under the artifact root).
    :param artifact_root: fsspec URI of the artifact root (templated).
    :param component_params: the component's parameters, a record or a mapping (templated); part
        of the fingerprint.
    :param component_settings: how to run rather than what to compute, e.g. the registry URI or
        Beam options (templated); not part of the fingerprint.
    :param inputs: input artifacts by name, from upstream component tasks; those tasks become
        upstream of this one.
    :param cache: reuse a succeeded execution with the same fingerprint (templated, e.g.
        ``"{{ params.cache }}"``).
    :param beam_pipeline_args: Beam options for steps that run Beam (``--runner=DataflowRunner ...``);
        a setting, not part of the fingerprint.
    :param launcher: ``runtime.launcher``: which launcher starts the component (``local``,
        ``kubernetes``, ``vertex``).
    :param launcher_options: the keyword arguments of a remote launcher (image, namespace,
        resources, GPUs, machine type, ...; see :mod:`airflow_mlops.provider.launchers`).
    :param deferrable: with a remote launcher, free the worker slot while the job runs (the
        triggerer watches it); default from ``[operators] default_deferrable``.
    :param runtime_python: the runtime interpreter for the local launcher; default from
        ``$MLOPS_RUNTIME_PYTHON``, ``[mlops] runtime_python`` or ``<project_root>/.venv-runtime``.
    :param project_root: the project directory, to find the default runtime environment.
    :param component_timeout: seconds after which the launcher kills the component.
    :param component_env: extra environment variables for the component process.
    :param registry: for components that use the model registry: ``{"tracking_uri",
        "model_name"}`` (templated via ``component_settings``).
    :param mlflow_conn_id: an Airflow connection of type ``mlflow`` (:class:`MlflowHook`) to take
        the MLflow tracking URI from; wins over ``registry``. Its credentials reach the component
        as ``MLFLOW_TRACKING_*`` environment variables, never through the spec or XCom.
    :param gcp_conn_id: the Google Cloud connection the operator reads and writes a ``gs://``
        artifact root with (:class:`ArtifactStorageHook`); and remote targets' credentials.
    """

    template_fields: Sequence[str] = ("component_params", "component_settings", "artifact_root", "cache")
    template_fields_renderers = {"component_params": "json", "component_settings": "json"}
    ui_color = "#d8e8f8"
    #: the MLflow run and model version, the report in the MLOps view, the remote job (:mod:`..links`)
    operator_extra_links = STEP_LINKS
    #: the built-in component this operator runs (``None``: any component, untyped parameters)
    interface: ClassVar[ComponentInterface | None] = None

    def __init__(
        self,
        *,
        pipeline: str,
        artifact_root: str,
        component: str | None = None,
        component_params: Record | Mapping[str, Any] | None = None,
        component_settings: dict[str, Any] | None = None,
        inputs: Mapping[str, ComponentOutput] | None = None,
        cache: bool | str = True,
        launcher: str = "local",
        launcher_options: Mapping[str, Any] | None = None,
        deferrable: bool | None = None,
        beam_pipeline_args: Sequence[str] | None = None,
        runtime_python: str | None = None,
        project_root: str | None = None,
        component_timeout: float | None = None,
        component_env: Mapping[str, str] | None = None,
        registry: Mapping[str, Any] | None = None,
        mlflow_conn_id: str | None = None,
        gcp_conn_id: str = "google_cloud_default",
        **kwargs: Any,
    ) -> None:
        params = component_params.to_dict() if isinstance(component_params, Record) else dict(component_params or {})
        inputs = dict(inputs or {})
        if self.interface is not None:
            fields = set(self.interface.params.field_names())
            for name in [k for k in kwargs if k in fields]:
                value = kwargs.pop(name)
                params[name] = value.to_dict() if isinstance(value, Record) else value
            for name in [k for k in kwargs if k in self.interface.inputs or k in self.interface.optional_inputs]:
                value = kwargs.pop(name)
                if value is not None:
                    inputs[name] = value
            component = component or self.interface.name
        if not component:
            raise ValueError("component is required for an operator without an interface")
        if launcher not in LAUNCHERS:  # a config error: at DAG parse, not as a retried task failure
            raise ValueError(f"launcher must be one of {', '.join(sorted(LAUNCHERS))} (got {launcher!r})")
        super().__init__(**kwargs)
        self.component = component
        self.pipeline = pipeline
        self.artifact_root = artifact_root
        self.component_params = params
        self.component_settings = dict(component_settings or {})
        if beam_pipeline_args:
            self.component_settings["beam_pipeline_args"] = list(beam_pipeline_args)
        if registry is not None:
            self.component_settings["registry"] = dict(registry)
        self.mlflow_conn_id = mlflow_conn_id
        self.gcp_conn_id = gcp_conn_id
        self.inputs = inputs
        for source in self.inputs.values():
            if source.operator is not None:
                self.set_upstream(source.operator)
        self.cache = cache
        self.runtime_python = runtime_python
        self.project_root = project_root
        self.component_timeout = component_timeout
        self.component_env = dict(component_env or {})
        self.launcher = launcher
        self.launcher_options = dict(launcher_options or {})
        self.deferrable = (
            conf.getboolean("operators", "default_deferrable", fallback=False) if deferrable is None else deferrable
        )
        self._launcher: Launcher | None = None
        # what this execution ran and produced: for the extra links and OpenLineage
        self._spec: ComponentSpec | None = None
        self._outputs: dict[str, ArtifactRef] | None = None
        self._remote_jobs: list[RemoteJob] = []

    def artifact(self, name: str) -> ComponentOutput:
        """Reference to this task's output ``name``, to pass as another component's input."""
        return ComponentOutput(self.task_id, name, self)

    # -- execution ---------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_mlops.provider.launchers import LaunchRequest, RemoteLauncher, read_invocation

        store = self._store()
        ti = context["ti"]
        inputs = self._resolve_inputs(context)
        self.check_inputs(inputs)
        spec = ComponentSpec(
            component=self.component,
            pipeline=self.pipeline,
            artifact_root=self.artifact_root,
            invocation_uri=invocation_dir(
                self.artifact_root,
                self.pipeline,
                "/".join(safe_segment(s) for s in (ti.dag_id, ti.run_id, ti.task_id, f"try-{ti.try_number}")),
            ),
            params=self.checked_params(),
            settings=self.settings(context),
            inputs=inputs,
            cache=_as_bool(self.cache),
            run=RunInfo(
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                try_number=ti.try_number,
                logical_date=str(context.get("logical_date")) if context.get("logical_date") else None,
            ),
        )
        self._spec, self._outputs, self._remote_jobs = spec, None, []
        # A cleared task reruns with the same try number only if Airflow reuses it; start clean.
        store.remove(spec.invocation_uri)
        spec_uri = join_uri(spec.invocation_uri, SPEC_FILE)
        store.write_text(spec_uri, spec.to_json())
        self.log.info("component %s, spec %s, cache %s", self.component, spec_uri, "on" if spec.cache else "off")

        self._launcher = launcher = self.make_launcher()
        request = LaunchRequest(self.component, spec_uri, self.component_timeout, {**self.component_env, **self.connection_env()})
        if isinstance(launcher, RemoteLauncher):
            return self._run_remote(launcher, request, spec, context)
        outcome = launcher.run(request, self._log_component_line)
        store.write_json(join_uri(spec.invocation_uri, LAUNCH_FILE), dataclasses.asdict(outcome))
        result = self._result(spec, read_invocation(store, spec.invocation_uri, outcome))
        self.publish_links(context)
        return result

    def make_launcher(self) -> Launcher:
        """The launcher ``runtime.launcher`` names, set up for this task."""
        from airflow_mlops.provider.launchers import launcher_for, resolve_runtime_python

        if self.launcher == "local":
            return launcher_for("local", python=resolve_runtime_python(self.runtime_python, self.project_root))
        return launcher_for(self.launcher, **self.launcher_options)

    # -- remote launchers --------------------------------------------------------------------

    def _run_remote(self, launcher: RemoteLauncher, request: LaunchRequest, spec: ComponentSpec, context: Context) -> dict[str, Any]:
        """Submit the job, record it next to the spec, then defer (or poll here) until it ends."""
        ti = context["ti"]
        labels = {"airflow-dag-id": ti.dag_id, "airflow-task-id": ti.task_id, "airflow-run-id": ti.run_id,
                  "airflow-try-number": str(ti.try_number)}
        started, t0 = time.time(), time.monotonic()
        job = self._with_cluster(launcher.submit(request, labels))
        self._store().write_json(join_uri(spec.invocation_uri, REMOTE_JOB_FILE), job.to_dict())
        self.log.info("%s started as %s %s %s", self.component, job.kind, job.name, job.console_url)
        self._remote_jobs = [job]
        self.publish_links(context)  # the console link, while the job runs
        self.log.info("request: %s", {k: v for k, v in job.details.items()})
        if self.deferrable:
            from airflow_mlops.provider.triggers.remote_job import RemoteJobTrigger

            self.defer(
                trigger=RemoteJobTrigger(launcher.name, launcher.options(), job.to_dict(), spec.invocation_uri, started,
                                         self.component_timeout),
                method_name="execute_complete",
            )
        state, timed_out = launcher.poll_until_done(job, t0, self.component_timeout)
        result = self._remote_result(launcher, job, state, timed_out, time.time() - started, spec.invocation_uri)
        self.publish_links(context)
        return result

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """Back from the triggerer: the job ended (``event`` from :class:`RemoteJobTrigger`)."""
        from airflow_mlops.provider.launchers import JobState, RemoteLauncher

        launcher = self.make_launcher()
        assert isinstance(launcher, RemoteLauncher)
        job = RemoteJob.from_dict(event["job"])
        self._remote_jobs = [job]
        result = self._remote_result(launcher, job, JobState.from_dict(event), bool(event.get("timed_out")),
                                     float(event.get("duration_seconds") or 0), event["invocation_uri"])
        self.publish_links(context)
        return result

    def _remote_result(self, launcher: RemoteLauncher, job: RemoteJob, state: JobState, timed_out: bool,
                       duration: float, invocation_uri: str) -> dict[str, Any]:
        from airflow_mlops.provider.launchers import read_invocation

        for line in launcher.logs(job):
            self._log_component_line(line)
        launcher.finish(job)
        outcome = state.outcome(duration, timed_out)
        if state.state != "succeeded":
            self.log.error("%s %s ended: %s", job.kind, job.name, outcome.reason)
        store = self._store()
        store.write_json(join_uri(invocation_uri, LAUNCH_FILE), {**dataclasses.asdict(outcome), "job": job.to_dict()})
        self._spec = spec = ComponentSpec.from_json(store.read_text(join_uri(invocation_uri, SPEC_FILE)))
        return self._result(spec, read_invocation(store, invocation_uri, outcome))

    def _with_cluster(self, job: RemoteJob) -> RemoteJob:
        """A pod with the GKE cluster it runs on in its details (for its console link), when the
        Kubernetes connection names a gcloud kubeconfig context (``gke_<project>_<location>_<cluster>``)."""
        if job.kind != "kubernetes_pod":
            return job
        try:
            from airflow.sdk import BaseHook

            extra = BaseHook.get_connection(str(self.launcher_options.get("conn_id") or "kubernetes_default")).extra_dejson
        except Exception:  # no such connection (in-cluster): no console link, nothing else changes
            return job
        context_name = extra.get("cluster_context") or extra.get("extra__kubernetes__cluster_context")
        if not context_name and isinstance(extra.get("kube_config"), dict):
            context_name = extra["kube_config"].get("current-context")
        cluster = gke_cluster(context_name)
        if cluster is None:
            return job
        return dataclasses.replace(job, details={**job.details, **{f"gke_{k}": v for k, v in cluster.items()}})

    # -- what the step links to and its lineage ------------------------------------------------

    def publish_links(self, context: Context) -> None:
        """Publish what the extra links point to (:func:`~airflow_mlops.provider.links.link_data`).
        Best effort: a link is not worth failing a step for (the reason is logged)."""
        try:
            self._publish_links(context)
        except Exception as exc:
            self.log.warning("extra links not published: %s", exc)

    def _publish_links(self, context: Context) -> None:
        spec = self._spec
        if spec is None:
            return
        outputs = self._outputs or {}
        report = report_uri(self.component, outputs)
        if report is None and outputs and self.component in ("infra_validate", "canary_analysis"):
            store = self._store()
            files = [uri for ref in outputs.values() for uri in store.list_files(ref.uri)]
            # an HTML report, else the JSON one (infra validation writes only infra_validation.json)
            found = [u for u in files if u.endswith(".html")] or [u for u in files if u.endswith(".json")]
            report = report_uri(self.component, outputs, found)
        data = link_data(
            pipeline=spec.pipeline,
            artifact_root=spec.artifact_root,
            tracking_uri=(spec.settings.get("registry") or {}).get("tracking_uri"),
            inputs=spec.inputs,
            outputs=outputs,
            remote_jobs=self._remote_jobs,
            report=report,
        )
        context["ti"].xcom_push(key=LINKS_XCOM_KEY, value=data)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The step's inputs and outputs as OpenLineage datasets (:mod:`airflow_mlops.provider.lineage`).
        Called by the OpenLineage provider's listener, if it is installed, after the task ended
        (also after a failure: then with the inputs only)."""
        from airflow_mlops.provider.lineage import step_lineage

        spec = self._spec
        if spec is None:
            from airflow.providers.openlineage.extractors import OperatorLineage

            return OperatorLineage()
        return step_lineage(
            component=self.component,
            pipeline=spec.pipeline,
            artifact_root=spec.artifact_root,
            tracking_uri=(spec.settings.get("registry") or {}).get("tracking_uri"),
            inputs=spec.inputs,
            outputs=self._outputs or {},
            params=spec.params,
        )

    def _store(self) -> Any:
        from airflow_mlops.provider.hooks import ArtifactStorageHook

        return ArtifactStorageHook(self.gcp_conn_id).store(self.artifact_root)

    def checked_params(self) -> dict[str, Any]:
        """The rendered parameters checked against the component's record, with their types
        (``"30"`` rendered from ``{{ params.epochs }}`` becomes ``30``) and defaults filled in:
        the spec and the execution record say exactly what ran."""
        if self.interface is None:
            return dict(self.component_params)
        try:
            record = self.interface.params.from_dict(self.component_params, coerce=True)
        except RecordError as exc:
            raise AirflowFailException(
                f"{self.task_id}: invalid parameters for {self.component}:\n" + "\n".join(f"  - {p}" for p in exc.problems)
            ) from None
        return record.to_dict()

    def check_inputs(self, inputs: dict[str, ArtifactRef]) -> None:
        """Hook: refuse or skip before launching (e.g. a model that is not blessed)."""

    def settings(self, context: Context) -> dict[str, Any]:
        """The spec's settings, with the registry URI from ``mlflow_conn_id`` when given."""
        from airflow_mlops.provider.hooks import MlflowHook

        settings = dict(self.component_settings)
        if self.mlflow_conn_id:
            uri = MlflowHook(self.mlflow_conn_id).get_tracking_uri()
            settings["registry"] = {**settings.get("registry", {}), "tracking_uri": uri}
        return settings

    def connection_env(self) -> dict[str, str]:
        """Secrets from connections, for the component's environment only."""
        from airflow_mlops.provider.hooks import MlflowHook

        return MlflowHook(self.mlflow_conn_id).get_component_env() if self.mlflow_conn_id else {}

    def _log_component_line(self, line: str) -> None:
        self.log.info("[%s] %s", self.component, line)

    def _resolve_inputs(self, context: Context) -> dict[str, ArtifactRef]:
        inputs = {}
        for name, source in self.inputs.items():
            result = context["ti"].xcom_pull(task_ids=source.task_id)
            if not result or source.name not in (result.get("outputs") or {}):
                raise AirflowFailException(
                    f"input {name!r}: task {source.task_id!r} published no output {source.name!r}; "
                    f"run it first (clear it in the UI to re-run)"
                )
            inputs[name] = ArtifactRef.from_dict(result["outputs"][source.name])
        return inputs

    def _result(self, spec: ComponentSpec, result: InvocationResult) -> dict[str, Any]:
        outcome, report = result.outcome, result.error
        if report is not None:
            message = f"{report.component} failed ({report.kind.value} error): {report.message}"
            if report.kind.retryable:
                raise AirflowException(message)
            raise AirflowFailException(message)
        if outcome.timed_out:
            raise AirflowException(
                f"{self.component} ran longer than its timeout of {self.component_timeout} s and was killed"
            )
        if result.record is None and outcome.reason:  # the platform said why: OOMKilled, preempted, ...
            raise AirflowException(f"{self.component} failed (infrastructure error, retried): {outcome.reason}")
        if result.record is None:
            raise AirflowException(
                f"{self.component} crashed with exit code {outcome.returncode} and left no error report; "
                "see its output above"
            )
        record = result.record
        if record.cache_hit:
            self.log.info(
                "%s: cache hit, reused execution %s from %s (%s)",
                self.component,
                record.fingerprint,
                record.ended_at,
                record.run.run_id,
            )
        else:
            self.log.info("%s: executed in %.1f s, fingerprint %s", self.component, record.duration_seconds, record.fingerprint)
        for name, ref in record.outputs.items():
            self.log.info("output %s (%s): %s", name, ref.type, ref.uri)
        self._outputs = dict(record.outputs)
        if not record.cache_hit:  # a cache hit's record names the jobs of the run that did the work
            seen = {(j.kind, j.name) for j in self._remote_jobs}
            self._remote_jobs += [j for j in record.remote_jobs if (j.kind, j.name) not in seen]
        if record.metrics:
            self.log.info("metrics: %s", record.metrics)
        return {
            "component": record.component,
            "fingerprint": record.fingerprint,
            "cache_hit": record.cache_hit,
            "outputs": {name: ref.to_dict() for name, ref in record.outputs.items()},
            "metrics": record.metrics,
            "execution_uri": join_uri(spec.artifact_root, spec.pipeline, record.component, record.fingerprint),
            "duration_seconds": outcome.duration_seconds,
        }

    def on_kill(self) -> None:
        if self._launcher is not None:
            self._launcher.cancel()
