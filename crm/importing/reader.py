"""Stream a CSV file as canonical rows, with line numbers, in bounded memory.

UTF-8 with or without a BOM by default (another encoding must be declared), delimiter
sniffed from the header line (comma, semicolon, tab), RFC 4180 quoting.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from crm.errors import ErrorCode, ServiceError
from crm.importing.address import split_address
from crm.importing.columns import ColumnPlan, plan_columns
from crm.importing.validation import text_encoding
from crm.ingest.observation import storable

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
MAX_FIELD = 1024 * 1024
# a cell starting with one of these is a formula to a spreadsheet
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
csv.field_size_limit(MAX_FIELD)
# the length of ImportRowError.column, where an unknown column's warning names it
MAX_COLUMN_LABEL = 200


class ImportFailed(ServiceError):
    """The file as a whole cannot be read (encoding, no header...)."""

    def __init__(self, message: str, *, code: ErrorCode = ErrorCode.INVALID_INPUT):
        super().__init__(code, message, field="file")


@dataclass(slots=True)
class Row:
    line: int
    values: dict[str, str]
    metadata: dict[str, str]
    # the cells as read, and their column names: ``original`` is built from them only for
    # the rows that need it (the reject report), not for every row
    cells: list[str] | None = None
    names: list[str] | None = None
    skipped: frozenset[int] | set[int] = frozenset()

    @property
    def identity(self) -> str | None:
        """The row's source id when it has no ``external_id``: its cells as in the file, in
        order, whatever the header says or the columns were mapped to (``row_identity``);
        None for a row not read from a file."""
        return None if self.cells is None else row_identity(self.cells, self.skipped)

    @property
    def original(self) -> dict[str, str]:
        """The row as it was in the file, by header (extra cells as ``extra_N``)."""
        if self.cells is None or self.names is None:
            return {}
        names, width = self.names, len(self.names)
        return {
            (names[i] if i < width else f"extra_{i - width + 1}"): v
            for i, v in enumerate(self.cells)
            if i not in self.skipped
        }


def row_identity(cells: Sequence[str], skipped: Collection[int] = ()) -> str:
    """``r:`` and a digest of the cells in file order (trimmed; a rejects file's own
    columns left out). The same line of the same file has the same identity however its
    columns are mapped, so importing it again with a corrected ``--map`` finds the record
    the first import made of it and updates it (the record's content, not its identity,
    depends on the mapping)."""
    parts = [cell.strip() for i, cell in enumerate(cells) if i not in skipped]
    while parts and not parts[-1]:
        parts.pop()
    text = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return "r:" + hashlib.blake2b(text, digest_size=20).hexdigest()


class _CountingReader(io.RawIOBase):
    """Counts the bytes the decoder pulled, for progress reporting."""

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        # read1: what is there now (a pipe or an upload stream must not block for a full buffer)
        read = getattr(self.raw, "read1", self.raw.read)
        data = read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.count += n
        return n


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _check_encoding(sample: bytes, encoding: str) -> None:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        decoder.decode(sample, final=False)
    except UnicodeError as exc:  # UnicodeDecodeError, or a codec's own (utf-16 without BOM)
        hint = (
            "the file is not UTF-8: re-save it as UTF-8, or declare its encoding "
            "(--encoding cp1252, latin-1, utf-16...)"
            if encoding.replace("-", "").lower().startswith("utf8")
            else f"the file is not valid {encoding}"
        )
        where = (
            f"first bad byte at offset {exc.start}"
            if isinstance(exc, UnicodeDecodeError)
            else str(exc)
        )
        raise ImportFailed(f"{hint} ({where})") from None


class CsvSource:
    """A CSV file opened for import: its column plan, and its rows one at a time."""

    def __init__(
        self,
        stream: IO[bytes],
        *,
        column_map: Mapping[str, str] | None = None,
        encoding: str | None = None,
    ) -> None:
        try:
            encoding = text_encoding(encoding) or "utf-8-sig"
        except ServiceError as exc:
            raise ImportFailed(exc.message) from None
        if encoding.replace("-", "").lower() == "utf8":
            encoding = "utf-8-sig"  # a BOM is accepted either way
        self._counter = _CountingReader(stream)
        buffered = io.BufferedReader(self._counter, buffer_size=SAMPLE_BYTES)
        _check_encoding(buffered.peek(SAMPLE_BYTES)[:SAMPLE_BYTES], encoding)
        self._text = io.TextIOWrapper(buffered, encoding=encoding, errors="strict", newline="")
        try:
            first = self._text.readline()
        except UnicodeError as exc:
            raise ImportFailed(
                f"the file is not valid {encoding} in its header row: declare its encoding"
            ) from exc
        if not first.strip():
            raise ImportFailed("the file is empty or has no header row")
        self.delimiter = _sniff_delimiter(first)
        try:
            header = next(csv.reader([first], delimiter=self.delimiter))
        except csv.Error as exc:
            raise ImportFailed(f"unreadable CSV header: {exc}") from exc
        # a header is kept (metadata keys, warnings): without what no column can hold
        header = [storable(name) for name in header]
        self.plan: ColumnPlan = plan_columns(header, column_map or {})
        if not self.plan.canonical:
            raise ImportFailed("no recognisable columns in the header; map them with --map SRC=DST")
        self._reader = csv.reader(self._text, delimiter=self.delimiter, strict=False)
        self.encoding = encoding

    @property
    def bytes_read(self) -> int:
        return self._counter.count

    @property
    def unknown_columns(self) -> list[str]:
        return [name[:MAX_COLUMN_LABEL] for name in self.plan.unknown.values()]

    def rows(self) -> Iterator[Row]:
        """Every non-blank data row; ``line`` is the physical line it starts on (header = 1)."""
        plan = self.plan
        headers = plan.headers
        width = len(headers)
        previous_end = 1
        try:
            for record in self._reader:
                line = previous_end + 1
                previous_end = self._reader.line_num + 1
                if not any(v.strip() for v in record):
                    continue
                record = [storable(v) for v in record]
                values: dict[str, str] = {}
                metadata: dict[str, str] = {}
                for i, raw in enumerate(record):
                    value = raw.strip()
                    if not value or i in plan.skipped:
                        continue
                    if value[0] == "'" and len(value) > 1 and value[1] in FORMULA_STARTS:
                        value = value[1:]  # undo export's formula neutralisation
                    if (name := plan.canonical.get(i)) is not None:
                        values[name] = value
                    else:
                        label = plan.unknown.get(i) or f"extra_{i - width + 1}"
                        metadata[label] = value
                yield Row(line, values, metadata, record, headers, plan.skipped)
        except UnicodeError as exc:
            raise ImportFailed(
                f"the file is not valid {self.encoding} near line {previous_end + 1}: "
                "declare its encoding (--encoding)"
            ) from exc
        except csv.Error as exc:
            raise ImportFailed(f"unreadable CSV near line {previous_end + 1}: {exc}") from exc


def canonical_record(row: Row) -> dict[str, Any]:
    """The row as the pipeline's raw record: combined columns split, extras in metadata."""
    record: dict[str, Any] = dict(row.values)
    address = record.pop("address", None)
    if address and not any(
        record.get(k) for k in ("address_line1", "city", "postal_code", "region")
    ):
        for key, value in split_address(address).items():
            record.setdefault(key, value)
    elif address:
        row.metadata.setdefault("address", address)
    if row.metadata:
        record["metadata"] = row.metadata
    return record
