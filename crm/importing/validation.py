"""An import's inputs checked before a job is recorded: the encoding the file is declared in,
the name it was uploaded under, and CSV given as text.

Whatever a client sends here ends up in a job row and in the reader, so each is either made
safe to keep (a filename of any length, text with characters no database can hold) or refused
with a coded error (an encoding the reader cannot read a file with).
"""

from __future__ import annotations

import codecs
import io

from crm.errors import ErrorCode, ServiceError
from crm.ingest.observation import storable

# the length of ImportJob.filename
MAX_FILENAME = 500
MAX_ENCODING_NAME = 64
# text codecs that do not read a file's bytes as characters: punycode and idna encode domain
# names, "undefined" refuses everything
_NOT_FILE_ENCODINGS = frozenset({"punycode", "idna", "undefined"})
ENCODING_HINT = "name a character encoding such as utf-8, cp1252, latin-1 or utf-16"


def text_encoding(name: str | None) -> str | None:
    """``name`` (trimmed) when it is a character encoding a CSV file can be read in, None when
    none was given, else INVALID_INPUT on ``encoding``.

    Codecs that are not character encodings (rot13, base64, hex, zip, bz2...) are refused
    here rather than failing inside the reader.
    """
    if name is None or not name.strip():
        return None
    name = name.strip()
    shown = repr(name[:MAX_ENCODING_NAME])
    if len(name) > MAX_ENCODING_NAME or not name.isprintable():
        raise _bad_encoding(f"unknown encoding {shown}: {ENCODING_HINT}")
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        raise _bad_encoding(f"unknown encoding {shown}: {ENCODING_HINT}") from None
    try:
        # the io module's own test of a text encoding (it refuses bytes-to-bytes codecs)
        io.TextIOWrapper(io.BytesIO(), encoding=name)
    except LookupError:
        raise _bad_encoding(f"{shown} is not a character encoding: {ENCODING_HINT}") from None
    if info.name in _NOT_FILE_ENCODINGS:
        raise _bad_encoding(f"{shown} is not a file encoding: {ENCODING_HINT}")
    return name


def _bad_encoding(message: str) -> ServiceError:
    return ServiceError(ErrorCode.INVALID_INPUT, message, field="encoding")


def upload_filename(name: str | None) -> str | None:
    """An uploaded file's name as a job keeps it: without characters no column can hold,
    and its last ``MAX_FILENAME`` characters when longer (the end names the file best)."""
    if name is None:
        return None
    name = storable(name).strip()
    if len(name) > MAX_FILENAME:
        name = "…" + name[-(MAX_FILENAME - 1) :]
    return name or None


def csv_text_bytes(text: str) -> bytes:
    """CSV given as text (GraphQL ``csv``), as the UTF-8 file the reader reads.

    JSON can carry a lone surrogate ("\\ud800"), which UTF-8 cannot encode; like a NUL, it is
    dropped, as the reader drops both from every cell of a file.
    """
    return storable(text).encode("utf-8")
