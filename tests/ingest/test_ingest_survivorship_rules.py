"""The survivorship rules of docs/survivorship.md, one by one, on ``survive`` itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.ingest.survivorship import Observed, survive

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def seen(source: str, minutes: int, notes: str | None = None, **fields) -> Observed:
    metadata = {"notes": notes} if notes else {}
    return Observed(
        source=source, observed_at=T0 + timedelta(minutes=minutes), fields=fields, metadata=metadata
    )


class TestCorroboration:
    def test_more_observations_agreeing_beat_a_newer_one(self):
        result = survive(
            [
                seen("csv", 1, last_name="Nguyen"),
                seen("csv:b", 2, last_name="NGUYEN"),
                seen("csv", 3, last_name="Tran"),
            ]
        )

        assert result.fields["last_name"] == "NGUYEN"

    def test_higher_priority_still_wins_alone(self):
        result = survive(
            [
                seen("csv", 1, first_name="Tom"),
                seen("csv", 2, first_name="Tom"),
                seen("cliniko", 3, first_name="Thomas"),
            ]
        )

        assert result.fields["first_name"] == "Thomas"

    def test_a_newer_variant_backed_by_more_observations_wins(self):
        result = survive(
            [
                seen("csv", 1, first_name="Jonh"),
                seen("csv", 2, first_name="John"),
                seen("whatsapp", 3, first_name="John"),
                seen("sms", 4, first_name="John"),
            ]
        )

        assert result.fields["first_name"] == "John"


class TestVariants:
    @pytest.mark.parametrize(
        ("field", "kept", "variant"),
        [
            ("first_name", "Jonathan", "Jonh"),
            ("first_name", "Isabella", "Isabela"),
            ("first_name", "William", "Will"),
            ("first_name", "Tom", "Thomas"),
            ("first_name", "John", "J."),
            ("last_name", "Smith", "Smyth"),
            ("city", "Bondi Junction", "Bondi Juncton"),
        ],
    )
    def test_a_newer_variant_does_not_replace_the_value(self, field, kept, variant):
        result = survive([seen("csv", 1, **{field: kept}), seen("csv", 2, **{field: variant})])

        assert result.fields[field] == kept
        assert result.conflicts == [(field, "csv", variant, kept)]

    @pytest.mark.parametrize(
        ("field", "old", "new"),
        [
            ("first_name", "J.", "John"),
            ("last_name", "Nguyen", "Tran"),
            ("last_name", "Smith", "Smith-Jones"),
            ("address_line1", "12 Smith St", "14 Smith St"),
            ("email", "kate@example.com", "kate@exmaple.com"),
        ],
        ids=["initial-to-name", "another-name", "double-barrelled", "another-number", "email"],
    )
    def test_a_newer_value_that_is_no_variant_replaces_it(self, field, old, new):
        result = survive([seen("csv", 1, **{field: old}), seen("csv", 2, **{field: new})])

        assert result.fields[field] == new

    def test_the_newest_manual_edit_holds_even_when_it_looks_like_a_typo(self):
        result = survive(
            [seen("manual", 1, last_name="Smith"), seen("manual", 2, last_name="Smyth")]
        )

        assert result.fields["last_name"] == "Smyth"


class TestNotes:
    def test_notes_accumulate_newest_first_per_source(self):
        result = survive(
            [
                seen("csv", 1, notes="Left knee ACL rehab", first_name="Kate"),
                seen("cliniko", 2, notes="Allergic to latex", first_name="Kate"),
                seen("csv", 3, notes="Prefers mornings", first_name="Kate"),
            ]
        )

        assert result.metadata["notes"] == (
            "Prefers mornings\nAllergic to latex\nLeft knee ACL rehab"
        )
        assert result.metadata["notes_by_source"] == {
            "csv": ["Prefers mornings", "Left knee ACL rehab"],
            "cliniko": ["Allergic to latex"],
        }

    def test_a_note_already_contained_in_another_is_not_repeated(self):
        # given: an exported file (notes joined) imported back next to the original records
        result = survive(
            [
                seen("csv", 1, notes="Left knee ACL rehab"),
                seen("csv", 2, notes="Prefers mornings"),
                seen("csv:export", 3, notes="Prefers mornings\nLeft knee ACL rehab"),
            ]
        )

        assert result.metadata["notes"] == "Prefers mornings\nLeft knee ACL rehab"

    def test_a_single_note_keeps_its_shape(self):
        result = survive([seen("csv", 1, notes="Left knee ACL rehab", first_name="Kate")])

        assert result.metadata == {
            "notes": "Left knee ACL rehab",
            "notes_by_source": {"csv": ["Left knee ACL rehab"]},
        }
