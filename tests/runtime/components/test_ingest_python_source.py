"""ingest from ``python://<module>:<function>?key=value``: alone, with scikit-learn's datasets, in a
list with files, its cache fingerprint, and every way it can be wrong."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid

import pandas as pd
import pytest
from component_cli import make_spec, run_cli

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ERROR_FILE, EXIT_REJECTED, ComponentError, ErrorKind, join_uri
from airflow_mlops.runtime.components.ingest import COMPONENT, parse_python_source, source_fingerprint
from airflow_mlops.runtime.components.runner import run_component

SPLIT = {"train": 0.7, "eval": 0.15, "test": 0.15}
DIABETES = "python://sklearn.datasets:load_diabetes?as_frame=true&scaled=false"

MODULE = '''
import pandas as pd

ROWS = 40
NOT_CALLABLE = 3


def frame(rows=None, offset=0):
    n = ROWS if rows is None else rows
    return pd.DataFrame({
        "species": ["Adelie" if i % 2 else "Gentoo" for i in range(n)],
        "bill_length_mm": [30.0 + i + offset for i in range(n)],
    })


def head(path, n):
    return pd.read_csv(path).head(n)


def empty():
    return pd.DataFrame()


def no_rows():
    return pd.DataFrame({"species": []})


def not_a_frame():
    return [1, 2, 3]


def broken():
    raise RuntimeError("the warehouse is closed")


def offline():
    raise ConnectionError("could not reach the download server")
'''


@pytest.fixture
def module(tmp_path, monkeypatch):
    """The name of a fresh module of data functions, importable from a temporary directory."""
    name = f"ingest_source_{uuid.uuid4().hex[:8]}"
    (tmp_path / "modules").mkdir()
    (tmp_path / "modules" / f"{name}.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    yield name
    sys.modules.pop(name, None)


def params(source, label: str = "species") -> dict:
    return {"source": source, "label": label, "split": SPLIT, "format": "auto"}


def read_splits(record) -> pd.DataFrame:
    examples = record.outputs["examples"]
    frames = []
    for split in SPLIT:
        with ArtifactStore().open(f"{examples.uri}/{split}.parquet") as f:
            frames.append(pd.read_parquet(f))
    return pd.concat(frames, ignore_index=True)


def test_a_function_returning_a_dataframe(artifact_root, module):
    source = f"python://{module}:frame"
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, params(source)))
    assert record.metrics["rows"] == 40
    properties = record.outputs["examples"].properties
    assert properties["files"] == [source] and properties["source"] == source
    assert sum(properties["splits"].values()) == 40
    data = read_splits(record).sort_values("bill_length_mm").reset_index(drop=True)
    expected = importlib.import_module(module).frame()
    pd.testing.assert_frame_equal(data, expected)


def test_query_values_are_read_as_yaml():
    module, function, kwargs = parse_python_source(
        "python://pkg.sub:load?as_frame=true&scaled=false&n=3&ratio=0.5&name=abc&path=/d/x.csv&nothing=&s=%27007%27")
    assert (module, function) == ("pkg.sub", "load")
    assert kwargs == {"as_frame": True, "scaled": False, "n": 3, "ratio": 0.5, "name": "abc", "path": "/d/x.csv",
                      "nothing": None, "s": "007"}
    assert parse_python_source("python://m:f") == ("m", "f", {})


def test_query_arguments_reach_the_function(artifact_root, module):
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, params(f"python://{module}:frame?rows=7&offset=100")))
    assert record.metrics["rows"] == 7
    assert read_splits(record)["bill_length_mm"].min() == 130.0


def test_scikit_learn_diabetes_bunch(artifact_root):
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, params(DIABETES, label="target")))
    assert record.metrics["rows"] == 442
    columns = record.outputs["examples"].properties["columns"]
    assert list(columns) == ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"]
    data = read_splits(record)
    assert len(data) == 442 and "target" in data.columns
    assert set(data["sex"]) == {1.0, 2.0}  # scaled=false reached the function: the raw values


def test_in_a_list_with_a_csv_file_and_a_landing_directory(artifact_root, module, penguins_csv, tmp_path):
    python_source = f"python://{module}:head?path={penguins_csv}&n=10"
    source = [str(penguins_csv), python_source, f"file://{tmp_path}/landing"]  # no landing directory yet: skipped
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, params(source)))
    assert record.metrics["rows"] == 354
    assert record.outputs["examples"].properties["files"] == sorted([f"file://{penguins_csv}", python_source])


def test_the_fingerprint_follows_the_functions_data(artifact_root, module, penguins_csv):
    source = [str(penguins_csv), f"python://{module}:frame"]
    spec = make_spec("ingest", artifact_root, params(source))
    first = source_fingerprint(spec)
    assert source_fingerprint(spec) == first
    assert run_component(COMPONENT, make_spec("ingest", artifact_root, params(source), name="a")).metrics["rows"] == 384
    again = run_component(COMPONENT, make_spec("ingest", artifact_root, params(source), name="b"))
    assert again.cache_hit

    importlib.import_module(module).ROWS = 41  # the function's data changed
    assert source_fingerprint(spec) != first
    changed = run_component(COMPONENT, make_spec("ingest", artifact_root, params(source), name="c"))
    assert not changed.cache_hit and changed.metrics["rows"] == 385

    importlib.import_module(module).ROWS = 40
    assert source_fingerprint(spec) == first


def test_the_fingerprint_sees_values_column_names_and_dtypes(artifact_root, module):
    def fingerprint(query: str) -> str:
        return source_fingerprint(make_spec("ingest", artifact_root, params(f"python://{module}:frame{query}")))

    mod = importlib.import_module(module)
    base = fingerprint("")
    assert fingerprint("?offset=1") != base
    original = mod.frame
    mod.frame = lambda: original().rename(columns={"bill_length_mm": "bill_mm"})
    assert fingerprint("") != base
    mod.frame = lambda: original().astype({"bill_length_mm": "float32"})
    assert fingerprint("") != base
    mod.frame = original
    assert fingerprint("") == base


def _error(artifact_root, source) -> ComponentError:
    with pytest.raises(ComponentError) as err:
        run_component(COMPONENT, make_spec("ingest", artifact_root, params(source)))
    return err.value


@pytest.mark.parametrize(
    "function, kind, expected",
    [
        ("missing", ErrorKind.CONFIG, "has no function 'missing'"),
        ("NOT_CALLABLE", ErrorKind.CONFIG, "NOT_CALLABLE is not callable"),
        ("frame?colour=blue", ErrorKind.CONFIG, "does not take these arguments"),
        ("broken", ErrorKind.DATA, "the function raised RuntimeError: the warehouse is closed"),
        ("offline", ErrorKind.INFRASTRUCTURE, "could not reach its data: ConnectionError: could not reach the download server"),
        ("not_a_frame", ErrorKind.DATA, "returned a list, not a pandas DataFrame"),
        ("empty", ErrorKind.DATA, "returned an empty DataFrame"),
        ("no_rows", ErrorKind.DATA, "returned an empty DataFrame (0 rows, 1 columns)"),
    ],
)
def test_function_problems(artifact_root, module, function, kind, expected):
    source = f"python://{module}:{function}"
    error = _error(artifact_root, source)
    assert error.kind is kind, error
    assert f"source {source}: " in str(error) and expected in str(error)


def test_a_module_that_cannot_be_imported_is_a_config_error(artifact_root):
    error = _error(artifact_root, "python://no_such_module_here.sub:load")
    assert error.kind is ErrorKind.CONFIG
    assert "python://no_such_module_here.sub:load" in str(error)
    assert "module 'no_such_module_here.sub' cannot be imported" in str(error)


def test_a_module_failing_as_it_is_imported_is_a_config_error(artifact_root, tmp_path, monkeypatch):
    name = f"ingest_failing_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text("raise ValueError('no credentials')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    error = _error(artifact_root, f"python://{name}:load")
    assert error.kind is ErrorKind.CONFIG
    assert f"module {name!r} cannot be imported" in str(error) and "no credentials" in str(error)


@pytest.mark.parametrize(
    "source",
    [
        "python://sklearn.datasets",
        "python://sklearn.datasets:",
        "python://:load_diabetes",
        "python://sklearn datasets:load_diabetes",
        "python://sklearn.datasets:load-diabetes",
        "python://sklearn..datasets:load_diabetes",
        "python://sklearn.datasets:load_diabetes?as_frame",
        "python://sklearn.datasets:load_diabetes?as_frame=true&as_frame=false",
        "python://sklearn.datasets:load_diabetes?2x=1",
        "python://sklearn.datasets:load_diabetes?x=[1,",
    ],
)
def test_bad_syntax_is_a_config_error(artifact_root, source):
    error = _error(artifact_root, source)
    assert error.kind is ErrorKind.CONFIG, error
    assert f"source {source}: " in str(error)


@pytest.mark.parametrize(
    "function, kind",
    [("missing", ErrorKind.CONFIG), ("broken", ErrorKind.DATA), ("empty", ErrorKind.DATA)],
)
def test_in_a_list_a_bad_python_source_is_not_skipped(artifact_root, module, penguins_csv, function, kind):
    source = f"python://{module}:{function}"
    error = _error(artifact_root, [str(penguins_csv), source])
    assert error.kind is kind and source in str(error)


def test_through_the_cli_a_bunch_without_a_frame_is_rejected(artifact_root):
    source = "python://sklearn.datasets:load_diabetes"  # as_frame defaults to false: .frame is None
    result = run_cli(make_spec("ingest", artifact_root, params(source, label="target")))
    assert result.returncode == EXIT_REJECTED, result.stdout + result.stderr
    report = ArtifactStore().read_json(join_uri(artifact_root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert report["kind"] == "data"
    assert f"source {source}: the function returned a Bunch" in report["message"]
    assert "as_frame=true" in report["message"]
    assert "Traceback" not in result.stderr
