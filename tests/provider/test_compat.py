"""The compat module: one behaviour on every supported Airflow (3.1.8 to 3.3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import airflow

from airflow_mlops.provider import compat

T1, T2, T3 = (datetime(2026, 1, day, tzinfo=UTC) for day in (1, 2, 3))


class Asset:
    uri = "mlops://penguin/retrain"


class LazyEvents:
    """The shape of Airflow >= 3.2's inlet-events accessor: a query narrowed by ascending()/limit()."""

    def __init__(self, events: list) -> None:
        self.events, self.order, self.count = events, True, None

    def ascending(self, ascending: bool = True) -> LazyEvents:
        self.order = ascending
        return self

    def limit(self, count: int) -> LazyEvents:
        self.count = count
        return self

    def __iter__(self):
        ordered = sorted(self.events, key=lambda e: e.timestamp, reverse=not self.order)
        return iter(ordered[: self.count])


def events(*stamps: datetime) -> list[SimpleNamespace]:
    return [SimpleNamespace(timestamp=t) for t in stamps]


def test_latest_inlet_event_from_a_list_of_events_as_airflow_3_1_gives_them(caplog):
    asset = Asset()
    with caplog.at_level("INFO", logger=compat.__name__):
        assert compat.latest_inlet_event({asset: events(T1, T3, T2)}, asset).timestamp == T3
    assert f"Airflow {airflow.__version__} gives all 3 events of mlops://penguin/retrain" in caplog.text
    assert compat.latest_inlet_event({asset: []}, asset) is None


def test_latest_inlet_event_asks_the_lazy_accessor_for_one_event():
    asset = object()
    accessor = LazyEvents(events(T2, T1, T3))
    assert compat.latest_inlet_event({asset: accessor}, asset).timestamp == T3
    assert (accessor.order, accessor.count) == (False, 1)
    assert compat.latest_inlet_event({asset: LazyEvents([])}, asset) is None


def test_the_version_flag_follows_the_installed_airflow():
    major, minor = (int(p) for p in airflow.__version__.split(".")[:2])
    assert compat.AIRFLOW_V_3_2_PLUS is ((major, minor) >= (3, 2))
    assert compat.DECLARATIVE_CONNECTION_FORMS is compat.AIRFLOW_V_3_2_PLUS


def test_conf_reads_the_airflow_configuration(monkeypatch):
    monkeypatch.setenv("AIRFLOW__MLOPS__ARTIFACT_ROOT", "gs://compat-test/root")
    assert compat.conf.get("mlops", "artifact_root", fallback=None) == "gs://compat-test/root"
    assert compat.conf.get("mlops", "no_such_option", fallback="x") == "x"


def test_the_exceptions_are_airflows_task_exceptions():
    assert issubclass(compat.AirflowSkipException, compat.AirflowException)
    assert issubclass(compat.AirflowFailException, compat.AirflowException)
    assert issubclass(compat.AirflowNotFoundException, compat.AirflowException)
    module = "airflow.sdk.exceptions" if compat.AIRFLOW_V_3_2_PLUS else "airflow.exceptions"
    for exc in (compat.AirflowSkipException, compat.AirflowFailException, compat.TaskDeferred):
        assert exc.__module__ == module, exc


def test_what_differs_between_airflow_versions_is_imported_from_compat_only():
    """conf, the task exceptions and DagBag moved in Airflow 3.2; importing them from their 3.2 place
    anywhere but compat.py (or a fallback) would break the control plane on 3.1."""
    moved = re.compile(r"^\s*(from airflow\.sdk\.exceptions import|from airflow\.sdk import [^\n]*\bconf\b)", re.M)
    repo = Path(__file__).resolve().parents[2]
    files = [*(repo / "airflow_mlops").rglob("*.py"), *(repo / "dags").rglob("*.py"), *(repo / "tests").rglob("*.py")]
    offenders = [
        str(f.relative_to(repo)) for f in files
        if "runtime" not in f.relative_to(repo).parts[:2] and f.name != "compat.py" and moved.search(f.read_text())
    ]
    assert offenders == []
