"""A manual edit holds against sources ranked at or below manual, in the organization's order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm.ingest.survivorship import Observed, survive

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def seen(source: str, minutes: int, last_name: str) -> Observed:
    return Observed(
        source=source, observed_at=T0 + timedelta(minutes=minutes), fields={"last_name": last_name}
    )


class TestManualPriorityOverride:
    @pytest.mark.parametrize(
        ("overrides", "newer", "kept"),
        [
            (None, "cliniko", "Newer"),  # by default only a newer PMS record replaces an edit
            (None, "whatsapp", "Manual"),
            ({"manual": 50}, "cliniko", "Manual"),  # manual ranked above the PMS
            ({"manual": 25}, "whatsapp", "Newer"),  # manual ranked below direct messages
            ({"manual": 25}, "csv", "Manual"),
            ({"cliniko": 30}, "cliniko", "Manual"),  # the PMS ranked below manual
        ],
    )
    def test_a_newer_observation_replaces_an_edit_only_from_a_source_ranked_above_manual(
        self, overrides, newer, kept
    ):
        # when
        result = survive(
            [seen("cliniko", 0, "Pms"), seen("manual", 1, "Manual"), seen(newer, 2, "Newer")],
            overrides=overrides,
        )

        # then
        assert result.fields["last_name"] == kept
