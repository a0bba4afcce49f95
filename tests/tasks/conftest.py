"""Fixtures for the task-suite tests: our task index, a fuller offline cache, task loading.

The shared data mirror holds every split our task YAMLs declare (training splits as samples),
but not PAWS-X, which lm-eval's ``transfer_paraphrase`` member ``paws_en`` needs. ``full_hf_cache``
is the session cache plus a few *synthetic* rows for exactly the datasets the mirror lacks (never
for a split the tests measure, and never in place of a split the mirror has), so that whole groups
can be built and run offline. Evaluation splits always come from the mirror.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from suite_names import CLEAN_TWINS, OUR_TASKS

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT.parent / "shared" / "tools" / "offline_hf_cache.py"

# (hub id, config) -> {missing split: columns of a synthetic row}; the mirror's own splits are kept.
SYNTHETIC_SPLITS: dict[tuple[str, str], dict[str, dict]] = {
    ("google-research-datasets/paws-x", "en"): {
        split: {"id": 0, "sentence1": "A synthetic sentence.", "sentence2": "Another synthetic sentence."}
        for split in ("train", "validation", "test")
    },
}

# Hub ids without a namespace that another lm-eval names for a dataset above: lm-eval next0.5's paws-x
# template reads `paws-x`, the id the dataset had before it moved to google-research-datasets/.
LEGACY_IDS = {"paws-x": "google-research-datasets/paws-x"}


def _load_tool():
    spec = importlib.util.spec_from_file_location("offline_hf_cache_for_tasks", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def full_hf_cache(tmp_path_factory) -> Path:
    """A datasets cache: the session's mirror cache plus synthetic rows for the missing splits."""
    session_cache = Path(os.environ["HF_DATASETS_CACHE"])
    cache = tmp_path_factory.mktemp("full-hf-cache")
    rows_dir = tmp_path_factory.mktemp("synthetic-rows")
    tool = _load_tool()
    layout = {}
    for (repo_id, config), extra in SYNTHETIC_SPLITS.items():
        splits = {split: str(tool.DATA / rel) for split, rel in tool.LAYOUT.get((repo_id, config), {}).items()}
        for split, columns in extra.items():
            if split in splits:  # the mirror has it: real rows win
                continue
            path = rows_dir / f"{repo_id.replace('/', '__')}-{config}-{split}.jsonl"
            labels = (0, 1, 2) if "premise" in columns else (0, 1)
            path.write_text("".join(json.dumps({**columns, "label": label}) + "\n" for label in labels * 2))
            splits[split] = str(path)
        layout[(repo_id, config)] = splits
    # Everything else is shared with the session cache through links.
    for dataset_dir in session_cache.iterdir():
        if not dataset_dir.is_dir() or "___" not in dataset_dir.name:
            continue
        (cache / dataset_dir.name).mkdir(exist_ok=True)
        for config_dir in dataset_dir.iterdir():
            namespace, name = dataset_dir.name.split("___")
            if (f"{namespace}/{name}", config_dir.name) not in layout:
                (cache / dataset_dir.name / config_dir.name).symlink_to(config_dir)
    tool.LAYOUT = layout
    tool.build(cache)
    for legacy, repo_id in LEGACY_IDS.items():  # the same cached rows under the id another lm-eval names
        (cache / legacy).symlink_to(cache / repo_id.replace("/", "___"), target_is_directory=True)
    return cache


@pytest.fixture
def use_full_cache(full_hf_cache, monkeypatch):
    """Make in-process ``datasets`` loading read ``full_hf_cache``."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", full_hf_cache)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(full_hf_cache))
    return full_hf_cache


@pytest.fixture(scope="session")
def loaded_tasks(full_hf_cache, task_manager):
    """Our tasks and their clean twins, built once from ``full_hf_cache``: {name: Task}."""
    import datasets

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", full_hf_cache)
        names = OUR_TASKS + sorted(set(CLEAN_TWINS.values()) - set(OUR_TASKS))
        tasks = task_manager.load(names)["tasks"]
        for task in tasks.values():
            task.dataset  # noqa: B018  (next0.5 loads a task's dataset when first read: here, from this cache)
        return tasks
