"""validate: statistics and reports on good data, schema inference, value ranges, and drift
against the champion's training data (corrupted data of every kind: test_bad_data_corpus.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_images import images

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind, Status
from airflow_mlops.runtime.ml.report_charts import pixels


def files_under(uri: str) -> set[str]:
    return {f.removeprefix(uri + "/") for f in ArtifactStore().list_files(uri)}


def test_good_data_gives_statistics_schema_and_reports(first_run):
    record = first_run["validate"]
    assert record.status is Status.SUCCEEDED and record.metrics["verdict"] == "valid"
    assert files_under(record.outputs["statistics"].uri) == {"train.stats", "eval.stats", "test.stats", "statistics.html"}
    assert files_under(record.outputs["anomalies"].uri) == {"anomalies.json", "anomalies.txt", "report.html"}
    schema = ArtifactStore().read_text(record.outputs["schema"].uri + "/schema.pbtxt")
    assert "jensen_shannon_divergence" in schema and "infinity_norm" in schema  # drift thresholds applied
    assert "facets" in ArtifactStore().read_text(record.outputs["statistics"].uri + "/statistics.html")
    report = ArtifactStore().read_text(record.outputs["anomalies"].uri + "/report.html")
    assert "Verdict: <span class='ok'>valid</span>" in report
    assert "<td>body_mass_g</td><td>FLOAT</td>" in report and "<td>island</td><td>STRING</td>" in report
    # a distribution picture per column (no champion yet: the new data alone), a PNG of the set size
    pictures = images(report)
    columns = {"species", "island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex", "year"}
    assert set(pictures) == {f"{c} (no baseline)" for c in columns}
    assert set(pictures.values()) == {pixels()}
    assert report.count('src="data:image/png;base64,') == len(columns) and "http" not in report.replace("http-equiv", "")


def test_schema_is_inferred_and_written_when_absent(pipeline, first_run, tmp_path):
    from dataclasses import replace

    schema_uri = f"file://{tmp_path}/new/schema.pbtxt"
    record = replace(pipeline, schema_uri=schema_uri).validate(first_run["ingest"].outputs["examples"])
    assert record.metrics["verdict"] == "valid"
    text = (tmp_path / "new" / "schema.pbtxt").read_text()
    assert text.startswith("# Curated data schema")
    from airflow_mlops.runtime.components.validate import read_schema

    schema = read_schema(schema_uri)
    presence = {f.name: f.presence.min_fraction for f in schema.feature}
    assert presence["species"] == 1.0 and presence["sex"] == pytest.approx(0.9)
    assert {d.name: list(d.value) for d in schema.string_domain}["island"] == ["Biscoe", "Dream", "Torgersen"]


def drifted_copy(penguins_csv, tmp_path):
    data = pd.read_csv(penguins_csv)
    data["body_mass_g"] = data["body_mass_g"] + 2500
    data["bill_length_mm"] = data["bill_length_mm"] * 1.6
    path = tmp_path / "drifted.csv"
    data.to_csv(path, index=False)
    return path


def test_drift_against_the_champion_is_measured_and_warns(pipeline, first_run, penguins_csv, tmp_path):
    assert first_run["deploy"].metrics["champion"] == "1"
    examples = pipeline.ingest(str(drifted_copy(penguins_csv, tmp_path))).outputs["examples"]
    record = pipeline.validate(examples, on_drift="warn", stop_above=1.0)  # no hard limit
    assert record.metrics["verdict"] == "drifted"
    summary = ArtifactStore().read_json(record.outputs["anomalies"].uri + "/anomalies.json")
    assert {"body_mass_g", "bill_length_mm"} <= set(summary["drifted_columns"])
    assert "island" not in summary["drifted_columns"]
    measured = {d["column"]: d for d in summary["drift"]}
    assert measured["body_mass_g"]["value"] > measured["body_mass_g"]["threshold"]
    assert measured["island"]["value"] <= measured["island"]["threshold"]
    # the report draws each column against the champion's training data, titled with its drift
    pictures = images(ArtifactStore().read_text(record.outputs["anomalies"].uri + "/report.html"))
    body_mass = next(t for t in pictures if t.startswith("body_mass_g: "))
    assert body_mass == (f"body_mass_g: jensen_shannon_divergence {measured['body_mass_g']['value']:.3f} > "
                         f"{measured['body_mass_g']['threshold']:.3f} DRIFTED")
    island = measured["island"]
    assert f"island: {island['measure']} {island['value']:.3f} <= {island['threshold']:.3f}" in pictures
    assert "species: no drift threshold" in pictures and len(pictures) == 8


def test_drift_fails_the_step_when_configured(pipeline, first_run, penguins_csv, tmp_path):
    examples = pipeline.ingest(str(drifted_copy(penguins_csv, tmp_path))).outputs["examples"]
    with pytest.raises(ComponentError) as err:
        pipeline.validate(examples, on_drift="fail", stop_above=1.0)
    assert err.value.kind is ErrorKind.DATA
    assert "data drift vs the champion's training data in" in err.value.message
    assert "body_mass_g" in err.value.message


def test_a_whole_dataset_drifted_far_stops_the_run_by_default(pipeline, first_run, penguins_csv, tmp_path):
    """Every bird 2.5 kg heavier with 1.6 times longer bills: near-disjoint distributions."""
    examples = pipeline.ingest(str(drifted_copy(penguins_csv, tmp_path))).outputs["examples"]
    with pytest.raises(ComponentError) as err:
        pipeline.validate(examples, on_drift="warn", run_id="far")
    assert err.value.kind is ErrorKind.DATA
    assert err.value.message.startswith("data drift vs the champion's training data beyond what validation.drift allows: "
                                         "bill_length_mm jensen_shannon_divergence 0.9")
    assert "(stop_above). Nothing is trained." in err.value.message


def test_same_data_as_the_champion_is_a_cache_hit(pipeline, first_run):
    again = pipeline.validate(first_run["ingest"].outputs["examples"], run_id="r2")
    assert again.cache_hit and again.fingerprint == first_run["validate"].fingerprint


# -- value ranges ---------------------------------------------------------------------------------


def test_inferred_ranges_are_the_training_range_widened_by_the_margin_and_clamped_at_zero():
    import tensorflow_data_validation as tfdv

    from airflow_mlops.runtime.ml.data_validation import infer_schema, schema_ranges

    frame = pd.DataFrame({
        "mass": [1.0, 4.0, 10.0, np.nan],         # never negative: 1 - 0.5 * 9 = -3.5 becomes 0
        "temperature": [-5.0, 0.0, 5.0, 1.0],     # has negative values: widened freely
        "count": np.array([2, 3, 6, 4]),          # whole numbers: an int_domain
        "code": np.array([3, 7, 9, 3]),           # a category coded as a number: no range
        "batch": np.array([2007, 2008, 2009, 2009]),  # neither a feature nor the label: no range
        "target": [100.0, 150.0, 300.0, 200.0],   # the label of a regression: a range too
    })
    stats = tfdv.generate_statistics_from_dataframe(frame)
    features = {"mass": "numeric", "temperature": "numeric", "count": "numeric", "code": "categorical"}
    schema = infer_schema(stats, "target", 0.1, 0.5, features)
    ranges = {name: (r.low, r.high, r.integer) for name, r in schema_ranges(schema).items()}
    assert ranges == {
        "mass": (0.0, 14.5, False),
        "temperature": (-10.0, 10.0, False),
        "count": (0, 8, True),
        "target": (0.0, 400.0, False),
    }
    assert ranges["mass"][0] == 0.0  # clamped: 1 - 4.5 would be -3.5
    # A margin of 0 keeps the training range itself, and its own values are inside it.
    exact = schema_ranges(infer_schema(stats, "target", 0.1, 0.0, features))
    assert (exact["mass"].low, exact["mass"].high) == pytest.approx((1.0, 10.0))
    assert exact["mass"].low <= 1.0 and exact["mass"].high >= 10.0
    assert not tfdv.validate_statistics(stats, infer_schema(stats, "target", 0.5, 0.0, features)).anomaly_info
    # Without the features, every numeric column gets one.
    assert set(schema_ranges(infer_schema(stats, "target", 0.1, 0.5))) == {"mass", "temperature", "count", "code", "batch", "target"}


def test_an_inferred_schema_has_the_ranges_of_the_training_split(pipeline, first_run, tmp_path):
    from pipeline_helpers import FEATURES, LABEL

    from airflow_mlops.runtime.ml.data_validation import read_schema, schema_ranges
    from airflow_mlops.runtime.ml.examples import read_split

    schema_uri = f"file://{tmp_path}/inferred/schema.pbtxt"
    examples = first_run["ingest"].outputs["examples"]
    params = {"features": FEATURES, "label": LABEL, "schema_uri": schema_uri, "range_margin": 0.25}
    record = pipeline.run("validate", params, {"examples": examples}, run_id="inferred-ranges")
    assert record.metrics["verdict"] == "valid"  # eval and test are inside the training split's widened range
    train = read_split(examples, "train")
    ranges = schema_ranges(read_schema(schema_uri))
    assert set(ranges) == {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"}  # not island, sex, year
    for column, bounds in ranges.items():
        low, high = train[column].min(), train[column].max()
        width = high - low
        assert bounds.low == pytest.approx(low - 0.25 * width, abs=0.01 * width), column
        assert bounds.high == pytest.approx(high + 0.25 * width, abs=0.01 * width), column
        assert bounds.low <= low - 0.25 * width and bounds.high >= high + 0.25 * width  # rounded outwards


def out_of_range_copy(penguins_csv, tmp_path, values: dict[str, dict[int, float]]):
    data = pd.read_csv(penguins_csv)
    for column, rows in values.items():
        for row, value in rows.items():
            data.loc[row, column] = value
    path = tmp_path / "out_of_range.csv"
    data.to_csv(path, index=False)
    return path


def test_values_outside_the_schemas_range_are_rejected_naming_column_range_rows_and_examples(pipeline, penguins_csv, tmp_path):
    from airflow_mlops.runtime.ml.examples import read_split

    broken = {"body_mass_g": {10: -4200.0, 11: -4200.0, 20: 1e9, 30: 0.0, 40: -1.0, 50: 12000.0, 60: 3750.0},
              "bill_length_mm": {100: 1e9}}
    examples = pipeline.ingest(str(out_of_range_copy(penguins_csv, tmp_path, broken))).outputs["examples"]
    with pytest.raises(ComponentError) as err:
        pipeline.validate(examples)
    assert err.value.kind is ErrorKind.DATA
    assert err.value.message == (
        "data validation failed: 2 anomalies:\n"
        "  - column 'bill_length_mm' (test): Out-of-range values - 1 row outside the schema's range 20..100, e.g. 1e+09\n"
        "  - column 'body_mass_g' (eval, train): Out-of-range values - 6 rows outside the schema's range 2000..10000"
        " (eval 2, train 4), e.g. -4200, 1e+09, 0"
    )
    # The counts per split are those of the split files themselves; eval's examples come first.
    outside = {s: int(((d["body_mass_g"] < 2000) | (d["body_mass_g"] > 10000)).sum())
               for s in ("train", "eval", "test") for d in [read_split(examples, s)]}
    assert outside == {"train": 4, "eval": 2, "test": 0}
    assert read_split(examples, "eval").query("body_mass_g < 2000")["body_mass_g"].tolist() == [-4200.0, -4200.0]
    summary = err.value.details
    assert summary["verdict"] == "invalid"
    mass = next(a for a in summary["anomalies"] if a["column"] == "body_mass_g")
    assert mass["short"] == "Out-of-range values" and set(mass["kinds"]) == {"FLOAT_TYPE_BIG_FLOAT", "FLOAT_TYPE_SMALL_FLOAT"}
    report = ArtifactStore().read_text(err.value.details["report"])
    assert "6 rows outside the schema&#x27;s range 2000..10000" in report or "6 rows outside the schema's range 2000..10000" in report


def test_values_inside_the_range_and_on_its_bounds_pass(pipeline, penguins_csv, tmp_path):
    edges = {"body_mass_g": {10: 2000.0, 20: 10000.0, 30: 9999.0}, "bill_length_mm": {40: 20.0, 50: 100.0}}
    examples = pipeline.ingest(str(out_of_range_copy(penguins_csv, tmp_path, edges))).outputs["examples"]
    record = pipeline.validate(examples)
    assert record.metrics["anomalies"] == 0 and record.metrics["verdict"] != "invalid"


REPO_INCLUDE = __import__("pathlib").Path(__file__).resolve().parents[3] / "include"


def test_the_curated_schemas_ranges_hold_the_whole_data_with_room(penguins_csv):
    from sklearn.datasets import load_diabetes

    from airflow_mlops.runtime.ml.data_validation import read_schema, schema_ranges

    penguins = pd.read_csv(penguins_csv)
    diabetes = load_diabetes(as_frame=True, scaled=False).frame
    # make demo-loop's drifted traffic, which its retraining learns from: heavier birds with longer bills
    colony = penguins.assign(body_mass_g=penguins["body_mass_g"] + 1800, bill_length_mm=penguins["bill_length_mm"] * 1.35)
    for name, data, columns in [
        ("penguin", penguins, {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"}),
        ("penguin", colony, {"bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "year"}),
        ("diabetes", diabetes, {"age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "target"}),
    ]:
        ranges = schema_ranges(read_schema(f"file://{REPO_INCLUDE / name / 'schema.pbtxt'}"))
        assert set(ranges) == columns, name
        for column, bounds in ranges.items():
            low, high = data[column].min(), data[column].max()
            assert bounds.low <= low and high <= bounds.high, (name, column, low, high, bounds)
            if column != "sex":  # 1..2 is all there is
                room = 0.05 * (high - low)
                assert bounds.low <= low - room and high + room <= bounds.high, (name, column, low, high, bounds)
        text = (REPO_INCLUDE / name / "schema.pbtxt").read_text()
        assert text.count("# Range set by hand") == len(columns)


def test_the_diabetes_data_passes_its_curated_schema(tmp_path):
    import shutil

    from pipeline_helpers import SPLIT, Pipeline

    shutil.copy(REPO_INCLUDE / "diabetes" / "schema.pbtxt", tmp_path / "schema.pbtxt")
    pipeline = Pipeline(root=f"file://{tmp_path}/artifacts", tracking_uri=f"sqlite:///{tmp_path}/mlflow.db",
                        schema_uri=f"file://{tmp_path}/schema.pbtxt", model_name="diabetes")
    source = "python://sklearn.datasets:load_diabetes?as_frame=true&scaled=false"
    examples = pipeline.run("ingest", {"source": source, "label": "target", "split": SPLIT, "task": "regression"}).outputs["examples"]
    features = {c: "numeric" for c in ("age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6")}
    record = pipeline.run("validate", {"features": features, "label": "target", "schema_uri": pipeline.schema_uri}, {"examples": examples})
    assert record.metrics["verdict"] == "valid" and record.metrics["anomalies"] == 0


def test_make_schema_writes_the_ranges_with_the_configured_margin(tmp_path, capsys):
    from airflow_mlops.runtime.components.ingest import assign_splits
    from airflow_mlops.runtime.ml.data_validation import read_schema, schema_ranges
    from airflow_mlops.runtime.tools.schema import main

    config = tmp_path / "include" / "birds" / "pipeline.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(
        "pipeline: birds\n"
        "data: {source: [package://palmerpenguins/data/penguins.csv], label: species}\n"
        "features: {island: categorical, bill_length_mm: numeric, body_mass_g: numeric}\n"
        "validation: {range_margin: 1.0}\n"
    )
    assert main([str(config)]) == 0
    written = tmp_path / "include" / "birds" / "schema.pbtxt"
    assert f"wrote {written}" in capsys.readouterr().out
    ranges = schema_ranges(read_schema(f"file://{written}"))
    assert set(ranges) == {"bill_length_mm", "body_mass_g"}  # the numeric features only; the label is text
    from airflow_mlops.contract.config import load_pipeline_config

    data = pd.read_csv(__import__("importlib").resources.files("palmerpenguins").joinpath("data/penguins.csv"))
    train = data[assign_splits(data, load_pipeline_config(config).split, [str(c) for c in data.columns]) == "train"]
    # body mass 2700..6300 in the training split: 2700 - 1.0 * 3600 would be negative, so it is 0
    low, high = train["body_mass_g"].min(), train["body_mass_g"].max()
    assert (ranges["body_mass_g"].low, ranges["body_mass_g"].high) == (0.0, high + (high - low))
    low, high = train["bill_length_mm"].min(), train["bill_length_mm"].max()
    assert ranges["bill_length_mm"].low == pytest.approx(low - (high - low), abs=0.1)
    assert ranges["bill_length_mm"].high == pytest.approx(high + (high - low), abs=0.1)


def test_two_measurements_swapped_are_out_of_range(pipeline, penguins_csv, tmp_path):
    """The closest pair: bill length (32..60 mm) in the bill depth column (10..25)."""
    data = pd.read_csv(penguins_csv)
    data[["bill_length_mm", "bill_depth_mm"]] = data[["bill_depth_mm", "bill_length_mm"]].to_numpy()
    data.to_csv(tmp_path / "swapped.csv", index=False)
    with pytest.raises(ComponentError) as err:
        pipeline.validate(pipeline.ingest(str(tmp_path / "swapped.csv")).outputs["examples"])
    present = int(data["bill_depth_mm"].notna().sum())
    assert (f"  - column 'bill_depth_mm' (eval, test, train): Out-of-range values - {present} rows outside the schema's range 10..25"
            in err.value.message), err.value.message


# -- the data as a whole (checked before any statistics) ------------------------------------------


def whole_data(tmp_path, splits: dict[str, int], duplicates: int | None, labels: list[str]):
    from airflow_mlops.contract import ArtifactRef

    (tmp_path / "examples").mkdir(exist_ok=True)
    pd.DataFrame({"species": labels, "x": range(len(labels))}).to_parquet(tmp_path / "examples" / "train.parquet")
    properties = {"splits": splits, "source": "/data/birds.csv", **({} if duplicates is None else {"duplicate_rows": duplicates})}
    return ArtifactRef(name="examples", type="Examples", uri=f"file://{tmp_path}/examples", producer="ingest",
                       fingerprint="f", execution_uri=f"file://{tmp_path}/execution.json", properties=properties)


def test_the_limits_on_the_data_as_a_whole_are_configurable(tmp_path):
    from airflow_mlops.contract.config.model import ValidationSettings
    from airflow_mlops.contract.params import ValidateParams
    from airflow_mlops.contract.typed import RecordError
    from airflow_mlops.runtime.components.validate import dataset_problems

    def params(**options):
        return ValidateParams(features={"x": "numeric"}, label="species", schema_uri="unused", **options)

    sound = whole_data(tmp_path, {"train": 70, "eval": 15, "test": 15}, 50, ["a", "b"])
    assert dataset_problems(params(), sound) == []  # 50 % copies: at the default limit, not above it
    assert dataset_problems(params(max_duplicate_fraction=0.4), sound) == [
        "duplicate rows in /data/birds.csv: 50 of 100 rows (50%) are exact copies of another row, more than "
        "validation.max_duplicate_fraction 0.4 allows; the same data was probably appended more than once: remove "
        "the copies (or raise the limit if repeated rows are real)"]
    assert dataset_problems(params(min_split_rows=16), sound)[0].startswith(
        "too few rows in /data/birds.csv: 100 rows split into eval 15, test 15, train 70; every split needs at least 16")
    unmeasured = whole_data(tmp_path, {"train": 70, "eval": 15, "test": 15}, None, ["a", "a"])  # an older ingest
    assert [p.split(":")[0] for p in dataset_problems(params(max_duplicate_fraction=0.0), unmeasured)] == [
        "column 'species' (the label) has a single value in the training split (a, 2 rows)"]
    with pytest.raises(RecordError) as bad:
        ValidationSettings.from_dict({"min_split_rows": 0, "max_duplicate_fraction": 1.5}, path="validation")
    assert bad.value.problems == ["validation.min_split_rows: must be 1 or more (got 0)",
                                  "validation.max_duplicate_fraction: must be between 0 and 1 (got 1.5)"]
