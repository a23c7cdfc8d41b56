"""ingest on the penguins data, on each kind of bad input, and on gs:// through an emulator."""

from __future__ import annotations

import pandas as pd
import pytest
from component_cli import make_spec, run_cli

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ERROR_FILE, EXECUTION_FILE, EXIT_REJECTED, RESULT_FILE, ExecutionRecord, join_uri
from airflow_mlops.runtime.components.ingest import COMPONENT
from airflow_mlops.runtime.components.runner import run_component

SPLIT = {"train": 0.7, "eval": 0.15, "test": 0.15}


def ingest_params(source: str, **extra) -> dict:
    return {"source": source, "label": "species", "split": SPLIT, "format": "auto", **extra}


def read_split(examples_uri: str, split: str) -> pd.DataFrame:
    with ArtifactStore().open(f"{examples_uri}/{split}.parquet") as f:
        return pd.read_parquet(f)


def test_penguins_snapshot_and_split(artifact_root, penguins_csv):
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(penguins_csv))))
    examples = record.outputs["examples"]
    assert examples.type == "Examples"
    splits = {name: read_split(examples.uri, name) for name in SPLIT}
    original = pd.read_csv(penguins_csv)
    assert sum(len(s) for s in splits.values()) == len(original) == 344
    assert examples.properties["splits"] == {name: len(s) for name, s in splits.items()}
    assert record.metrics["rows"] == 344
    for name, ratio in SPLIT.items():
        assert abs(len(splits[name]) / 344 - ratio) < 0.08, (name, len(splits[name]))
    # Nothing lost or invented: the splits together are the original rows.
    together = pd.concat(splits.values()).sort_values(list(original.columns)).reset_index(drop=True)
    expected = original.sort_values(list(original.columns)).reset_index(drop=True)
    pd.testing.assert_frame_equal(together, expected, check_dtype=False)
    assert list(splits["train"].columns) == list(original.columns)
    assert ArtifactStore().succeeded_record(join_uri(artifact_root, "penguin", "ingest", record.fingerprint))


def test_package_source_is_the_shipped_penguins_csv(artifact_root):
    record = run_component(
        COMPONENT, make_spec("ingest", artifact_root, ingest_params("package://palmerpenguins/data/penguins.csv"))
    )
    assert record.metrics["rows"] == 344


def test_a_list_source_adds_the_batches_of_a_landing_directory(artifact_root, penguins_csv, tmp_path):
    landing = tmp_path / "landing"
    source = [str(penguins_csv), f"file://{landing}"]
    first = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(source), name="a"))
    assert first.metrics["rows"] == 344  # the landing directory does not exist yet: skipped
    landing.mkdir()
    pd.read_csv(penguins_csv).head(10).assign(year=2030).to_csv(landing / "batch-1.csv", index=False)
    second = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(source), name="b"))
    assert second.metrics["rows"] == 354 and not second.cache_hit
    assert second.outputs["examples"].properties["files"] == sorted([f"file://{penguins_csv}", f"file://{landing}/batch-1.csv"])


def test_a_list_source_with_no_files_at_all_is_a_data_error(artifact_root, tmp_path):
    spec = make_spec("ingest", artifact_root, ingest_params([str(tmp_path / "none"), f"file://{tmp_path}/empty/"]))
    result = run_cli(spec)
    assert result.returncode == 3
    assert "no .csv or .parquet files in any of" in result.stdout + result.stderr


def test_include_feedback_adds_the_labelled_production_traffic(artifact_root, penguins_csv):
    from airflow_mlops.contract.layout import feedback_uri, predictions_uri
    from airflow_mlops.runtime.predictions.writer import PredictionLogger

    params = ingest_params(str(penguins_csv), include_feedback=True)
    assert run_component(COMPONENT, make_spec("ingest", artifact_root, params, name="a")).metrics["rows"] == 344
    logger = PredictionLogger(predictions_uri(artifact_root, "penguin"))
    features = {"island": "Biscoe", "bill_length_mm": 70.0, "bill_depth_mm": 15.0, "flipper_length_mm": 220.0,
                "body_mass_g": 7000.0, "sex": "male"}
    logger.log({"timestamp": "2026-11-22T10:00:00.000+00:00", "request_id": f"r{i}", "features": features,
                "prediction": "Gentoo", "model_version": "1"} for i in range(5))
    logger.close()
    ArtifactStore().write_text(feedback_uri(artifact_root, "penguin") + "/day1.csv", "request_id,label\nr0,Gentoo\nr1,Gentoo\nr9,Adelie\n")
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, params, name="b"))
    assert record.metrics["rows"] == 346 and not record.cache_hit  # r0 and r1; r9 was never served
    together = pd.concat([read_split(record.outputs["examples"].uri, name) for name in SPLIT])
    assert len(together[together["body_mass_g"] == 7000.0]) == 2
    assert str(together["year"].dtype) == "Int64"  # not known for traffic rows, still an integer column


