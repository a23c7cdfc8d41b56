"""``bigquery://`` sources for ingest and batch prediction, against the local cloud's fake BigQuery
with the real google-cloud-bigquery client: the exact requests, partitions by date, the cache, errors."""

from __future__ import annotations

import datetime

import pandas as pd
import pyarrow as pa
import pytest
from pipeline_helpers import FEATURES, LABEL, SPLIT

from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.runtime.ml.bigquery_source import ENDPOINT_ENV, parse
from local_cloud.bigquery_api import FakeBigQuery

DAYS = [datetime.date(2026, 3, 4), datetime.date(2026, 3, 5)]


@pytest.fixture(scope="module")
def bigquery(penguins_csv):
    fake = FakeBigQuery().start()
    frame = pd.read_csv(penguins_csv)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fake.add_table("lake.zoo.penguins", table)
    fake.add_table("lake.zoo.penguins_daily", table.append_column("day", pa.array([DAYS[i % 2] for i in range(len(frame))])))
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def endpoint(bigquery, monkeypatch):
    monkeypatch.setenv(ENDPOINT_ENV, bigquery.url)
    bigquery.requests.clear()


def ingest(pipeline, source: str):
    return pipeline.run("ingest", {"source": source, "label": LABEL, "split": SPLIT, "format": "auto"})


def test_a_whole_table_is_read_and_unchanged_it_is_a_cache_hit_without_reading_a_row(pipeline, bigquery, penguins_csv):
    first = ingest(pipeline, "bigquery://lake.zoo.penguins")
    assert first.outputs["examples"].properties["rows"] == 344
    assert [(r["method"], r["path"]) for r in bigquery.requests] == [
        ("GET", "/bigquery/v2/projects/lake/datasets/zoo/tables/penguins"),  # the fingerprint: etag, modified, rows
        ("GET", "/bigquery/v2/projects/lake/datasets/zoo/tables/penguins"),  # the schema, to read
        ("GET", "/bigquery/v2/projects/lake/datasets/zoo/tables/penguins/data"),
    ]
    bigquery.requests.clear()
    again = ingest(pipeline, "bigquery://lake.zoo.penguins")
    assert again.cache_hit and [r["path"] for r in bigquery.requests] == ["/bigquery/v2/projects/lake/datasets/zoo/tables/penguins"]
    # the same rows from the CSV give the same content: BigQuery's types do not change the data
    from_csv = ingest(pipeline, str(penguins_csv))
    assert from_csv.outputs["examples"].properties["content_fingerprint"] == first.outputs["examples"].properties["content_fingerprint"]

    bigquery.add_table("lake.zoo.penguins", bigquery.tables["lake.zoo.penguins"].slice(0, 300))  # the table changed
    assert ingest(pipeline, "bigquery://lake.zoo.penguins").outputs["examples"].properties["rows"] == 300
    bigquery.add_table("lake.zoo.penguins", bigquery.tables["lake.zoo.penguins_daily"].drop(["day"]))


