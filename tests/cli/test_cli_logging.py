from __future__ import annotations

from crm.logging import configure_logging, get_logger


class TestLogging:
    def test_events_go_to_stderr_with_personal_details_masked(self, capsys):
        # given
        configure_logging()

        # when
        get_logger("crm.test").info(
            "crm.test.logged", contact_id="c-1", email="kate@example.com", phone="+61412345678"
        )

        # then
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "crm.test.logged" in captured.err
        assert "c-1" in captured.err
        assert "kate@example.com" not in captured.err
        assert "+61412345678" not in captured.err
