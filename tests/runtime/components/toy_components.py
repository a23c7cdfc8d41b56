"""A small component for testing the runner and the CLI: writes one output, counts its executions,
and can sleep or fail after writing its output (to act out a step killed before its record)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.runtime.components.base import Component, ComponentResult, ExecutionContext, OutputArtifact


def run(ctx: ExecutionContext) -> ComponentResult:
    counter = Path(ctx.params["counter_file"])
    counter.write_text(str(int(counter.read_text() or 0) + 1) if counter.exists() else "1")
    out = ctx.output_uri("out", "value.txt")
    ArtifactStore().write_text(out, str(ctx.params.get("value", "")))
    print("outputs written", flush=True)
    # From the environment, not the params, so a killed run and its rerun share a fingerprint.
    time.sleep(float(os.environ.get("TOY_SLEEP_AFTER_OUTPUTS", "0")))
    if ctx.params.get("fail_after_outputs"):
        raise RuntimeError("simulated crash after the outputs were written")
    return ComponentResult(outputs={"out": OutputArtifact(uri=ctx.output_uri("out"))}, metrics={"value": ctx.params.get("value")})


COMPONENT = Component(name="toy", run=run, outputs={"out": "Toy"})


def consume(ctx: ExecutionContext) -> ComponentResult:
    return ComponentResult(outputs={"copy": OutputArtifact(uri=ctx.spec.inputs["source"].uri)})


CONSUMER = Component(name="consumer", run=consume, outputs={"copy": "Toy"}, inputs={"source": "Toy"})
