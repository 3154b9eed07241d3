"""The README opens with exactly two set-up commands, and CI runs the second one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    assert block is not None, "README.md has no code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.index("```")
    assert "pip" not in text[:first_block], "nothing runnable may come before the two commands"
    install_and_demo, install_and_test = readme_commands()
    assert "pip install ." in install_and_demo and "maillab demo" in install_and_demo
    assert "pip install '.[test]'" in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command():
    printed = subprocess.run([str(ROOT / ".ci" / "run"), "--print"], capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == readme_commands()[1]


def test_test_extra_installs_what_the_tests_import():
    pyproject = (ROOT / "pyproject.toml").read_text()
    for package in ("pytest", "hypothesis", "aiosmtpd", "nbclient", "ipykernel"):
        assert f'"{package}' in pyproject, f"{package} missing from pyproject.toml"