def test_feedback_labels_of_a_numeric_target_become_numbers(artifact_root, tmp_path):
    """A regression's feedback arrives as text; numbers join the data as numbers, the rest is dropped."""
    from airflow_mlops.contract.layout import feedback_uri, predictions_uri
    from airflow_mlops.runtime.predictions.writer import PredictionLogger

    pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [10.5, 20.0, 30.0, 40.0]}).to_csv(tmp_path / "data.csv", index=False)
    logger = PredictionLogger(predictions_uri(artifact_root, "penguin"))
    logger.log({"timestamp": "2026-11-22T10:00:00.000+00:00", "request_id": f"r{i}", "features": {"x": float(i)},
                "prediction": 1.5 * i, "model_version": "1"} for i in range(4))
    logger.close()
    ArtifactStore().write_text(feedback_uri(artifact_root, "penguin") + "/day1.csv", "request_id,label\nr0,12.5\nr1,n/a\nr2,7\nr3,inf\n")
    params = {"source": str(tmp_path / "data.csv"), "label": "y", "split": SPLIT, "include_feedback": True, "task": "regression"}
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, params))
    assert record.metrics["rows"] == 6  # r1's label is not a number, r3's not a finite one
    assert record.outputs["examples"].properties["columns"]["y"] == "float64"
    together = pd.concat([read_split(record.outputs["examples"].uri, name) for name in SPLIT])
    assert sorted(together["y"]) == [7.0, 10.5, 12.5, 20.0, 30.0, 40.0]


def _assignment(examples_uri: str) -> dict[tuple, str]:
    out = {}
    for name in SPLIT:
        for row in read_split(examples_uri, name).astype(str).itertuples(index=False):
            out[tuple(row)] = name
    return out


def test_split_is_deterministic_and_stable_when_rows_are_added(tmp_path, artifact_root, penguins_csv):
    original = pd.read_csv(penguins_csv)
    first = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(penguins_csv))))
    # Same data, split ratios listed in another order, no cache: the same assignment.
    reordered = {"test": 0.15, "train": 0.7, "eval": 0.15}
    again = run_component(
        COMPONENT,
        make_spec("ingest", artifact_root, {**ingest_params(str(penguins_csv)), "split": reordered}, cache=False),
    )
    before = _assignment(first.outputs["examples"].uri)
    assert _assignment(again.outputs["examples"].uri) == before

    grown = tmp_path / "grown.csv"
    extra = original.head(40).copy()
    extra["body_mass_g"] = extra["body_mass_g"] + 1  # new, different rows
    pd.concat([original, extra]).to_csv(grown, index=False)
    after = _assignment(run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(grown)))).outputs["examples"].uri)
    assert all(after[row] == split for row, split in before.items())


def test_changed_source_content_is_a_cache_miss(tmp_path, artifact_root, penguins_csv):
    data = tmp_path / "data.csv"
    data.write_text(penguins_csv.read_text())
    first = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(data))))
    assert run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(data)))).cache_hit
    data.write_text(penguins_csv.read_text() + "Adelie,Dream,40.0,18.0,190,3900,male,2009\n")
    changed = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(data))))
    assert not changed.cache_hit and changed.fingerprint != first.fingerprint
    assert changed.metrics["rows"] == 345


def test_directory_of_csv_and_parquet_files(tmp_path, artifact_root, penguins_csv):
    original = pd.read_csv(penguins_csv)
    landing = tmp_path / "landing"
    landing.mkdir()
    original.iloc[:200].to_csv(landing / "part-1.csv", index=False)
    original.iloc[200:].to_parquet(landing / "part-2.parquet", index=False)
    (landing / "README.txt").write_text("not data")
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(landing))))
    assert record.metrics["rows"] == 344
    assert len(record.outputs["examples"].properties["files"]) == 2


