"""The kill drill's invariants (`make drill`, scripts/drill.py), as functions of plain data.

Each check takes what the drill read back (the landing claim state, Airflow's asset events, the
execution records, the registry's versions and aliases, the deployment record, the prediction
log and what the client saw) and returns a :class:`Check`: its name, whether it holds, and the
figures or the violations. No I/O here, so tests/test_drill_checks.py can feed broken states.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'}  {self.name}: {self.detail}"


def _few(items: Iterable, n: int = 4) -> str:
    items = list(items)
    return ", ".join(map(str, items[:n])) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def check_batches(landed: Sequence[str], state: Mapping, arrival_runs: Mapping[str, str]) -> Check:
    """Every landed file is claimed in exactly one batch, each batch by its own data-arrival run,
    and that run succeeded (ingested and announced it).

    :param landed: URIs of the files put into the landing directory.
    :param state: the claim state file (``{"claimed": {uri: at}, "batches": [{"objects", "run_id"}]}``).
    :param arrival_runs: ``{run_id: state}`` of the data-arrival DAG."""
    claims = Counter(uri for batch in state.get("batches", []) for uri in batch.get("objects", []))
    lost = [u for u in landed if claims[u] == 0 or u not in state.get("claimed", {})]
    twice = [u for u, n in claims.items() if n > 1]
    run_ids = [b.get("run_id") for b in state.get("batches", [])]
    shared = [r for r, n in Counter(run_ids).items() if n > 1]
    failed = [r for r in run_ids if arrival_runs.get(r) != "success"]
    problems = []
    if lost:
        problems.append(f"never claimed: {_few(lost)}")
    if twice:
        problems.append(f"claimed more than once: {_few(twice)}")
    if shared:
        problems.append(f"runs that claimed two batches: {_few(shared)}")
    if failed:
        problems.append(f"batches whose run did not succeed: {_few(f'{r} ({arrival_runs.get(r)})' for r in failed)}")
    return Check("no new-data batch lost or handed out twice", not problems, "; ".join(problems) or
                 f"{len(landed)} files landed, {len(run_ids)} batches, every file claimed once by one successful run")


def check_retraining(events: Sequence[Mapping], consumed: Sequence[tuple[str, int]]) -> Check:
    """Each trigger (an event of the new-examples or retrain Asset) started exactly one training
    run: none was consumed twice (a duplicate retraining), none never (a lost one).

    :param events: ``[{"id", "source_run_id"}]``, the Asset events training is scheduled on.
    :param consumed: ``[(training run id, event id)]`` (Airflow's ``dagrun_asset_event``)."""
    per_event = Counter(event_id for _, event_id in consumed)
    twice = [e["id"] for e in events if per_event[e["id"]] > 1]
    never = [e["id"] for e in events if per_event[e["id"]] == 0]
    runs = sorted({run for run, _ in consumed})
    problems = []
    if twice:
        problems.append(f"events consumed by more than one training run: {_few(twice)}")
    if never:
        problems.append(f"events that started no training run: {_few(never)}")
    return Check("one retraining per trigger", not problems, "; ".join(problems) or
                 f"{len(events)} trigger events, {len(runs)} asset-triggered training runs, each event consumed once")


def check_artifacts(records: Sequence[Mapping], complete: set[str], exists: Mapping[str, bool]) -> Check:
    """No execution record (nor registered version) consumed an artifact that no finished
    execution produced, and every output a record names exists.

    :param records: ``[{"where": str, "inputs": [uri], "outputs": [uri]}]`` - every execution
        record and invocation result, and each registered version (its ``model_uri``) as inputs.
    :param complete: output URIs of finished executions (records and invocation results).
    :param exists: ``{uri: exists and is not empty}`` for every output named."""
    partial = [(r["where"], u) for r in records for u in r["inputs"] if u not in complete]
    missing = [u for r in records for u in r["outputs"] if not exists.get(u, False)]
    problems = []
    if partial:
        problems.append(f"inputs no finished execution produced: {_few(f'{w} <- {u}' for w, u in partial)}")
    if missing:
        problems.append(f"recorded outputs missing or empty: {_few(missing)}")
    inputs = sum(len(r["inputs"]) for r in records)
    return Check("no partial artifact consumed", not problems, "; ".join(problems) or
                 f"{len(records)} records/versions, {inputs} inputs, all produced by finished executions")


def check_registrations(versions: Sequence[Mapping]) -> Check:
    """No model is registered twice: the model fingerprint is unique among live versions.

    :param versions: ``[{"version", "fingerprint"}]``."""
    counts = Counter(v["fingerprint"] for v in versions)
    twice = {fp: sorted((v["version"] for v in versions if v["fingerprint"] == fp), key=int)
             for fp, n in counts.items() if n > 1}
    return Check("no second registration of the same model", not twice,
                 "; ".join(f"fingerprint {fp[:12]} is versions {', '.join(vs)}" for fp, vs in twice.items())
                 or f"{len(versions)} versions, {len(counts)} distinct models")


def replay(history: Sequence[Mapping]) -> tuple[str | None, str | None]:
    """(champion, canary) after the deployment record's decisions, in order."""
    champion = canary = None
    for d in history:
        action, version = d.get("action"), str(d.get("version"))
        if action in ("bootstrap", "promote", "rollback"):
            champion, canary = version, None
        elif action == "canary":
            canary = version
        elif action == "reject":
            canary = None
    return champion, canary


def check_aliases(versions: Sequence[str], aliases: Mapping[str, str], record: Mapping) -> Check:
    """The champion is a registered version, the challenger is another one, and the deployment
    record (its champion, its canary, its history replayed) says the same as the aliases."""
    champion, challenger = aliases.get("champion"), aliases.get("challenger")
    canary = (record.get("canary") or {}).get("version")
    replayed = replay(record.get("history") or [])
    problems = []
    if champion is None:
        problems.append("no champion")
    for alias, version in aliases.items():
        if version not in versions:
            problems.append(f"{alias} -> version {version}, which is not registered")
    if challenger is not None and challenger == champion:
        problems.append(f"challenger = champion = {champion}")
    if record.get("champion") != champion:
        problems.append(f"the record's champion is {record.get('champion')}, the alias {champion}")
    if canary is not None and canary != challenger:
        problems.append(f"the record's canary is {canary}, the challenger alias {challenger}")
    if replayed != (champion, canary):
        problems.append(f"the history replayed gives champion {replayed[0]}, canary {replayed[1]}; "
                        f"aliases/record say {champion}, {canary}")
    return Check("registry aliases consistent", not problems, "; ".join(problems) or
                 f"champion v{champion}, challenger {('v' + challenger) if challenger else 'none'}, "
                 f"canary {('v' + canary) if canary else 'none'}, {len(record.get('history') or [])} decisions agree")


@dataclass(frozen=True)
class Sent:
    """One request of the drill's client: ``answered`` (an answer came back, at ``at``),
    ``refused`` (the server was down: it never got it), ``no_answer`` (sent, then the connection
    broke: in flight when the server died) or ``timeout`` (the client gave up waiting; the
    server may still have answered and logged it - a restarting server accepts connections
    before its model is loaded)."""

    request_id: str
    outcome: str
    at: datetime
    sent_at: datetime | None = None  # when it was sent (``at`` is when the answer, or the error, came)


def check_prediction_log(sent: Sequence[Sent], logged: Sequence[str], kills: Sequence[datetime]) -> Check:
    """Logged rows = served rows: every answered request is in the log, also one answered just
    before the server was killed (the log's journal keeps what was accepted; the restarted server
    writes it). A request in flight when the server was killed may get no answer, logged or not.
    Nothing is logged twice and nothing is logged that was not sent.

    :param sent: every request of the client.
    :param logged: the request ids in the prediction log (one per row).
    :param kills: when the server was killed."""
    counts = Counter(logged)
    twice = [r for r, n in counts.items() if n > 1]
    by_id = {s.request_id: s for s in sent}
    phantom = [r for r in counts if r not in by_id]
    answered = [s for s in sent if s.outcome == "answered"]
    lost = [s.request_id for s in answered if s.request_id not in counts]

    def in_flight(s: Sent) -> bool:  # sent before a kill and not answered before it
        return any((s.sent_at or s.at) <= k + timedelta(seconds=1) and s.at >= k for k in kills)

    no_answer = [s for s in sent if s.outcome == "no_answer"]
    stray = [s.request_id for s in no_answer if not in_flight(s) and s.request_id in counts]
    refused = sum(s.outcome == "refused" for s in sent)
    timeouts = [s for s in sent if s.outcome == "timeout"]
    answered_before_kill = sum(1 for s in answered for k in kills if k - timedelta(seconds=3) <= s.at <= k)
    problems = []
    if twice:
        problems.append(f"logged more than once: {_few(twice)}")
    if phantom:
        problems.append(f"logged but never sent: {_few(phantom)}")
    if lost:
        problems.append(f"answered but not logged: {_few(lost)}")
    if stray:
        problems.append(f"logged without an answer, away from any server kill: {_few(stray)}")
    return Check("logged rows = served rows", not problems, "; ".join(problems) or
                 f"{len(answered)} answered, all logged ({answered_before_kill} of them in the 3 s before a server kill); "
                 f"{len(counts)} rows logged; at the {len(kills)} server kill(s): {len(no_answer)} requests in flight "
                 f"got no answer ({sum(s.request_id in counts for s in no_answer)} of them logged); {refused} refused while "
                 f"the server was down; {len(timeouts)} timed out at the client "
                 f"({sum(s.request_id in counts for s in timeouts)} of them served and logged)")


def check_runs(runs: Mapping[str, Sequence[Mapping]]) -> Check:
    """Every run recovered from the kills: each ended in success, or is the data-arrival run
    still waiting for the next batch (``running``).

    :param runs: ``{dag_id: [{"run_id", "state"}]}``."""
    bad = [f"{dag} {r['run_id']} {r['state']}" for dag, rs in runs.items() for r in rs
           if r["state"] != "success" and not (dag.endswith("_data_arrival") and r["state"] == "running")]
    total = sum(len(rs) for rs in runs.values())
    return Check("every run recovered", not bad, f"did not succeed: {_few(bad)}" if bad else
                 f"{total} runs: " + ", ".join(f"{dag} {len(rs)}" for dag, rs in runs.items()) + ", all succeeded (or waiting)")
