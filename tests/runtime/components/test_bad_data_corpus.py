"""A corpus of bad penguin training data: each kind is made from the real penguins CSV by a small
function and run through the whole training chain against a registry with a champion. Each must
stop at the step that is meant to stop it (ingest or validate: before anything is trained) as a
data error whose message names the file or the column and says what is wrong; and the registry
and the serving state must be unchanged.

The steps run in the order of ``penguin_training`` up to ``deploy``: a case that wrongly got
through validation would be trained, evaluated and, when blessed, registered and deployed, and
the state assertion would catch it. So the module has a pipeline and champion of its own
(``own_pipeline``/``own_first_run``): such a failure must not change the registry that the other
modules share.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from pipeline_helpers import own_first_run, own_pipeline  # noqa: F401  (fixtures: a pipeline of this module's own)

from airflow_mlops.artifacts import ArtifactStore
from airflow_mlops.contract import ComponentError, ErrorKind
from airflow_mlops.contract.layout import deployment_record_uri
from airflow_mlops.runtime.serving.record import read_record

INGEST, VALIDATE = "ingest", "validate"
NUMERIC = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


# -- the kinds of bad data: each a function of the penguins data (a frame and its CSV text) --------


def csv(frame: pd.DataFrame, **kw) -> bytes:
    return frame.to_csv(index=False, **kw).encode()


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def latin1_bytes(frame, text):
    """One island saved in Latin-1 inside an otherwise UTF-8 file (an edit in an old editor)."""
    rows = lines(text)
    assert "Biscoe" in rows[21]
    return "".join(rows[:21]).encode() + rows[21].replace("Biscoe", "Bíscoe").encode("latin-1") + "".join(rows[22:]).encode()


def truncated(frame, text):
    """Cut off in the middle of a row, as a copy that was interrupted."""
    cut = text.index("\n", len(text) // 2) + 20
    return text[:cut].encode()


def spreadsheet(frame, text):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", text)
    return buffer.getvalue()


def binary(frame, text):
    return bytes(range(256)) * 40


def every_third(frame, column, values, dtype=object):
    frame = frame.copy()
    frame[column] = frame[column].astype(dtype)
    rows = frame.index[::3]
    frame.loc[rows, column] = [values[i % len(values)] for i in range(len(rows))]
    return frame


def shifted_right(frame, text):
    """Every row's values one column to the right of the header (an empty first field)."""
    rows = lines(text)
    return (rows[0] + "".join("," + row for row in rows[1:])).encode()


def shifted_right_last_lost(frame, text):
    """Values one column to the right, the last one lost: every row still has 8 fields."""
    rows = lines(text)
    return (rows[0] + "".join("," + row.rstrip("\n").rsplit(",", 1)[0] + "\n" for row in rows[1:])).encode()


def duplicated_column(frame, text):
    header, rest = text.split("\n", 1)
    return (header.replace("bill_depth_mm", "bill_length_mm") + "\n" + rest).encode()


def swapped(frame, a, b):
    frame = frame.copy()
    frame[[a, b]] = frame[[b, a]].to_numpy()
    return frame


def one_value(frame, row, column, value):
    frame = frame.copy()
    frame[column] = frame[column].astype(float)
    frame.loc[row, column] = value
    return frame


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[pd.DataFrame, str], bytes]
    step: str               # the step that must stop it
    where: str | None       # the column the message must name (None: the file)
    words: tuple[str, ...]  # what the message must say, case-insensitive


