"""Import the shared ESPN module, wherever this service runs.

The module lives once, in the integration (``custom_components/ha_ingestor/espn.py``). The Docker
image copies that single file next to this package, so ``import espn`` works there. Natively (from a
repository checkout) it is loaded by file path, without putting the integration folder on
``sys.path`` (its other modules import Home Assistant).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING


def _load() -> object:
    try:
        return importlib.import_module("espn")  # the Docker image: /app/espn.py
    except ImportError:
        pass
    override = os.environ.get("SPORTS_WEBHOOKS_ESPN_MODULE")
    path = (
        Path(override)
        if override
        else Path(__file__).resolve().parents[3] / "custom_components" / "ha_ingestor" / "espn.py"
    )
    spec = importlib.util.spec_from_file_location("espn", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ImportError(f"shared ESPN module not found at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["espn"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    from custom_components.ha_ingestor import espn
else:
    espn = _load()

__all__ = ["espn"]
