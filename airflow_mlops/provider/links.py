"""Extra links of the step operators: the MLflow run and model version, the step's report in the
MLOps view, and the Cloud console page of the job a step ran as remotely.

How Airflow 3 shows them: when a task ends (and when it defers), the task runner calls every
link's :meth:`get_link` on the worker and stores the URL in XCom under the link's ``xcom_key``;
the API server, which has only the serialized DAG (``{link name: xcom_key}``), reads it back from
there. So a link needs nothing on the API server but its name, and :meth:`get_link` reads what the
operator published under :data:`LINKS_XCOM_KEY` (:func:`link_data`): at the end of the step, and
already when a remote job was submitted, so that its console link is there while the job runs.

A link with nothing to point to is ``""``, which the UI hides: a step without a report, a local
step, an MLflow run of a registry that has no UI.

**MLflow.** With an ``http(s)`` tracking URI the links go to the tracking server's UI
(``<server>/#/runs/<run id>``, ``<server>/#/models/<name>/versions/<version>``; credentials in the URI
are dropped). A ``sqlite:`` (or other non-HTTP) registry has no UI: then "Model version" goes to the
version's row in the MLOps view (``/mlops/pipelines/<pipeline>#v<version>``) and "MLflow run" is
hidden (the view shows the run id in the version's lineage).

**MLOps view URLs** are ``[api] base_url`` + ``/mlops/...``; relative (``/mlops/...``, the API
server's own origin) when ``base_url`` is not set.

This module imports nothing heavy: the operators import it at DAG parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from airflow.sdk import BaseOperatorLink

from airflow_mlops.contract import ArtifactRef, RemoteJob, join_uri

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator

#: the XCom key under which a step publishes what its links point to
LINKS_XCOM_KEY = "mlops_links"
#: where the MLOps view is mounted (:mod:`airflow_mlops.provider.plugin.plugin`)
VIEW_PREFIX = "/mlops"
CONSOLE = "https://console.cloud.google.com"
#: the Cloud console page of a GKE pod, as the Google provider's ``KubernetesEnginePodLink`` builds it
GKE_POD = CONSOLE + "/kubernetes/pod/{location}/{cluster}/{namespace}/{pod}/details?project={project}"
#: a kubeconfig context as ``gcloud container clusters get-credentials`` names it
GKE_CONTEXT = re.compile(r"^gke_(?P<project>[^_]+)_(?P<location>[^_]+)_(?P<cluster>.+)$")
#: the components that write an HTML report (what the MLOps view lists as reports)
REPORTING_COMPONENTS = ("validate", "evaluate", "infra_validate", "canary_analysis", "monitor", "check_batch")
#: the outputs whose report is the step's (validate's anomalies before its statistics)
REPORT_OUTPUTS = ("anomalies", "evaluation", "monitoring", "canary_report", "infra_blessing")


# -- what a step publishes -----------------------------------------------------------------------


def http_tracking_server(tracking_uri: str | None) -> str | None:
    """The MLflow UI's base URL for an ``http(s)`` tracking URI (without credentials, query or
    fragment), or None for a registry without a UI (``sqlite:``, a path, ``databricks``)."""
    if not tracking_uri:
        return None
    parts = urlsplit(tracking_uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def gke_cluster(context_name: str | None) -> dict[str, str] | None:
    """``{"project", "location", "cluster"}`` of a gcloud-named kubeconfig context
    (``gke_<project>_<location>_<cluster>``), else None."""
    match = GKE_CONTEXT.match(context_name or "")
    return match.groupdict() if match else None


def console_url(job: RemoteJob) -> str:
    """The Cloud console page of a remote job: the launcher's (Vertex AI, Dataflow) or, for a pod
    on a GKE cluster whose project, location and cluster are known (``details``), its pod page."""
    if job.console_url:
        return job.console_url
    details = job.details
    if job.kind == "kubernetes_pod" and all(details.get(k) for k in ("gke_project", "gke_location", "gke_cluster")):
        namespace, _, pod = job.name.partition("/")
        return GKE_POD.format(location=details["gke_location"], cluster=details["gke_cluster"], namespace=namespace,
                              pod=pod, project=details["gke_project"])
    return ""


def remote_job_entry(job: RemoteJob) -> dict[str, str]:
    return {"kind": job.kind, "name": job.name, "console_url": console_url(job)}


def _refs(refs: Mapping[str, ArtifactRef], type_: str) -> list[ArtifactRef]:
    return [ref for ref in refs.values() if ref.type == type_]


def report_uri(component: str, outputs: Mapping[str, ArtifactRef], html_files: Sequence[str] = ()) -> str | None:
    """The step's report: the ``report`` property of an output (validation, evaluation, monitoring),
    else the first of ``html_files`` (the HTML files found in its outputs)."""
    if component not in REPORTING_COMPONENTS:
        return None
    for ref in sorted(outputs.values(), key=lambda r: (r.name not in REPORT_OUTPUTS, r.name)):
        report = ref.properties.get("report")
        if isinstance(report, str) and report:
            return report
    return next(iter(html_files), None)


def link_data(
    *,
    pipeline: str,
    artifact_root: str,
    tracking_uri: str | None,
    inputs: Mapping[str, ArtifactRef],
    outputs: Mapping[str, ArtifactRef],
    remote_jobs: Sequence[RemoteJob] = (),
    report: str | None = None,
) -> dict[str, Any]:
    """What a finished step's links point to (JSON, published under :data:`LINKS_XCOM_KEY`).

    ``report`` is kept relative to ``<artifact root>/<pipeline>/`` (how the MLOps view serves it:
    the API server may reach the root under another path). The MLflow run is the one a ``Model``
    output or input names (``mlflow_run_id``; the run of the DAG run, which evaluate and register log
    to as well); the model version the ``ModelVersion`` output or input.
    """
    server = http_tracking_server(tracking_uri)
    run_id = next((str(r.properties["mlflow_run_id"]) for r in [*_refs(outputs, "Model"), *_refs(inputs, "Model")]
                   if r.properties.get("mlflow_run_id")), None)
    version = next(({"name": str(r.properties["name"]), "version": str(r.properties["version"])}
                    for r in [*_refs(outputs, "ModelVersion"), *_refs(inputs, "ModelVersion")]
                    if r.properties.get("name") and r.properties.get("version")), None)
    if version is not None and server:
        version["url"] = f"{server}/#/models/{quote(version['name'], safe='')}/versions/{quote(version['version'], safe='')}"
    base = join_uri(artifact_root, pipeline) + "/"
    relative = report[len(base):] if report and report.startswith(base) else None
    return {
        "pipeline": pipeline,
        "mlflow_run": f"{server}/#/runs/{quote(run_id, safe='')}" if server and run_id else "",
        "model_version": version,
        "report": relative,
        "remote_jobs": [remote_job_entry(job) for job in remote_jobs],
    }


# -- the links -----------------------------------------------------------------------------------


def published(ti_key: Any) -> dict[str, Any]:
    """What the task instance published under :data:`LINKS_XCOM_KEY` (``{}`` when nothing)."""
    from airflow.sdk.execution_time.xcom import XCom

    value = XCom.get_value(ti_key=ti_key, key=LINKS_XCOM_KEY)
    if isinstance(value, str):  # an XCom backend may hand back the JSON text
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def view_url(path: str) -> str:
    """``path`` (``/pipelines/...``) in the MLOps view, under ``[api] base_url`` when it is set."""
    from airflow_mlops.provider.compat import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return f"{base}{VIEW_PREFIX}{path}"


class MlopsLink(BaseOperatorLink):
    """A link built from what the step published (:func:`link_data`); ``""`` when there is nothing."""

    name: ClassVar[str]

    def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
        data = published(ti_key)
        return self.url(data) if data else ""

    def url(self, data: dict[str, Any]) -> str:
        raise NotImplementedError


class MlflowRunLink(MlopsLink):
    """The MLflow run of the DAG run (train's, which evaluate and register log to), on an ``http(s)`` server."""

    name = "MLflow run"

    def url(self, data: dict[str, Any]) -> str:
        return str(data.get("mlflow_run") or "")


class ModelVersionLink(MlopsLink):
    """The model version the step registered or rolled out: the MLflow UI's page, or the version's
    row in the MLOps view for a registry without a UI."""

    name = "Model version"

    def url(self, data: dict[str, Any]) -> str:
        version = data.get("model_version") or {}
        if not version.get("version"):
            return ""
        if version.get("url"):
            return str(version["url"])
        return view_url(f"/pipelines/{quote(str(data['pipeline']), safe='')}#v{quote(str(version['version']), safe='')}")


class ReportLink(MlopsLink):
    """The step's report (validation, evaluation, infra validation, canary analysis, monitoring) in the MLOps view."""

    name = "Report"

    def url(self, data: dict[str, Any]) -> str:
        report = data.get("report")
        if not report:
            return ""
        return view_url(f"/reports/{quote(str(data['pipeline']), safe='')}/{quote(str(report))}")


class RemoteJobLink(MlopsLink):
    """The Cloud console page of the job of ``kind`` the step ran as or submitted (the last one)."""

    kind: ClassVar[str]

    def url(self, data: dict[str, Any]) -> str:
        urls = [str(job.get("console_url") or "") for job in data.get("remote_jobs") or [] if job.get("kind") == self.kind]
        return next((u for u in reversed(urls) if u), "")


class VertexJobLink(RemoteJobLink):
    """The Vertex AI custom job a step ran as (``runtime.launcher: vertex``)."""

    name = "Vertex AI job"
    kind = "vertex_custom_job"


class GkePodLink(RemoteJobLink):
    """The GKE pod a step ran in (``runtime.launcher: kubernetes`` on a GKE cluster named by a gcloud
    kubeconfig context ``gke_<project>_<location>_<cluster>``)."""

    name = "GKE workload"
    kind = "kubernetes_pod"


class DataflowJobLink(RemoteJobLink):
    """The Dataflow job a Beam step submitted (``beam_pipeline_args`` with ``--runner=DataflowRunner``)."""

    name = "Dataflow job"
    kind = "dataflow_job"


#: every step operator's links, in the order the UI lists them
STEP_LINKS: tuple[MlopsLink, ...] = (
    ReportLink(), ModelVersionLink(), MlflowRunLink(), VertexJobLink(), GkePodLink(), DataflowJobLink(),
)
#: their classes, as the provider info lists them (``extra-links``)
LINK_CLASSES = tuple(f"{type(link).__module__}.{type(link).__qualname__}" for link in STEP_LINKS)
