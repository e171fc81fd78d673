"""The user guide lists the recognised headers from the code: it cannot go stale."""

from __future__ import annotations

from pathlib import Path

from crm.importing.columns import markdown

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "preparing-a-file.md"
BEGIN, END = "<!-- columns:begin -->\n", "<!-- columns:end -->"


def test_the_guide_lists_the_headers_the_code_recognises():
    text = GUIDE.read_text(encoding="utf-8")
    listed = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert listed == markdown(), (
        "docs/guide/preparing-a-file.md is stale: replace the table between the markers with "
        "the output of `python -m crm.importing.columns --markdown`"
    )
