"""``python -m airflow_mlops.runtime.serving <command>``: run and steer the local prediction server.

  start     start the server in the background (pid and log under .mlops/serving/<pipeline>/)
  stop      stop it (clean shutdown: the prediction log is flushed)
  status    what serves, from the server and the deployment record
  run       run the server in the foreground
  rollback  move champion back to the previous version (the server follows within a poll)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.contract.params import InfraValidationOptions
from airflow_mlops.runtime.serving.config import ServingConfig
from airflow_mlops.runtime.serving.server import ServerError, ServerProcess, http_get, stop_process_group

DEFAULT_PIPELINE = "include/penguin/pipeline.yaml"


def serving_config(pipeline_yaml: str, port: int | None = None) -> ServingConfig:
    """The server's config from a pipeline YAML; ``$MLOPS_ARTIFACT_ROOT`` and
    ``$MLOPS_TRACKING_URI`` override the YAML as they do for the DAGs."""
    from airflow_mlops.contract.config import load_pipeline_config

    config = load_pipeline_config(pipeline_yaml)
    serving = config.deployment.serving
    return ServingConfig(
        pipeline=config.name,
        model_name=config.model_name,
        tracking_uri=os.environ.get("MLOPS_TRACKING_URI") or config.registry.tracking_uri or config.default_tracking_uri,
        artifact_root=os.environ.get("MLOPS_ARTIFACT_ROOT") or config.artifact_root_uri,
        features=config.feature_types(),
        task=config.task,
        cache_dir=str(state_dir(config.project_root, config.name) / "models"),
        log_journal_dir=str(state_dir(config.project_root, config.name) / "prediction-journal"),
        host=serving.host,
        port=port or int(os.environ.get("MLOPS_SERVING_PORT", serving.port)),
        poll_seconds=float(os.environ.get("MLOPS_SERVING_POLL_SECONDS", serving.poll_seconds)),
        max_rows=serving.max_rows,
        max_request_bytes=serving.max_request_bytes,
        workers=serving.workers,
        access_log=serving.access_log,
        # A Cloud Run revision serves exactly one version (see airflow_mlops.provider.deploy.cloud_run).
        pin_version=os.environ.get("MLOPS_SERVING_PIN_VERSION") or None,
        extra={"descriptions": {f.name: f.description for f in config.features if f.description}},
    )


def state_dir(project_root: Path, pipeline: str) -> Path:
    return Path(project_root) / ".mlops" / "serving" / pipeline


def _pid_file(config: ServingConfig, pipeline_yaml: str) -> Path:
    from airflow_mlops.contract.config import load_pipeline_config

    return state_dir(load_pipeline_config(pipeline_yaml).project_root, config.pipeline) / "server.pid"


def _running_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def cmd_start(args) -> int:
    config = serving_config(args.pipeline, args.port)
    pid_file = _pid_file(config, args.pipeline)
    if (pid := _running_pid(pid_file)) is not None and http_get(config.url + "/healthz")[0] == 200:
        print(f"already running (pid {pid}) at {config.url}")
        return 0
    server = ServerProcess.start(config, pid_file.parent, wait_ready=None)
    pid_file.write_text(str(server.process.pid))
    try:
        server.wait(args.wait, ready=False)
    except BaseException as exc:
        # Not up in time (or interrupted): stop what was started, or it would come up later and
        # serve with nobody knowing (and hold the port for the next start).
        server.stop()
        pid_file.unlink(missing_ok=True)
        if not isinstance(exc, ServerError):
            raise
        print(f"{exc}\nthe server was stopped", file=sys.stderr)
        return 1
    try:
        server.wait(args.wait, ready=True)
    except ServerError:
        print(f"up, but not ready: {config.model_name} has no champion yet; it serves as soon as one is deployed")
    print(f"serving {config.pipeline} at {config.url} (pid {server.process.pid}, log {server.log_path})")
    return 0


def cmd_stop(args) -> int:
    config = serving_config(args.pipeline)
    pid_file = _pid_file(config, args.pipeline)
    pid = _running_pid(pid_file)
    if pid is None:
        print("not running")
        return 0
    stop_process_group(pid)
    pid_file.unlink(missing_ok=True)
    print(f"stopped (pid {pid})")
    return 0


def cmd_status(args) -> int:
    from airflow_mlops.runtime.serving.record import read_record
    from airflow_mlops.runtime.serving.server import http_post_json

    config = serving_config(args.pipeline)
    record = read_record(deployment_record_uri(config.artifact_root, config.pipeline), config.pipeline)
    try:
        server = http_post_json(config.url + "/status", {}, timeout=5)[1]
    except OSError as exc:
        server = f"not reachable at {config.url} ({exc})"
    print(json.dumps({"server": server, "deployment_record": record.to_dict()}, indent=2))
    return 0


def cmd_run(args) -> int:
    config = serving_config(args.pipeline, args.port)
    server = ServerProcess.start(config, _pid_file(config, args.pipeline).parent, wait_ready=None)
    try:
        return server.process.wait()
    except KeyboardInterrupt:
        return server.stop()


def cmd_rollback(args) -> int:
    from airflow_mlops.runtime.ml.model_registry import Registry
    from airflow_mlops.runtime.serving.rollout import Rollout, RolloutError

    config = serving_config(args.pipeline)
    registry = Registry(config.tracking_uri, config.model_name, config.pipeline, "")
    try:
        result = Rollout(registry, config.artifact_root, config.pipeline, by="cli").rollback(args.reason)
    except RolloutError as exc:
        print(f"cannot roll back: {exc}", file=sys.stderr)
        return 1
    print(f"rolled back: champion is now version {result['champion']} (was {result['previous_champion']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_mlops.runtime.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("start", cmd_start), ("stop", cmd_stop), ("status", cmd_status), ("run", cmd_run), ("rollback", cmd_rollback)):
        p = sub.add_parser(name)
        p.add_argument("--pipeline", default=DEFAULT_PIPELINE, help="the pipeline YAML (default: %(default)s)")
        if name in ("start", "run"):
            p.add_argument("--port", type=int, default=None)
        if name == "start":
            p.add_argument("--wait", type=float, default=InfraValidationOptions.start_timeout, help="seconds to wait for the server")
        if name == "rollback":
            p.add_argument("--reason", default="manual rollback (cli)")
        p.set_defaults(func=func)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