def test_one_day_of_a_partitioned_table_is_one_query_with_a_date_parameter(pipeline, bigquery):
    record = ingest(pipeline, "bigquery://lake.zoo.penguins_daily?partition_column=day&partition=2026-03-05")
    assert record.outputs["examples"].properties["rows"] == 172  # every second row
    (job, *others) = bigquery.jobs()
    assert job["configuration"] == {"query": {
        "query": "SELECT * FROM `lake.zoo.penguins_daily` WHERE `day` = @partition", "useLegacySql": False,
        "queryParameters": [{"name": "partition", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-03-05"}}],
        "parameterMode": "NAMED"}}
    assert job["jobReference"]["projectId"] == "lake" and len(others) == 1  # the fingerprint's query, then the read's


def test_a_query_source_with_the_run_s_date(pipeline, bigquery):
    sql = "SELECT * EXCEPT(day) FROM `lake.zoo.penguins_daily` WHERE day = @ds AND island != 'Dream'"
    daily = bigquery.tables["lake.zoo.penguins_daily"]
    bigquery.answer(sql, lambda params: daily.filter(pa.array(
        [str(d) == params["ds"] and i != "Dream" for d, i in zip(daily.column("day").to_pylist(), daily.column("island").to_pylist())]
    )).drop(["day"]))
    record = ingest(pipeline, f"bigquery://lake?location=EU&ds=2026-03-04&query={sql}")
    rows = record.outputs["examples"].properties["rows"]
    assert 0 < rows < 172
    job = bigquery.jobs()[-1]
    assert job["configuration"]["query"]["query"] == sql and job["jobReference"]["location"] == "EU"
    assert job["configuration"]["query"]["queryParameters"] == [
        {"name": "ds", "parameterType": {"type": "DATE"}, "parameterValue": {"value": "2026-03-04"}}]


@pytest.mark.parametrize("source, kind, message", [
    ("bigquery://lake.zoo.nothing", ErrorKind.DATA, "not found in BigQuery: Not found: Table lake:zoo.nothing"),
    ("bigquery://lake.zoo.penguins_daily?partition_column=week&partition=2026-03-04", ErrorKind.CONFIG,
     "BigQuery refused it: Unrecognized name: week"),
    ("bigquery://lake.zoo.penguins_daily?partition_column=day&partition=2026-02-01", ErrorKind.DATA, "no rows in bigquery://"),
    ("bigquery://lake.zoo.penguins_daily?partition=2026-02-01", ErrorKind.CONFIG, "give partition_column and partition together"),
    ("bigquery://lake.zoo.penguins_daily?partition_column=day&partition={{ ds }}", ErrorKind.CONFIG, "must be a date YYYY-MM-DD"),
    ("bigquery://lake.penguins", ErrorKind.CONFIG, "is not <project>.<dataset>.<table>"),
    ("bigquery://lake?query=", ErrorKind.CONFIG, "the query is empty"),
])
def test_what_goes_wrong_is_said_and_not_retried(pipeline, source, kind, message):
    with pytest.raises(ComponentError) as caught:
        ingest(pipeline, source)
    assert caught.value.kind is kind and message in caught.value.message, caught.value.message


def test_the_uri_forms():
    assert parse("bigquery://p.d.t").statement() is None
    query = parse("bigquery://p?ds=2026-01-02&query=SELECT a, b FROM `p.d.t` WHERE x = 'a&b' AND d = @ds")
    assert query.query == "SELECT a, b FROM `p.d.t` WHERE x = 'a&b' AND d = @ds" and query.ds == "2026-01-02"


def test_a_batch_to_predict_can_come_from_bigquery(pipeline, first_run, bigquery):
    checked = pipeline.run("check_batch", {"source": "bigquery://lake.zoo.penguins_daily?partition_column=day&partition=2026-03-04",
                                           "features": FEATURES, "label": LABEL})
    assert checked.outputs["batch"].properties["rows"] == 172


def test_batch_predictions_into_a_day_s_partition_replace_it_and_without_a_partition_append(pipeline, first_run, bigquery):
    checked = pipeline.run("check_batch", {"source": "bigquery://lake.zoo.penguins_daily?partition_column=day&partition=2026-03-05",
                                           "features": FEATURES, "label": LABEL})
    for _ in range(2):  # a re-run of the day (cache off) leaves one set of its scores
        pipeline.run("predict_batch", {"log_predictions": False, "destination": "bigquery://lake.scores.penguin?partition=2026-03-05"},
                     {"batch": checked.outputs["batch"]}, cache=False)
    loaded = bigquery.tables["lake.scores.penguin$20260305"]
    assert loaded.num_rows == 172 and set(loaded.column("model_version").to_pylist()) == {"1"}
    assert {"request_id", "prediction", "probability_Adelie", "predicted_at"} <= set(loaded.column_names)
    load = [r["body"] for r in bigquery.requests if r["path"] == "/upload/bigquery/v2/projects/lake/jobs"][-1]
    assert load["configuration"]["load"] == {
        "sourceFormat": "PARQUET", "writeDisposition": "WRITE_TRUNCATE", "timePartitioning": {"type": "DAY"},
        "destinationTable": {"projectId": "lake", "datasetId": "scores", "tableId": "penguin$20260305"}}
    for _ in range(2):
        record = pipeline.run("predict_batch", {"log_predictions": False, "destination": "bigquery://lake.scores.all"},
                              {"batch": checked.outputs["batch"]}, cache=False)
    assert bigquery.tables["lake.scores.all"].num_rows == 344
    assert record.outputs["predictions"].properties["destination"] == "bigquery://lake.scores.all"


def test_a_big_file_is_loaded_by_a_resumable_upload(bigquery, tmp_path):
    import numpy as np
    import pyarrow.parquet as pq

    from airflow_mlops.runtime.ml.bigquery_sink import load_parquet

    rows = 400_000
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"x": np.random.default_rng(0).random(rows), "y": np.random.default_rng(1).random(rows)}), path)
    assert path.stat().st_size > 5 * 2**20  # above the client's multipart limit
    assert load_parquet("bigquery://lake.scores.big", f"file://{path}")["rows"] == rows
    assert bigquery.tables["lake.scores.big"].num_rows == rows
    assert any(r["query"].get("uploadType") == "resumable" for r in bigquery.requests)
    with pytest.raises(ComponentError, match="is not <project>.<dataset>.<table>"):
        load_parquet("bigquery://lake.big", f"file://{path}")


def test_a_retried_load_finds_its_job_instead_of_appending_again(bigquery, tmp_path):
    import pyarrow.parquet as pq

    from airflow_mlops.runtime.ml.bigquery_sink import load_parquet

    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"request_id": ["a", "b", "c"], "prediction": ["x", "y", "x"]}), path)
    for _ in range(2):  # the second attempt: BigQuery answers 409, the job is read back
        load_parquet("bigquery://lake.scores.retried", f"file://{path}", job_id="airflow_mlops_job_1")
    assert bigquery.tables["lake.scores.retried"].num_rows == 3
    load_parquet("bigquery://lake.scores.retried", f"file://{path}", job_id="airflow_mlops_job_2")  # a new run appends
    assert bigquery.tables["lake.scores.retried"].num_rows == 6


def test_a_rate_limit_is_retried_and_a_refusal_is_not():
    from google.api_core.exceptions import Forbidden

    from airflow_mlops.runtime.ml.bigquery_source import mapped_errors

    source = parse("bigquery://p.d.t")
    with pytest.raises(ConnectionError, match="Exceeded rate limits"), mapped_errors(source):
        raise Forbidden("x", errors=[{"reason": "rateLimitExceeded", "message": "Exceeded rate limits"}])
    with pytest.raises(ComponentError) as caught, mapped_errors(source):
        raise Forbidden("x", errors=[{"reason": "accessDenied", "message": "Access Denied: Table p:d.t"}])
    assert caught.value.kind is ErrorKind.CONFIG and "BigQuery refused it: Access Denied" in caught.value.message
