"""maillab: a discrete-event network lab of mail hosts that speak real RFC 5321 SMTP.

The public faces are imported lazily, so that ``import maillab.smtp`` stays free of SimPy and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Lab": "maillab.lab",
    "plots": "maillab.plots",
    "sweep": "maillab.sweep",
    "smtp": "maillab.smtp",
    "MaillabError": "maillab.errors",
    "ConfigError": "maillab.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'maillab' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    return module if module_name.endswith("." + name) else getattr(module, name)