CASES = [
    # -- the file itself: ingest ------------------------------------------------------------------
    Case("utf16", lambda f, t: t.encode("utf-16"), INGEST, None, ("utf-16 text, not utf-8", "save it as csv utf-8")),
    Case("latin1_bytes", latin1_bytes, INGEST, None, ("not utf-8 text", "line 22", "latin-1", "save it as csv utf-8")),
    Case("semicolons", lambda f, t: csv(f, sep=";"), INGEST, None, ("separated by ';', not commas",)),
    Case("tabs", lambda f, t: csv(f, sep="\t"), INGEST, None, ("separated by tabs, not commas",)),
    Case("truncated_mid_row", truncated, INGEST, None, ("ends mid-row", "4 of the header's 8 fields", "cut off")),
    Case("gzip", lambda f, t: gzip.compress(t.encode()), INGEST, None, ("not a csv text file", "gzip", "decompress")),
    Case("spreadsheet", spreadsheet, INGEST, None, ("not a csv text file", "zip archive", "export the sheet as csv")),
    Case("binary", binary, INGEST, None, ("not a csv text file", "binary data")),
    Case("empty", lambda f, t: b"", INGEST, None, ("file is empty",)),
    Case("header_only", lambda f, t: lines(t)[0].encode(), INGEST, None, ("no rows", "header but no data")),
    Case("no_header", lambda f, t: "".join(lines(t)[1:]).encode(), INGEST, None,
         ("label column 'species' not found", "looks like data, not column names", "needs a header")),
    Case("shifted_right", shifted_right, INGEST, None,
         ("344 of 344 rows do not have the header's 8 fields", "shifted against the header", "line 2 has 9")),
    Case("duplicated_column", duplicated_column, INGEST, None,
         ("names a column more than once", "'bill_length_mm' at columns 3, 4")),
    Case("label_column_missing", lambda f, t: csv(f.drop(columns=["species"])), INGEST, None,
         ("label column 'species' not found", "its columns are: island")),
    # -- the data as a whole: validate, before statistics ------------------------------------------
    Case("tiny", lambda f, t: csv(f.sample(6, random_state=1)), VALIDATE, None,
         ("too few rows", "6 rows", "validation.min_split_rows", "add data")),
    Case("every_row_three_times", lambda f, t: csv(pd.concat([f, f, f])), VALIDATE, None,
         ("duplicate rows", "688 of 1032 rows (67%) are exact copies", "validation.max_duplicate_fraction 0.5")),
    Case("one_class", lambda f, t: csv(f[f["species"] == "Adelie"]), VALIDATE, "species",
         ("the label", "single value in the training split (adelie", "cannot learn")),
    # -- columns and values: validate, against the schema ------------------------------------------
    Case("string_in_numeric", lambda f, t: csv(every_third(f, "bill_length_mm", ["n/a (broken scale)"])), VALIDATE,
         "bill_length_mm", ("unexpected data type", "float but got string", "115 rows hold text that is not a number, e.g. 'n/a (broken scale)'")),
    Case("nan_like_strings", lambda f, t: csv(every_third(f, "bill_depth_mm", ["NA", "null", "-"])), VALIDATE,
         "bill_depth_mm", ("float but got string", "hold text that is not a number, e.g. '-'")),
    Case("unseen_category", lambda f, t: csv(every_third(f, "island", ["Atlantis"])), VALIDATE, "island",
         ("unexpected string values", "atlantis")),
    Case("category_spelling", lambda f, t: csv(f.assign(sex=f["sex"].str.upper())), VALIDATE, "sex",
         ("unexpected string values", "male")),
    Case("negative_mass", lambda f, t: csv(f.assign(body_mass_g=-f["body_mass_g"])), VALIDATE, "body_mass_g",
         ("out-of-range values", "342 rows outside the schema's range 2000..10000", "e.g. -")),
    Case("times_1000", lambda f, t: csv(f.assign(flipper_length_mm=f["flipper_length_mm"] * 1000)), VALIDATE,
         "flipper_length_mm", ("out-of-range values", "342 rows outside the schema's range 150..250", "000,")),
    Case("kilograms", lambda f, t: csv(f.assign(body_mass_g=f["body_mass_g"] / 1000)), VALIDATE, "body_mass_g",
         ("out-of-range values", "342 rows outside the schema's range 2000..10000", "e.g. ")),
    Case("huge_value", lambda f, t: csv(one_value(f, 50, "body_mass_g", 1e30)), VALIDATE, "body_mass_g",
         ("out-of-range values", "1 row outside the schema's range 2000..10000", "e.g. 1e+30")),
    Case("infinite_value", lambda f, t: csv(one_value(f, 60, "bill_depth_mm", np.inf)), VALIDATE, "bill_depth_mm",
         ("out-of-range values", "1 row outside the schema's range 10..25", "e.g. inf")),
    Case("swapped_columns", lambda f, t: csv(swapped(f, "bill_length_mm", "flipper_length_mm")), VALIDATE,
         "flipper_length_mm", ("out-of-range values", "outside the schema's range 150..250")),
    Case("shifted_right_last_value_lost", shifted_right_last_lost, VALIDATE, "island",
         ("unexpected string values", "adelie")),
    Case("too_many_missing", lambda f, t: csv(f.assign(sex=f["sex"].where(f.index % 2 == 1))), VALIDATE, "sex",
         ("present in fewer examples than expected", "minimum fraction = 0.9")),
    Case("missing_column", lambda f, t: csv(f.drop(columns=["body_mass_g"])), VALIDATE, "body_mass_g",
         ("column dropped",)),
    Case("extra_column", lambda f, t: csv(f.assign(colour="blue")), VALIDATE, "colour", ("new column",)),
    Case("unknown_label", lambda f, t: csv(every_third(f, "species", ["Emperor"])), VALIDATE, "species",
         ("unexpected string values", "emperor")),
    Case("label_missing_in_rows", lambda f, t: csv(every_third(f, "species", [np.nan])), VALIDATE, "species",
         ("present in fewer examples than expected",)),
    Case("label_coded_as_numbers", lambda f, t: csv(f.assign(species=f["species"].map({"Adelie": 0, "Chinstrap": 1,
         "Gentoo": 2}))), VALIDATE, "species", ("unexpected data type", "but got int")),
]


