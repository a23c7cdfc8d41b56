"""Running a component as a launcher would: write its spec, call the component CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import SPEC_FILE, ComponentSpec, join_uri

HERE = Path(__file__).resolve().parent


def make_spec(component: str, root: str, params: dict, name: str = "inv", cache: bool = True, **kw) -> ComponentSpec:
    return ComponentSpec(
        component=component,
        pipeline="penguin",
        artifact_root=root,
        invocation_uri=join_uri(root, "penguin", "_invocations", name),
        params=params,
        cache=cache,
        **kw,
    )


def run_cli(spec: ComponentSpec, timeout: float = 300) -> subprocess.CompletedProcess:
    """Write the spec and run ``python -m airflow_mlops.runtime.components`` on it, as a launcher would."""
    spec_uri = join_uri(spec.invocation_uri, SPEC_FILE)
    ArtifactStore().write_text(spec_uri, spec.to_json())
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    return subprocess.run(
        [sys.executable, "-m", "airflow_mlops.runtime.components", spec.component, "--spec", spec_uri],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
