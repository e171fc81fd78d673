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


class TestCommandOutput:
    def test_a_command_prints_its_answer_and_its_progress_logs_only_when_asked(
        self, cli, database_url, tmp_path, monkeypatch
    ):
        # given a database
        monkeypatch.delenv("CRM_LOG_LEVEL", raising=False)
        database_url(f"sqlite:///{tmp_path / 'crm.db'}")
        assert cli("db", "upgrade").exit_code == 0

        # when a command runs as a user types it
        quiet = cli("org", "create", "Quiet Clinic")

        # then its answer is on stdout and no INFO log line is on stderr
        assert quiet.exit_code == 0
        assert quiet.stdout.strip()
        assert "crm.org.created" not in quiet.stderr

        # when the user asks for the logs
        monkeypatch.setenv("CRM_LOG_LEVEL", "INFO")
        loud = cli("org", "create", "Loud Clinic")

        # then they are there
        assert loud.exit_code == 0
        assert "crm.org.created" in loud.stderr