# -- running the chain -------------------------------------------------------------------------------


def run_every_step(pipeline, source: str, run_id: str) -> tuple[str, ComponentError | None]:
    """``penguin_training``'s steps in order, as :meth:`Pipeline.chain` runs them; the step that
    raised and its error, or the last step and ``None``."""
    steps: list[str] = []

    def step(name: str, call):
        steps.append(name)
        return call()

    try:
        ingest = step("ingest", lambda: pipeline.ingest(source, run_id=run_id))
        examples = ingest.outputs["examples"]
        validate = step("validate", lambda: pipeline.validate(examples, run_id=run_id))
        transform = step("transform", lambda: pipeline.transform(examples, validate.outputs["schema"], run_id=run_id))
        train = step("train", lambda: pipeline.train(examples, transform.outputs["transform"], epochs=3, run_id=run_id))
        evaluate = step("evaluate", lambda: pipeline.evaluate(examples, train.outputs["model"], run_id=run_id))
        records = {"ingest": ingest, "validate": validate, "transform": transform, "train": train, "evaluate": evaluate}
        if evaluate.metrics["blessed"]:
            registered = step("register", lambda: pipeline.register(records, run_id=run_id))
            version = registered.outputs["model_version"]
            infra = step("infra_validate", lambda: pipeline.infra_validate(version, examples, run_id=run_id))
            step("deploy", lambda: pipeline.deploy(version, infra.outputs["infra_blessing"], run_id=run_id))
    except ComponentError as exc:
        return steps[-1], exc
    return steps[-1], None


def serving_state(pipeline) -> dict:
    """The registered versions, the aliases (champion, challenger, ...) and the deployment history."""
    client = pipeline.registry().client()
    versions = sorted(int(v.version) for v in client.search_model_versions(f"name='{pipeline.model_name}'"))
    aliases = {alias: str(version) for alias, version in client.get_registered_model(pipeline.model_name).aliases.items()}
    history = read_record(deployment_record_uri(pipeline.root, "penguin"), "penguin").history
    return {"versions": versions, "aliases": aliases, "history": [repr(entry) for entry in history]}


@pytest.fixture(scope="module")
def penguins(penguins_csv) -> tuple[pd.DataFrame, str]:
    return pd.read_csv(penguins_csv), penguins_csv.read_text()


def test_the_corpus_has_every_kind_once():
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)) and len(names) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_data_stops_before_the_registry_with_a_clear_message(pipeline, first_run, penguins, tmp_path, case):
    before = serving_state(pipeline)
    assert before["aliases"] == {"champion": "1"} and before["versions"] == [1]
    path = tmp_path / f"penguins-{case.name}.csv"
    path.write_bytes(case.make(*penguins))

    step, error = run_every_step(pipeline, str(path), run_id=f"bad-{case.name}")

    assert error is not None, f"{case.name} went through every step, up to {step}"
    assert (step, error.kind) == (case.step, ErrorKind.DATA), error.message
    message = error.message
    assert "Traceback" not in message
    if case.where is None:
        assert str(path) in message, message
    else:
        named = [line for line in message.splitlines() if case.where in line]
        assert named, message
        message = "\n".join(named)
    for words in case.words:
        assert words.lower() in message.lower(), (words, error.message)
    if case.step == VALIDATE and "anomal" in error.message.splitlines()[0]:
        assert ArtifactStore().exists(error.details["report"])  # the validation report is there to look at
    assert serving_state(pipeline) == before