def _bad(tmp_path, name: str, content: str | None):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("missing.csv", None, "source not found: {path}"),
        ("ragged.csv", "species,island\nAdelie,Dream\nGentoo,Biscoe,1,2,3\n",
         "file://{path}: 1 of 2 rows do not have the header's 2 fields: line 3 has 5"),
    ],
)
def test_bad_input_is_rejected_with_a_clear_message(tmp_path, artifact_root, name, content, expected):
    path = _bad(tmp_path, name, content)
    result = run_cli(make_spec("ingest", artifact_root, ingest_params(str(path))))
    assert result.returncode == EXIT_REJECTED, result.stdout + result.stderr
    report = ArtifactStore().read_json(join_uri(artifact_root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert report["kind"] == "data"
    assert expected.format(path=path) in report["message"]
    assert "Traceback" not in result.stderr
    assert expected.format(path=path) in result.stderr
    # Nothing a later step could consume.
    files = ArtifactStore().list_files(artifact_root)
    assert not [f for f in files if f.endswith(EXECUTION_FILE) or f.endswith(RESULT_FILE)]


def test_sound_csv_variants_are_read_as_they_are(tmp_path, artifact_root):
    """What the file checks must not reject: quoted commas and line breaks, CRLF line ends, a
    UTF-8 BOM, blank lines, non-ASCII UTF-8 text, no line end after the last row."""
    text = ('\ufeffspecies,island,note\r\nAdelie,Dream,"a, b"\r\n\r\nGentoo,Biscoe,"two\r\nlines"\r\n'
            "Gentoo,Biscoe,Bíscoe ü\r\nAdelie,Dream,")
    (tmp_path / "sound.csv").write_bytes(text.encode())
    record = run_component(COMPONENT, make_spec("ingest", artifact_root, ingest_params(str(tmp_path / "sound.csv"))))
    together = pd.concat([read_split(record.outputs["examples"].uri, name) for name in SPLIT])
    assert record.metrics["rows"] == 4 and list(together.columns) == ["species", "island", "note"]
    assert set(together["note"].dropna()) == {"a, b", "two\r\nlines", "Bíscoe ü"}
    assert record.outputs["examples"].properties["duplicate_rows"] == 0


def test_missing_label_message_lists_the_columns(tmp_path, artifact_root):
    path = _bad(tmp_path, "nolabel.csv", "island,body_mass_g\nDream,3000\n")
    result = run_cli(make_spec("ingest", artifact_root, ingest_params(str(path))))
    report = ArtifactStore().read_json(join_uri(artifact_root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert "its columns are: island, body_mass_g" in report["message"]
    assert report["details"]["columns"] == ["island", "body_mass_g"]
    assert result.returncode == EXIT_REJECTED


def test_gcs_source_and_artifact_root_through_the_emulator(gcs_bucket, penguins_csv):
    """Read from gs:// and write the snapshot and records to gs://, with the real clients."""
    gcs_bucket.blob("landing/2026-01-01/penguins.csv").upload_from_filename(str(penguins_csv))
    root = f"gs://{gcs_bucket.name}/mlops"
    spec = make_spec("ingest", root, ingest_params(f"gs://{gcs_bucket.name}/landing/2026-01-01/"))
    result = run_cli(spec)
    assert result.returncode == 0, result.stdout + result.stderr

    record = ExecutionRecord.from_json(ArtifactStore().read_text(join_uri(spec.invocation_uri, RESULT_FILE)))
    assert record.metrics["rows"] == 344 and not record.cache_hit
    names = sorted(b.name for b in gcs_bucket.client.list_blobs(gcs_bucket.name, prefix="mlops/penguin/ingest/"))
    prefix = f"mlops/penguin/ingest/{record.fingerprint}"
    attempt = record.outputs["examples"].uri.removeprefix(f"gs://{gcs_bucket.name}/").removesuffix("/examples")
    assert attempt.startswith(f"{prefix}/attempt-")
    assert names == [f"{attempt}/examples/{s}.parquet" for s in ("eval", "test", "train")] + [f"{prefix}/execution.json"]
    assert len(read_split(record.outputs["examples"].uri, "train")) == record.outputs["examples"].properties["splits"]["train"]

    second = run_cli(make_spec("ingest", root, spec.params, name="second"))
    assert second.returncode == 0, second.stderr
    again = ExecutionRecord.from_json(ArtifactStore().read_text(join_uri(root, "penguin", "_invocations", "second", RESULT_FILE)))
    assert again.cache_hit and again.fingerprint == record.fingerprint


def test_gcs_missing_object_is_a_data_error(gcs_bucket):
    root = f"gs://{gcs_bucket.name}/mlops"
    result = run_cli(make_spec("ingest", root, ingest_params(f"gs://{gcs_bucket.name}/landing/nothing.csv")))
    assert result.returncode == EXIT_REJECTED
    report = ArtifactStore().read_json(join_uri(root, "penguin", "_invocations", "inv", ERROR_FILE))
    assert report["message"] == f"source not found: gs://{gcs_bucket.name}/landing/nothing.csv"


def test_a_rows_hash_depends_on_its_values_not_on_its_columns_dtype():
    """A later batch that turns a column's ints into floats (or adds a missing value) must not move
    the earlier rows to other splits."""
    import numpy as np

    from airflow_mlops.runtime.components.ingest import duplicate_rows, row_hashes

    ints = pd.DataFrame({"x": [1, 2, 3], "s": ["a", None, "c"]})
    floats = pd.DataFrame({"x": [1.0, 2.0, 3.0], "s": ["a", np.nan, "c"]})
    nullable = ints.astype({"x": "Int64"})
    assert (row_hashes(ints, ["x", "s"]) == row_hashes(floats, ["x", "s"])).all()
    assert (row_hashes(ints, ["x", "s"]) == row_hashes(nullable, ["x", "s"])).all()
    assert len(set(row_hashes(ints, ["x", "s"]).tolist())) == 3
    changed = ints.assign(x=[1, 2, 4])
    assert (row_hashes(changed, ["x", "s"]) != row_hashes(ints, ["x", "s"])).tolist() == [False, False, True]
    assert (row_hashes(ints, ["s", "x"]) != row_hashes(ints, ["x", "s"])).all()  # the columns' order counts
    lists = pd.DataFrame({"v": [[1, 2], [1, 2], [3]]})  # unhashable cells (a python:// source) hash by their text
    hashes = row_hashes(lists, ["v"])
    assert hashes[0] == hashes[1] != hashes[2] and duplicate_rows(hashes) == 1
