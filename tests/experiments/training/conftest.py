"""A tiny multiple-choice task (and two untrainable ones) read from local JSONL, for the trainer tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SST2 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "sst2"

TEMPLATE = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
{files}
output_type: {output_type}
{splits}
doc_to_text: "{{{{sentence}}}}\\nQuestion: Is this sentence positive or negative?\\nAnswer:"
doc_to_target: {target}
{choice}
metric_list:
  - metric: {metric}
"""


def _rows(path: Path, n: int) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for _, line in zip(range(n), f, strict=False)]


@pytest.fixture(scope="session")
def task_folder(tmp_path_factory) -> Path:
    """YAMLs: tiny_sst2 (64 train, 24 validation docs), tiny_gen (generate_until), tiny_notrain (no train)."""
    root = tmp_path_factory.mktemp("tasks")
    for split, n in (("train", 64), ("validation", 24)):
        rows = [{"sentence": r["sentence"], "label": r["label"]} for r in _rows(SST2 / f"{split}.jsonl", n)]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    files = f"    train: {root / 'train.jsonl'}\n    validation: {root / 'validation.jsonl'}"
    both = "training_split: train\nvalidation_split: validation"
    mc = {"output_type": "multiple_choice", "target": "label", "choice": 'doc_to_choice: ["negative", "positive"]',
          "metric": "acc", "files": files}
    (root / "tiny_sst2.yaml").write_text(TEMPLATE.format(name="tiny_sst2", splits=both, **mc), encoding="utf-8")
    (root / "tiny_notrain.yaml").write_text(
        TEMPLATE.format(name="tiny_notrain", splits="validation_split: validation", **mc), encoding="utf-8")
    gen = {"output_type": "generate_until", "target": '"{{label}}"', "choice": "", "metric": "exact_match",
           "files": files}
    (root / "tiny_gen.yaml").write_text(TEMPLATE.format(name="tiny_gen", splits=both, **gen), encoding="utf-8")
    return root
