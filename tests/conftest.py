"""Session fixtures: the offline datasets cache and the tiny models.

The offline cache is built from ../shared/data by ../shared/tools/offline_hf_cache.py under the
real Hub ids; the environment variables are set here, before anything imports ``datasets``, so
that both in-process loading and CLI subprocesses use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent))

_CACHE = Path(os.environ.get("SKILLNEURON_TEST_HF_CACHE", Path(tempfile.gettempdir()) / "skillneuron-test-hf-cache"))
os.environ.update(
    HF_DATASETS_CACHE=str(_CACHE),
    HF_DATASETS_OFFLINE="1",
    HF_HUB_OFFLINE="1",
    TRANSFORMERS_OFFLINE="1",
    TOKENIZERS_PARALLELISM="false",
    HF_HUB_DISABLE_PROGRESS_BARS="1",
)


def pytest_configure(config):
    subprocess.run([sys.executable, str(SHARED / "tools" / "offline_hf_cache.py"), str(_CACHE)], check=True,
                   stdout=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Paths of tiny random models: t5, bert, roberta, gpt2, llama (see tiny_models.py)."""
    from tiny_models import build_all

    return build_all(tmp_path_factory.mktemp("tiny_models"))


@pytest.fixture(scope="session")
def task_manager():
    """One TaskManager for the session (indexing lm-eval's task folders takes seconds); it sees our
    task folder through the package's lm-eval bridge."""
    from lm_eval.tasks import TaskManager

    return TaskManager()
