"""The benchmarks' shared set-up: the offline datasets cache built from ../shared/data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def offline_datasets(cache: Path) -> None:
    """Build the offline datasets cache under ``cache`` and point ``datasets`` at it."""
    subprocess.run([sys.executable, str(SHARED / "tools" / "offline_hf_cache.py"), str(cache)], check=True,
                   stdout=subprocess.DEVNULL)
    os.environ.update(HF_DATASETS_CACHE=str(cache), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
                      TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
