"""What is wrong with a file that should be a comma-separated UTF-8 table, in words a data
scientist can act on: not text at all (compressed, a spreadsheet, Parquet, binary), another
encoding, another delimiter, a header with duplicate or empty names, rows with more or fewer
fields than the header (a file cut off mid-row, values shifted by a column).

pandas reads many of these silently: it pads a short row with missing values, takes an extra
first field in every row as the index, renames a duplicate column ``x.1``. So ingest checks the
raw bytes first (:func:`table_problem`) and reads them with pandas only when they are a sound
table. Counting every row's fields in Python takes longer than pandas' whole read, so Arrow's C++
parser counts them; only when it finds an uneven row does the Python scan (:func:`csv_problem`)
run, for the exact words.
"""

from __future__ import annotations

import csv
import io

# Magic numbers of files that are not text, and what to do about each.
SIGNATURES = (
    (b"\x1f\x8b", "gzip-compressed data", "decompress it (gunzip) first"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one)", "export the sheet as CSV (UTF-8)"),
    (b"PAR1", "a Parquet file", "name it .parquet (or set data.format: parquet)"),
    (b"BZh", "bzip2-compressed data", "decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed data", "decompress it first"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook", "export the sheet as CSV (UTF-8)"),
)
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
OTHER_DELIMITERS = {";": "';'", "\t": "tabs", "|": "'|'"}
MAX_LISTED = 3


def _not_text(head: bytes) -> str | None:
    for magic, what, fix in SIGNATURES:
        if head.startswith(magic):
            return f"is not a CSV text file: it is {what}; {fix}"
    if head.startswith(UTF16_BOMS) or (len(head) > 3 and head[1::2].count(0) > len(head) // 4):
        return "is UTF-16 text, not UTF-8: save it as CSV UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)"
    if b"\x00" in head:
        return "is not a CSV text file: it holds binary data (NUL bytes)"
    return None


def decode(data: bytes) -> tuple[str | None, str | None]:
    """``(text, None)`` for UTF-8 text (a BOM is dropped), else ``(None, what is wrong)``."""
    problem = _not_text(data[:4096])
    if problem:
        return None, problem
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        shown = data[start:end if end >= 0 else len(data)].decode("latin-1").strip()[:80]
        return None, (
            f"is not UTF-8 text: line {line} has the byte 0x{data[exc.start]:02x} ({shown!r} read as Latin-1); the file "
            "was probably saved as Latin-1 / Windows-1252: save it as CSV UTF-8"
        )


def head_problem(data: bytes, head: int = 1 << 16) -> str | None:
    """What the first ``head`` bytes (whole lines) and the header line say is wrong, or ``None``:
    cheap, not the rest of the file (a reader that fails on it hands it to :func:`table_problem`)."""
    if len(data) > head:
        data = data[: data.rfind(b"\n", 0, head) + 1 or head]
    text, problem = decode(data)
    if problem:
        return problem
    header = _first_line_fields(text)
    return _header_problem(header) if header else None


def table_problem(data: bytes) -> str | None:
    """What makes ``data`` not a sound comma-separated UTF-8 table with a header, or ``None``."""
    text, problem = decode(data)
    if problem:
        return problem
    header = _first_line_fields(text)
    if not header or _header_problem(header) or not _even_fields(data, header[0]):
        return csv_problem(text)
    return None


def _first_line_fields(text: str) -> list[str]:
    end = text.find("\n")
    return next(csv.reader([text if end < 0 else text[:end]]), [])


def _even_fields(data: bytes, first_column: str) -> bool:
    """Whether Arrow parses ``data`` as a table whose every row has the header's number of fields
    (only the first column is converted: the parser still splits every row)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    uneven: list[object] = []

    def keep(row: object) -> str:
        uneven.append(row)
        return "skip"

    try:
        pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=keep),
            convert_options=pacsv.ConvertOptions(include_columns=[first_column], column_types={first_column: pa.string()}),
        )
    except (pa.ArrowException, KeyError, ValueError):
        return False
    return not uneven


def _records(text: str):
    """``(line number, fields)`` of every non-blank CSV record."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for fields in reader:
        if fields:
            yield line, fields
        line = reader.line_num + 1


def csv_problem(text: str) -> str | None:
    """What makes ``text`` not a sound comma-separated table with a header, or ``None``."""
    records = _records(text)
    try:
        first = next(records, None)
        if first is None:
            return None  # no header: pandas says so
        header = first[1]
        problem = _header_problem(header)
        if problem:
            return problem
        return _ragged(records, len(header), text.endswith(("\n", "\r")))
    except csv.Error as exc:
        return f"is not a well-formed CSV file: {exc}"


def _header_problem(header: list[str]) -> str | None:
    if len(header) == 1:
        for delimiter, name in OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                return (f"has a single column {header[0][:80]!r}: its values are separated by {name}, not commas; "
                        "save it as comma-separated CSV")
    names = [name.strip() for name in header]
    empty = [i + 1 for i, name in enumerate(names) if not name]
    if empty:
        return (f"the header has no name for column {', '.join(map(str, empty[:MAX_LISTED]))} of {len(names)}: a column "
                "without a name, or the header and the values shifted against each other")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        where = "; ".join(f"{name!r} at columns {', '.join(str(i + 1) for i, n in enumerate(names) if n == name)}" for name in twice)
        return f"the header names a column more than once: {where}; each column needs its own name"
    return None


def _ragged(records, width: int, ends_with_newline: bool) -> str | None:
    """Rows whose number of fields is not the header's."""
    wrong: list[tuple[int, int]] = []
    rows = 0
    last: tuple[int, int] = (0, width)
    for line, fields in records:
        rows += 1
        last = (line, len(fields))
        if len(fields) != width:
            wrong.append(last)
    if not wrong:
        return None
    if wrong == [last] and last[1] < width and not ends_with_newline:
        return (f"ends mid-row: its last line ({last[0]}) has {last[1]} of the header's {width} fields and no line end; "
                "the file was probably cut off while it was written or copied")
    listed = ", ".join(f"line {line} has {count}" for line, count in wrong[:MAX_LISTED])
    shifted = " (the values are shifted against the header)" if len(wrong) == rows else ""
    return (f"{len(wrong)} of {rows} rows do not have the header's {width} fields{shifted}: {listed}"
            f"{', ...' if len(wrong) > MAX_LISTED else ''}")


def looks_headerless(columns: list[str]) -> bool:
    """Column names of which most are numbers: the first line was data, not a header."""
    def number(name: str) -> bool:
        try:
            float(name)
            return True
        except ValueError:
            return False

    return sum(number(str(c)) for c in columns) * 2 >= len(columns) > 0
