"""`make demo` (or `make demo PIPELINE=diabetes`): the whole local scenario on the embedded
default, and a summary. The steps, for the penguins (any pipeline under include/ works the same):

1. penguin_training trains, evaluates and registers version 1; infra validation answers test
   rows in a real prediction server; the first model becomes the champion.
2. The prediction server starts on 127.0.0.1 (`make serve`) and answers a few rows over HTTP.
3. penguin_training again with more epochs: ingest/validate/transform are cache hits, a new
   model is trained, blessed against the champion, registered and goes to a 10 % canary.
   On the state an earlier demo left, step 1 finds its model registered and superseded (nothing
   deployed), and step 3 trains 10 more epochs per champion version (40 with champion 2): each
   demo rolls out a new version.
4. Traffic reaches both versions; penguin_promotion (forced, instead of waiting for the
   window) compares them online and promotes the challenger; the server follows.

The server keeps running afterwards (`make stop` stops it). Runs in the Airflow environment
(.venv) with the Makefile's AIRFLOW_HOME (.mlops/airflow).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dag_runs import dag_test, prepare_airflow, step_runs

from airflow_mlops.runtime.serving.server import http_post_json

REPO = Path(__file__).resolve().parents[1]
PIPELINE = sys.argv[1] if len(sys.argv) > 1 else "penguin"
CONFIG = REPO / "include" / PIPELINE / "pipeline.yaml"
DAG_ID = f"{PIPELINE}_training"
# What the components say that is worth watching live; the full log is kept in a file.
LIVE = re.compile(
    r"\] \[\w+\] INFO airflow_mlops\.components: (cache (hit|miss)|blessing|registered|this model|version \d+ is already"
    r"|champion: version|drift |validation report|answered \d+ requests|(bootstrap|canary|promote|reject|none): version"
    r"|decision: )|failed \(|no decision|DagRun Finished"
)
RUNTIME_PYTHON = os.environ.get("AIRFLOW__MLOPS__RUNTIME_PYTHON", str(REPO / ".venv-runtime" / "bin" / "python"))
# The penguins' sample rows show a row with missing values too; other pipelines send test rows.
PENGUIN_SAMPLES = [
    {"island": "Biscoe", "bill_length_mm": 47.5, "bill_depth_mm": 14.2, "flipper_length_mm": 217.0, "body_mass_g": 4875.0, "sex": "female"},
    {"island": "Torgersen", "bill_length_mm": 38.9, "bill_depth_mm": 17.8, "flipper_length_mm": 181.0, "body_mass_g": 3625.0, "sex": "female"},
    {"island": "Dream", "bill_length_mm": 49.7, "bill_depth_mm": 18.6, "flipper_length_mm": 195.0, "body_mass_g": 3600.0, "sex": "male"},
    {"island": "Dream", "bill_length_mm": None, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0, "body_mass_g": None, "sex": None},
]


def step(message: str) -> None:
    print(f"\n== {message}", flush=True)


def run_dag(dag_id: str, logical_date: str, logs: Path, root: str, pipeline: str, conf: dict | None = None,
            steps: tuple[str, ...] | None = None) -> dict[str, dict] | None:
    """One DAG run; prints its summary and returns each step's execution record."""
    import json

    from airflow_mlops.provider.operators.component import safe_segment

    log = logs / f"{dag_id}-{safe_segment(logical_date)}.log"
    extra = f" -c '{json.dumps(conf)}'" if conf else ""
    step(f"airflow dags test {dag_id} {logical_date}{extra}   (full log: {log.relative_to(REPO)})")
    run_id, state, seconds = dag_test(dag_id, logical_date, log, live=LIVE, conf=conf)
    print(f"   finished in {seconds:.0f} s: {state}")
    if run_id is None or state != "success":
        return None
    print(f"\n   {'step':<14} {'state':<9} {'time':>6}  {'cache':<5}  figures")
    records = {}
    for run in step_runs(dag_id, run_id, root, pipeline, **({"steps": steps} if steps else {})):
        seconds = f"{run.task_seconds:.1f}s" if run.task_seconds is not None else "-"
        print(f"   {run.task_id:<14} {run.state or '-':<9} {seconds:>6}  {run.cache:<5}  {figures(run.task_id, run.record)}")
        if run.record:
            records[run.task_id] = run.record
    return records


