"""``make shell``: a shell in which ``crm`` is the venv's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class TestMakeShell:
    def test_crm_is_on_the_path_of_the_shell_it_opens(self):
        # given
        make = shutil.which("make")
        if make is None:
            pytest.skip("make is not installed")
        venv_bin = Path(sys.executable).parent
        if not (ROOT / ".venv" / "bin" / "crm").exists() or venv_bin != ROOT / ".venv" / "bin":
            pytest.skip("the suite runs outside the project's .venv")
        env = {**os.environ, "SHELL": "/bin/sh", "PATH": "/usr/bin:/bin"}

        # when
        result = subprocess.run(
            [make, "-s", "shell"],
            cwd=ROOT,
            env=env,
            input="command -v crm\nexit\n",
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

        # then
        assert result.returncode == 0, result.stderr
        assert str(ROOT / ".venv" / "bin" / "crm") in result.stdout
