"""check_batch and predict_batch: the champion predicts a file of rows, streamed, and bad rows stop
the batch before anything is predicted or logged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pipeline_helpers import FEATURES, LABEL, Pipeline, own_first_run, own_pipeline  # noqa: F401 - fixtures

from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.layout import predictions_uri


def batch_params(source: str, **extra) -> dict:
    return {"source": source, "features": FEATURES, "label": LABEL, **extra}


def check(pipeline: Pipeline, source: str, **extra):
    return pipeline.run("check_batch", batch_params(source, **extra))


def predict(pipeline: Pipeline, checked, **params):
    return pipeline.run("predict_batch", params, {"batch": checked.outputs["batch"]})


def logged(pipeline: Pipeline) -> pd.DataFrame:
    from airflow_mlops.runtime.predictions.reader import read_prediction_frame

    frame = read_prediction_frame(predictions_uri(pipeline.root, "penguin"), FEATURES, columns={"model_role": "categorical"})
    return frame[frame["model_role"] == "batch"] if len(frame) else frame


@pytest.fixture(scope="module")
def rows(penguins_csv) -> pd.DataFrame:
    """The penguins without their label, with an id column, as a batch would come."""
    frame = pd.read_csv(penguins_csv).drop(columns=[LABEL])
    return frame.assign(penguin_id=[f"p{i:04d}" for i in range(len(frame))])


def write(tmp_path: Path, name: str, frame: pd.DataFrame) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return str(path)


def test_the_champion_predicts_every_row_as_the_server_would(pipeline, first_run, rows, tmp_path):
    import pyarrow.parquet as pq

    from airflow_mlops.runtime.components.predict_batch import load_version

    # two files of two formats under one prefix: one batch
    write(tmp_path, "in/a.csv", rows.iloc[:200])
    write(tmp_path, "in/b.parquet", rows.iloc[200:])
    checked = check(pipeline, str(tmp_path / "in"), keep_columns=["penguin_id"], request_id_column="penguin_id")
    props = checked.outputs["batch"].properties
    assert props["rows"] == len(rows) and props["model_version"] == "1" and len(props["files"]) == 2
    destination = tmp_path / "scored"
    predicted = predict(pipeline, checked, batch_size=64, destination=str(destination))

    out = pq.read_table(destination / "predictions.parquet").to_pandas()
    assert (destination / "_SUCCESS").exists()
    assert list(out["penguin_id"]) == list(rows["penguin_id"]) and list(out["request_id"]) == list(rows["penguin_id"])
    assert set(out["model_version"]) == {"1"}
    assert predicted.outputs["predictions"].properties["rows"] == len(rows)

    # the server's path: rows as dicts through LoadedModel.answers, the same version
    class Ctx:
        spec = pipeline.spec("predict_batch", {})

    served = load_version(Ctx, "1", "classification", str(tmp_path / "models")).answers(
        [{k: (None if pd.isna(v) else v) for k, v in r.items() if k in FEATURES} for r in rows.to_dict("records")])
    assert list(out["prediction"]) == [a["prediction"] for a in served]
    for cls in served[0]["probabilities"]:
        assert max(abs(out[f"probability_{cls}"] - [a["probabilities"][cls] for a in served])) < 1e-6

    log = logged(pipeline)
    assert len(log) == len(rows) and set(log["request_id"]) == set(rows["penguin_id"])
    first = log.set_index("request_id").loc["p0000"]
    assert first["island"] == rows.loc[0, "island"] and first["bill_length_mm"] == pytest.approx(rows.loc[0, "bill_length_mm"])
    assert first["prediction"] == out.loc[0, "prediction"]


def test_kept_columns_stay_as_written_and_a_numeric_id_becomes_the_request_id(pipeline, first_run, rows, tmp_path):
    import pyarrow.parquet as pq

    frame = rows.dropna().iloc[:30].assign(code=[f"{i:03d}" for i in range(30)], number=range(1000, 1030))
    checked = check(pipeline, write(tmp_path, "ids.csv", frame), keep_columns=["code", "island"], request_id_column="number")
    predicted = predict(pipeline, checked, log_predictions=False)
    out = pq.read_table(f"{predicted.outputs['predictions'].uri.removeprefix('file://')}/predictions.parquet").to_pandas()
    assert list(out["code"]) == [f"{i:03d}" for i in range(30)]  # 007 stays 007
    assert list(out["island"]) == list(frame["island"])  # a feature kept too
    assert list(out["request_id"]) == [str(n) for n in range(1000, 1030)]


def test_integer_coded_categories_are_kept_as_the_schema_types_them():
    import pandas as pd
    import pyarrow as pa

    from airflow_mlops.runtime.components.predict_batch import model_inputs
    from airflow_mlops.runtime.ml.batch_input import conform

    frame = pd.DataFrame({"zone": [3, None, 12], "kind": [1.0, 2.0, None], "x": [0.5, 1, None]})
    features = {"zone": "categorical", "kind": "categorical", "x": "numeric"}
    table = conform(frame, "f.csv", features, [], int_categories=["zone", "kind"])
    assert table.column("zone").type == pa.int64() and table.column("zone").to_pylist() == [3, None, 12]
    assert table.column("kind").to_pylist() == [1, 2, None]
    assert conform(frame.assign(zone=["3", "north", None]), "f.csv", features, [], ["zone"]).column("zone").type == pa.string()
    inputs = model_inputs(table.to_batches()[0], features)
    assert inputs["zone"].ravel().tolist() == ["3", "", "12"] and inputs["kind"].ravel().tolist() == ["1", "2", ""]


def test_the_window_size_does_not_change_the_answers(pipeline, first_run, rows, tmp_path):
    import pyarrow.parquet as pq

    checked = check(pipeline, write(tmp_path, "b.csv", rows.iloc[:120]))
    small = predict(pipeline, checked, batch_size=7, log_predictions=False)
    large = predict(pipeline, checked, batch_size=8192, log_predictions=False)
    a, b = (pq.read_table(f"{r.outputs['predictions'].uri.removeprefix('file://')}/predictions.parquet").to_pandas()
            for r in (small, large))
    assert list(a["prediction"]) == list(b["prediction"]) and a["request_id"].is_unique
    assert max(abs(a["probability_Adelie"] - b["probability_Adelie"])) < 1e-6
    # same input, same champion: a cache hit, nothing read again
    assert check(pipeline, str(tmp_path / "b.csv")).cache_hit


@pytest.mark.parametrize(
    "corrupt, expected",
    [
        (lambda f: f.assign(body_mass_g=f["body_mass_g"].where(f.index % 10 != 0, -4200.0)), "body_mass_g"),
        (lambda f: f.drop(columns=["flipper_length_mm"]), "no column(s) flipper_length_mm"),
        (lambda f: f.assign(bill_depth_mm=f["bill_depth_mm"].astype(object).where(f.index != 3, "18,4 mm")), "'18,4 mm'"),
        (lambda f: f.assign(sex=None, island=None), "island"),
        (lambda f: f.assign(island=f["island"].where(f.index % 5 != 0, "Atlantis")), "Atlantis"),
        (lambda f: f.iloc[:0], "no rows"),
    ],
    ids=["impossible-values", "missing-feature", "text-in-numbers", "empty-columns", "unknown-category", "no-rows"],
)
def test_bad_rows_stop_the_batch_and_nothing_is_predicted(pipeline, first_run, rows, tmp_path, corrupt, expected):
    before = len(logged(pipeline))
    with pytest.raises(ComponentError) as caught:
        check(pipeline, write(tmp_path, "bad.csv", corrupt(rows.copy())))
    assert caught.value.kind is ErrorKind.DATA and expected in caught.value.message
    assert len(logged(pipeline)) == before


def test_skew_against_the_training_data_warns_or_stops(pipeline, first_run, rows, tmp_path):
    heavy = write(tmp_path, "heavy.csv", rows.assign(island="Dream"))
    warned = check(pipeline, heavy)  # on_drift warn: predicted anyway, the skew recorded
    assert "island" in warned.outputs["batch"].properties["skewed_columns"]
    with pytest.raises(ComponentError) as caught:
        check(pipeline, heavy, skew={"on_drift": "fail"})
    assert "skewed" in caught.value.message and "island" in caught.value.message


def test_without_a_champion_it_says_so(tmp_path_factory, rows, tmp_path):
    from pipeline_helpers import new_pipeline

    with pytest.raises(ComponentError) as caught:
        check(new_pipeline(tmp_path_factory), write(tmp_path, "b.csv", rows.iloc[:20]))
    assert caught.value.kind is ErrorKind.CONFIG and "no champion" in caught.value.message


def test_a_failed_attempt_logs_nothing_and_its_retry_logs_each_row_once(pipeline, first_run, rows, tmp_path, monkeypatch):
    from airflow_mlops.runtime.components import predict_batch

    checked = check(pipeline, write(tmp_path, "b.csv", rows.iloc[:100].assign(penguin_id=[f"f{i}" for i in range(100)])),
                    keep_columns=["penguin_id"], request_id_column="penguin_id")
    before = len(logged(pipeline))
    calls, real = [], predict_batch.class_counts

    def fail_on_the_third_window(*args):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk gone")
        return real(*args)

    monkeypatch.setattr(predict_batch, "class_counts", fail_on_the_third_window)
    with pytest.raises(OSError):
        predict(pipeline, checked, batch_size=20)
    assert len(logged(pipeline)) == before  # two windows were written as .pending: not read
    monkeypatch.setattr(predict_batch, "class_counts", real)
    predict(pipeline, checked, batch_size=20)
    log = logged(pipeline)
    ours = log[log["request_id"].str.startswith("f")]
    assert len(log) == before + 100 and sorted(ours["request_id"]) == sorted(f"f{i}" for i in range(100))
