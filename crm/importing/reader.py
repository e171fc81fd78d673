"""Stream a CSV file as canonical rows, with line numbers, in bounded memory.

UTF-8 with or without a BOM by default (another encoding must be declared), delimiter
sniffed from the header line (comma, semicolon, tab), RFC 4180 quoting.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from crm.errors import ErrorCode, ServiceError
from crm.identity.placeholders import PLACEHOLDER_STARTS, is_placeholder
from crm.importing.address import split_address
from crm.importing.columns import ColumnPlan, plan_columns
from crm.importing.pet_columns import PET_COLUMNS
from crm.importing.sniff import sample_rows
from crm.importing.validation import text_encoding
from crm.ingest.observation import FieldIssue, storable

SAMPLE_BYTES = 64 * 1024
NEWLINE = b"\n"
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
    # what makes the row unreadable as a row (a quote that swallowed the lines after it):
    # it is rejected with this, never normalised
    problem: FieldIssue | None = None
    # ``identity``, once computed (it is asked for twice per row)
    known_identity: str | None = None
    # the row's pet columns (docs/pets.md), apart from the owner's ``values``; None without
    pet: dict[str, str] | None = None

    @property
    def identity(self) -> str | None:
        """The row's source id when it has no ``external_id``: its cells as in the file, in
        order, whatever the header says or the columns were mapped to (``row_identity``);
        None for a row not read from a file."""
        if self.known_identity is None and self.cells is not None:
            self.known_identity = row_identity(self.cells, self.skipped)
        return self.known_identity

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
    """``r:`` and a digest of the cells in file order (trimmed, as the values imported are;
    a rejects file's own columns left out). The same line of the same file has the same
    identity however its columns are mapped, so importing it again with a corrected
    ``--map`` finds the record the first import made of it and updates it (the record's
    content, not its identity, depends on the mapping)."""
    if skipped:
        parts = [cell.strip() for i, cell in enumerate(cells) if i not in skipped]
    else:
        parts = [cell.strip() for cell in cells]
    while parts and not parts[-1]:  # a trailing delimiter more or less is the same line
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
            f"first bad byte on line {sample.count(NEWLINE, 0, exc.start) + 1}, offset {exc.start}"
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
        region: str | None = None,
    ) -> None:
        try:
            encoding = text_encoding(encoding) or "utf-8-sig"
        except ServiceError as exc:
            raise ImportFailed(exc.message) from None
        if encoding.replace("-", "").lower() == "utf8":
            encoding = "utf-8-sig"  # a BOM is accepted either way
        self._counter = _CountingReader(stream)
        buffered = io.BufferedReader(self._counter, buffer_size=SAMPLE_BYTES)
        peeked = buffered.peek(SAMPLE_BYTES)[:SAMPLE_BYTES]
        _check_encoding(peeked, encoding)
        # bytes the encoding cannot decode become lone surrogates, found on the row they are
        # on (``rows``): the error names that line, not the end of a decoder's chunk
        self._text = io.TextIOWrapper(buffered, encoding=encoding, errors=_ESCAPE, newline="")
        self._escapes_before = _escapes[0]
        try:
            first = self._text.readline()
        except UnicodeError as exc:
            raise ImportFailed(
                f"the file is not valid {encoding} in its header row: declare its encoding"
            ) from exc
        if _SURROGATES.search(first):
            raise ImportFailed(
                f"the file is not valid {encoding} in its header row: declare its encoding"
            )
        if not first.strip():
            raise ImportFailed("the file is empty or has no header row")
        self.delimiter = _sniff_delimiter(first)
        try:
            header = next(csv.reader([first], delimiter=self.delimiter))
        except csv.Error as exc:
            raise ImportFailed(f"unreadable CSV header: {exc}") from exc
        # a header is kept (metadata keys, warnings): without what no column can hold
        header = [storable(name) for name in header]
        # the rows in what was peeked: headers that say nothing are read by their values
        sample = sample_rows(
            peeked.decode(encoding, errors="ignore"),
            self.delimiter,
            truncated=len(peeked) >= SAMPLE_BYTES,
        )
        self.plan: ColumnPlan = plan_columns(header, column_map or {}, sample=sample, region=region)
        if not self.plan.canonical:
            raise ImportFailed("no recognisable columns in the header; map them with --map SRC=DST")
        self._reader = csv.reader(self._text, delimiter=self.delimiter, strict=False)
        self.encoding = encoding
        # why reading stopped before the end of the file (a line the encoding cannot read):
        # the rows before it are imported, then the job fails with this
        self.failure: ImportFailed | None = None

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
        shown = "UTF-8" if self.encoding == "utf-8-sig" else self.encoding
        width = len(headers)
        pet_columns = [c for c in PET_COLUMNS if c in plan.canonical.values()]
        # a row per pet, its owner repeated: the owner's line identity leaves the pet cells
        # out, so the owner's rows are one source record, as their content is one
        owner_only = frozenset(plan.skipped) | {
            i for i, name in plan.canonical.items() if name in PET_COLUMNS
        }
        previous_end = 1
        try:
            for record in self._reader:
                line = previous_end + 1
                previous_end = self._reader.line_num + 1
                if not any(v.strip() for v in record):
                    continue
                # rows are checked only once the decoder has escaped a byte (in any import:
                # the count is the process's), so a clean file pays nothing for it
                if _escapes[0] != self._escapes_before and _undecodable(record):
                    self.failure = ImportFailed(
                        f"the file is not valid {shown} at line {line}: the rows before "
                        "it were imported, none from it on; fix that line or declare the file's "
                        "encoding (--encoding), then import the file again (the rows imported "
                        "already come back unchanged)"
                    )
                    return
                record = [storable(v) for v in record]
                problem = None
                if previous_end > line and width > 2:
                    problem = _swallowed(record, headers, line, previous_end, self.delimiter)
                values: dict[str, str] = {}
                metadata: dict[str, str] = {}
                for i, raw in enumerate(record):
                    value = raw.strip()
                    if not value or i in plan.skipped:
                        continue
                    if value[0] == "'" and len(value) > 1 and value[1] in FORMULA_STARTS:
                        value = value[1:]  # undo export's formula neutralisation
                    if (name := plan.canonical.get(i)) is not None:
                        if value[0] in PLACEHOLDER_STARTS and is_placeholder(value):
                            continue  # "n/a", "-", "0"...: no value, not an invalid one
                        values[name] = value
                    else:
                        label = plan.unknown.get(i) or f"extra_{i - width + 1}"
                        metadata[label] = value
                row = Row(line, values, metadata, record, headers, plan.skipped, problem)
                if pet_columns:
                    pet = {c: values.pop(c) for c in pet_columns if c in values}
                    row.pet = pet or None
                    row.known_identity = row_identity(record, owner_only)
                yield row
        except UnicodeError as exc:
            raise ImportFailed(
                f"the file is not valid {self.encoding} near line {previous_end + 1}: "
                "declare its encoding (--encoding)"
            ) from exc
        except csv.Error as exc:
            raise ImportFailed(f"unreadable CSV near line {previous_end + 1}: {exc}") from exc


_SURROGATES = re.compile("[\ud800-\udfff]")
# how many times a decoder of this process met bytes its encoding cannot read
_escapes = [0]
_ESCAPE = "crm-import-escape"


def _escape(exc: UnicodeError) -> tuple[str, int]:
    """``surrogateescape``, counted: the bad bytes become lone surrogates, found on the
    line they are on."""
    _escapes[0] += 1
    return codecs.lookup_error("surrogateescape")(exc)


codecs.register_error(_ESCAPE, _escape)


def _undecodable(record: list[str]) -> bool:
    joined = "\x1f".join(record)
    return not joined.isascii() and _SURROGATES.search(joined) is not None


def _swallowed(
    record: list[str], headers: list[str], line: int, end: int, delimiter: str
) -> FieldIssue | None:
    """A field spanning lines of which one has a whole row's delimiters: a quote that was
    never closed swallowed the lines after it (a legitimate multi-line field, an address
    or a note, has no line that looks like a row)."""
    needed = len(headers) - 1
    for i, cell in enumerate(record):
        if "\n" not in cell and "\r" not in cell:
            continue
        inner = cell.splitlines()[1:]
        if any(part.count(delimiter) >= needed for part in inner):
            column = headers[i] if i < len(headers) else f"extra_{i - len(headers) + 1}"
            lines = end - line
            return FieldIssue(
                ErrorCode.UNBALANCED_QUOTE.value,
                column[:MAX_COLUMN_LABEL],
                f"a quote opened in this field on line {line} is not closed before the end "
                f"of its row: it swallowed the {lines} line{'s' if lines != 1 else ''} after "
                f"it (lines {line + 1} to {end}), which were not imported; close or remove "
                "the quote and import the file again",
            )
    return None


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
