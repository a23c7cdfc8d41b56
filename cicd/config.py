"""``cicd/environments.yaml`` as typed records: a mistake is reported with its field path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from airflow_mlops.contract.typed import Record, RecordError, option

ENVIRONMENTS_FILE = Path(__file__).resolve().parent / "environments.yaml"


def _pattern(value: str | None) -> list[str]:
    if value is None:
        return []
    try:
        re.compile(value)
    except re.error as exc:
        return [f"not a regular expression: {exc}"]
    return []


def _gs_uri(value: str) -> list[str]:
    return [] if value.startswith("gs://") else [f"must be a gs:// URI (got {value!r})"]


def _url(value: str) -> list[str]:
    return [] if re.fullmatch(r"https?://\S+", value) else [f"must be an http(s) URL (got {value!r})"]


def _one_event(trigger: Trigger) -> list[str]:
    return [] if (trigger.branch is None) != (trigger.tag is None) else ["give a branch or a tag"]


def _names(environments: dict[str, Environment]) -> list[str]:
    if not environments:
        return ["name at least one"]
    return [f"{name}: a name of lower-case letters, digits and -" for name in environments
            if not re.fullmatch(r"[a-z][a-z0-9-]*", name)]


@dataclass(frozen=True, kw_only=True)
class Trigger(Record):
    """What starts an environment's build: a push to a branch or a tag (Cloud Build's RE2 patterns)."""

    branch: str | None = option(None, "branches whose pushes build it, e.g. ^main$", check=_pattern)
    tag: str | None = option(None, "tags whose pushes build it, e.g. ^v[0-9.]+$", check=_pattern)


@dataclass(frozen=True, kw_only=True)
class LoadTest(Record):
    """The load test of the model API after a deployment: requests at ``qps`` for ``duration_seconds``."""

    rows: str = option("cicd/load_test_rows.json", "a JSON list of request rows, from the repository root")
    qps: float = option(20.0, "requests per second sent (one row each)", gt=0)
    duration_seconds: float = option(30.0, "how long", gt=0)
    max_p95_ms: float = option(500.0, "the 95th percentile latency may be at most this", gt=0)
    max_error_rate: float = option(0.0, "share of requests that may fail (not 2xx, or no answer)", ge=0, le=1)
    min_qps_ratio: float = option(0.9, "answered requests per second must reach this share of qps", gt=0, le=1)
    concurrency: int = option(32, "requests in flight at most", gt=0)
    identity_token: bool = option(
        True, "send the build's service account identity token for the model API's URL (a Cloud Run service "
        "that requires authentication); false: no Authorization header")


@dataclass(frozen=True, kw_only=True)
class Environment(Record):
    """One place the pipelines run: a Composer environment, its bucket, its images, its model API."""

    project: str = option(doc="the Google Cloud project")
    region: str = option(doc="the Composer environment's and the Artifact Registry repository's region")
    composer_environment: str = option(doc="the Composer environment's name")
    composer_bucket: str = option(doc="its bucket (gs://...), where dags/ and plugins/ are synced", check=_gs_uri)
    image_repository: str = option(doc="the Artifact Registry Docker repository the images are pushed to")
    model_api: str = option(doc="the base URL of the prediction service the load test calls (…/predict)", check=_url)
    trigger: Trigger = option(doc="what starts this environment's build", factory=Trigger, check=_one_event)
    approval: bool = option(False, "a person approves the build in Cloud Build before it runs (production)")
    integration_run: bool = option(True, "run the training DAG once on the environment after the sync")
    load_test: LoadTest = option(doc="this environment's load test bounds", factory=LoadTest)


@dataclass(frozen=True, kw_only=True)
class Repository(Record):
    owner: str = option(doc="the GitHub owner of the repository Cloud Build is connected to")
    name: str = option(doc="the repository's name")


@dataclass(frozen=True, kw_only=True)
class Deployment(Record):
    """The whole file."""

    repository: Repository = option(doc="the connected GitHub repository")
    environments: dict[str, Environment] = option(doc="name -> environment, in promotion order", check=_names)


def load(path: str | Path = ENVIRONMENTS_FILE) -> Deployment:
    """:raises RecordError: every problem, with its field path."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise RecordError([f"{path}: not valid YAML: {exc}"]) from None
    return Deployment.from_dict(data)
