"""Arrow reads a CSV table into what pandas would have read, or hands it back (None) where they
would differ (airflow_mlops/runtime/ml/csv_reader.py)."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from airflow_mlops.runtime.ml.csv_reader import arrow_frame

SAME = {
    "numbers and text": b"species,bill_length_mm,year\nAdelie,39.1,2007\nGentoo,46.5,2008\n",
    "missing-value words": b"a,b,c\nNA,1.5,x\nnull,,NaN\n,2.5,n/a\nx,N/A,<NA>\n",
    "ints with a missing value become floats": b"a,b\n1,2\n,3\n4,\n",
    "booleans": b"flag,other\nTrue,false\nFALSE,true\n",
    "booleans with a missing value": b"flag\nTrue\n\nFalse\nNA\n",
    "quoted values, commas and newlines inside": b'name,n\n"Smith, J",1\n"two\nlines",2\n"""quoted""",3\n',
    "infinities and exponents": b"x,y\ninf,1e5\n-inf,2.5E-3\n",
    "unicode text": "island,n\nBiscoë,1\nDréam,2\n".encode(),
    "a byte-order mark": b"\xef\xbb\xbfa,b\n1,x\n",
    "CRLF line ends": b"a,b\r\n1,x\r\n2,y\r\n",
    "blank lines": b"a,b\n1,x\n\n2,y\n",
    "numbers with spaces around them": b"a,b\n 39.1,x\n 40.2 , y\n",
    "a text value far down a number column": ("x,y\n" + "".join(f"{i * 0.5},a\n" for i in range(200_000)) + "oops,b\n").encode(),
}

DIFFERENT = {
    "a date column": b"day,n\n2007-11-11,1\n2008-01-02,2\n",
    "a timestamp column": b"at,n\n2007-11-11 10:00:00,1\n2008-01-02 11:00:00,2\n",
    "header only": b"a,b\n",
    "a column of empty fields": b"a,b\n1,\n2,\n",
    "a ragged row": b"a,b\n1,2\n3\n",
    "a row with a field too many": b"a,b\n1,2\n3,4,5\n",
    "a file cut off mid-row": b"a,b,c\n1,2,3\n4,5",
}


def pandas_frame(data: bytes) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")


@pytest.mark.parametrize("data", SAME.values(), ids=SAME.keys())
def test_arrow_reads_what_pandas_reads(data):
    frame = arrow_frame(data)
    assert frame is not None
    pd.testing.assert_frame_equal(frame, pandas_frame(data))


@pytest.mark.parametrize("data", DIFFERENT.values(), ids=DIFFERENT.keys())
def test_where_the_two_would_differ_pandas_reads(data):
    assert arrow_frame(data) is None


def test_a_text_value_far_down_a_number_column_makes_it_text():
    """Beyond Arrow's first block (1 MB): the column is text, as pandas reads it; validate then
    reports the wrong type."""
    data = SAME["a text value far down a number column"]
    assert arrow_frame(data)["x"].iloc[-1] == "oops" and arrow_frame(data)["x"].dtype == object


def test_the_penguins_read_alike(penguins_csv):
    data = penguins_csv.read_bytes()
    frame = arrow_frame(data)
    pd.testing.assert_frame_equal(frame, pandas_frame(data))
    assert frame["sex"].isna().sum() == 11 and frame["sex"][frame["sex"].isna()].map(lambda v: isinstance(v, float)).all()