def figures(task_id: str, record: dict | None) -> str:
    if record is None:
        return ""
    m, outputs = record["metrics"], record["outputs"]
    if task_id == "ingest":
        return f"{m['rows']} rows (train {m['rows_train']}, eval {m['rows_eval']}, test {m['rows_test']})"
    if task_id == "validate":
        return f"verdict {m['verdict']}, {m['anomalies']} anomalies, {m['drifted_columns']} drifted columns"
    if task_id == "transform":
        return f"{m['features']} features" + (f", {m['classes']} classes" if "classes" in m else "")
    if task_id == "train":
        metric = "accuracy" if "accuracy" in m else "mae"
        return (f"{m['epochs_run']} epochs ({outputs['model']['properties'].get('module', 'built-in')}), {metric} {m[metric]:.3f}, "
                f"eval {metric} {m.get('val_' + metric, float('nan')):.3f}")
    if task_id == "evaluate":
        blessing = outputs["blessing"]["properties"]
        task = outputs["evaluation"]["properties"].get("task", "classification")
        names = ("rmse", "mae", "r2") if task == "regression" else ("accuracy", "log_loss", "auc")
        shown = ", ".join(f"{n} {m[n]:.3f}" + (f" (champion {m['champion_' + n]:.3f})" if m.get(f"champion_{n}") is not None else "")
                          for n in names if m.get(n) is not None)
        champion = "" if m.get(f"champion_{names[0]}") is not None else "; no champion yet"
        return f"test {shown}{champion}; {'BLESSED' if blessing['blessed'] else 'not blessed: ' + '; '.join(blessing['reasons'])}"
    if task_id == "register":
        return f"version {m['version']}" + (" (already registered)" if m["already_registered"] else " (new)")
    if task_id == "infra_validate":
        if m.get("reused"):
            return f"already validated with this serving code: reused (p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms)"
        return f"a real server answered test rows: p50 {m['p50_ms']:.1f} ms, p95 {m['p95_ms']:.1f} ms (ready in {m['startup_seconds']:.1f} s)"
    if task_id == "deploy":
        return f"{m['action']}: champion {m['champion']}, canary {m['canary'] or 'none'}"
    if task_id == "canary_analysis":
        return f"{m['decision']}: " + outputs["canary_report"]["properties"]["reason"][:140]
    return ""


def serving(*args: str) -> int:
    return subprocess.call([RUNTIME_PYTHON, "-m", "airflow_mlops.runtime.serving", *args, "--pipeline", str(CONFIG)])


def send(url: str, rows: list[dict], show: bool = True) -> list[dict]:
    code, answers = http_post_json(url + "/predict", {"instances": rows})
    if code != 200:
        raise RuntimeError(f"POST /predict answered {code}: {answers}")
    if show:
        for row, answer in zip(rows, answers):
            shown = ", ".join(f"{k} {v}" for k, v in list(row.items())[:3])
            if "probabilities" in answer:
                outcome = f"{answer['prediction']:<9} ({answer['probabilities'][answer['prediction']]:.2f})"
            else:
                outcome = f"{answer['prediction']:8.1f}"
            print(f"   {shown:<52} -> {outcome}  model version {answer['model_version']} ({answer['model_role']})")
    return answers


