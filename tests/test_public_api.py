"""The top-level public API is what notebooks use: it stays importable and lazy."""

from __future__ import annotations

import subprocess
import sys

import maillab


def test_every_public_name_resolves():
    assert set(maillab.__all__) == {"__version__", "Lab", "plots", "sweep", "smtp", "MaillabError", "ConfigError"}
    for name in maillab.__all__:
        assert getattr(maillab, name) is not None
    assert callable(maillab.sweep) and callable(maillab.Lab.from_file)
    assert issubclass(maillab.ConfigError, maillab.MaillabError)


def test_importing_maillab_loads_no_simulation_or_plotting():
    code = "import sys, maillab; print(sorted(m for m in ('simpy', 'pandas', 'matplotlib', 'dask') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
