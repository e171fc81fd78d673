"""What the pipeline writes reads back exactly, whatever characters the values hold.

On PostgreSQL the rows go in as COPY text built by the project (``crm.db.bulk_insert``), so
the values that COPY must escape are worth a test of their own.
"""

import pytest

TRICKY = [
    "tab\there",
    "two\nlines",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    'quote "q"',
    "Zoë O'Brien-Łukasz",
    "emoji 🙂",
]


class TestWrittenValues:
    @pytest.mark.parametrize("value", TRICKY)
    def test_a_value_reads_back_as_it_was_written(self, observe, run, rows, value):
        # given a record whose free text and unknown columns hold characters COPY escapes
        obs = observe(
            external_id="P1",
            first_name="Anna",
            last_name=f"Smith {value}",
            email="anna@example.com",
            notes=f"note {value}",
            metadata={f"col {value}": f"meta {value}"},
        )
        # when it is ingested
        run(obs)
        # then every copy of the value reads back unchanged
        (contact,) = rows.contacts()
        # (names have their whitespace collapsed)
        assert contact.last_name == " ".join(f"Smith {value}".split())
        (record,) = rows.records()
        assert record.payload["last_name"] == f"Smith {value}"
        assert record.normalized["metadata"]["notes"] == f"note {value}"
        assert record.normalized["metadata"][f"col {value}"] == f"meta {value}"
        assert contact.attributes[f"col {value}"] == f"meta {value}"
        (created,) = [e for e in rows.events() if e.kind == "created"]
        assert created.data["fields"]["last_name"] == contact.last_name

    def test_nulls_and_empty_values_stay_apart(self, observe, run, rows):
        # given a record with a value that is NULL and one that is the text "\N"
        obs = observe(external_id="P2", first_name="\\N", email="n@example.com")
        # when it is ingested
        run(obs)
        # then the name is the text, and the fields it lacks are NULL
        (contact,) = rows.contacts()
        assert contact.first_name == "\\N"
        assert contact.last_name is None
        assert contact.date_of_birth is None