def test_rows(examples_uri: str, label: str, n: int = 4) -> list[dict]:
    """``n`` rows of the test split without the label (read in the runtime environment)."""
    import json

    code = (
        "import json, sys, pandas as pd\n"
        "from airflow_mlops.artifacts import ArtifactStore\n"
        "with ArtifactStore().open(sys.argv[1] + '/test.parquet') as f: frame = pd.read_parquet(f)\n"
        "rows = frame.drop(columns=[sys.argv[2]]).head(int(sys.argv[3]))\n"
        "print(json.dumps([{k: (None if v != v else v) for k, v in r.items()} for r in rows.to_dict('records')]))\n"
    )
    out = subprocess.run([RUNTIME_PYTHON, "-c", code, examples_uri, label, str(n)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main() -> int:
    from airflow_mlops.contract.config import load_pipeline_config
    from airflow_mlops.provider.factory.training import resolve_artifact_root, resolve_tracking_uri

    config = load_pipeline_config(CONFIG)
    root = resolve_artifact_root(config)
    logs = REPO / ".mlops" / "demo"
    logs.mkdir(parents=True, exist_ok=True)

    step(f"Airflow home {os.environ['AIRFLOW_HOME']} (SQLite): migrate, create the `gpu` pool")
    if not prepare_airflow():
        return 1

    now = datetime.now(UTC).replace(microsecond=0)
    first = run_dag(DAG_ID, (now - timedelta(minutes=2)).isoformat(), logs, root, config.name)
    if not first:
        return 1

    serving_config = config.deployment.serving
    url = f"http://{serving_config.host}:{serving_config.port}"
    step(f"make serve: the prediction server (BentoML) on {url}")
    if serving("start") != 0:
        return 1
    samples = PENGUIN_SAMPLES if config.name == "penguin" else test_rows(first["ingest"]["outputs"]["examples"]["uri"], config.label)
    step(f"curl -X POST {url}/predict -H 'Content-Type: application/json' -d '{{\"instances\": [...]}}'")
    send(url, samples)

    # Another model than any before: 10 more epochs per champion version, so that a demo run on an
    # earlier demo's state (champion 2, say) trains a model of its own (40 epochs) and rolls it out.
    champion = str(first.get("deploy", {}).get("metrics", {}).get("champion") or "1")
    epochs = config.training.epochs + 10 * (int(champion) if champion.isdigit() else 1)
    second = run_dag(DAG_ID, (now - timedelta(minutes=1)).isoformat(), logs, root, config.name, conf={"epochs": epochs})
    if not second:
        return 1
    deployed = second.get("deploy", {}).get("metrics", {})
    if deployed.get("action") == "canary":
        wait = serving_config.poll_seconds + 2
        step(f"canary: version {deployed['canary']} answers {config.deployment.canary.weight:.0%} of requests "
             f"(the server notices within {serving_config.poll_seconds:.0f} s); 300 requests")
        time.sleep(wait)
        counts = Counter()
        for i in range(300):
            answer = send(url, [samples[i % len(samples)]], show=False)[0]
            counts[f"version {answer['model_version']} ({answer['model_role']})"] += 1
        for who, n in sorted(counts.items()):
            print(f"   {who:<26} {n:>4} answers")
        promotion = f"{config.name}_promotion"
        if not (Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{promotion}.py").exists():
            print(f"\n   no dags/{promotion}.py: the canary runs until you add it (promotion_dag, see the README tutorial)")
        else:
            decision = run_dag(promotion, now.isoformat(), logs, root, config.name, conf={"force": True},
                               steps=("canary_analysis",))
            if not decision:
                return 1
            time.sleep(wait)
            step("after the decision, the same rows")
            send(url, samples)
    else:
        print(f"\n   no canary this time ({deployed.get('action', 'not deployed')}); `make clean && make demo` starts afresh")

    step("Where to look")
    outputs = {step_id: record["outputs"] for step_id, record in {**first, **second}.items()}
    for label, uri in (
        ("validation report", outputs["validate"]["anomalies"]["properties"]["report"]),
        ("training curves", outputs["train"]["model"]["uri"] + "/training_curves.png"),
        ("evaluation report", outputs["evaluate"]["evaluation"]["properties"]["report"]),
    ):
        print(f"   {label:<18} {uri}")
    print(f"   {'artifacts':<18} {root}/{config.name}/")
    print(f"   {'MLflow registry':<18} {resolve_tracking_uri(config)}  (model '{config.model_name}')")
    print(f"   {'prediction log':<18} {root}/{config.name}/predictions/")
    print(f"   {'deployment record':<18} {root}/{config.name}/deployment/record.json   (make status)")
    print(f"\n   The server is still running on {url}: make rollback moves champion back, make stop stops it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
