"""The asyncio tests run coroutines with asyncio.run (no pytest-asyncio plugin); their shared
helpers live in loop_helpers.py, next to this file."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
