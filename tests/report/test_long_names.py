"""``skillneuron report`` on names a file system cannot take as they are, and on an --out that is a file."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import torch

from skillneuron_harness.cli import main as cli
from skillneuron_harness.neurons.io import write_task_stats

MODEL = "模型" * 50  # 100 characters, 300 bytes in UTF-8: over the 255 bytes of a file name
L, P, D, N = 2, 3, 50, 40


def _runs(root, model: str):
    for i in range(2):
        prompt = f"/p/prompt{i}"
        data = {"results": {t: {"alias": t, "acc,none": 0.8 - 0.1 * i, "acc_stderr,none": 0.05}
                            for t in ("sst2", "adv_sst2")},
                "configs": {t: {"task": t, "doc_to_choice": ["negative", "positive"],
                                "metadata": {"clean_twin": "sst2"} if t == "adv_sst2" else {}}
                            for t in ("sst2", "adv_sst2")},
                "config": {"model": "prompt_tuned", "model_args": f"pretrained={model}", "pretrained": model,
                           "prompt_source": prompt, "prompt_sha256": f"sha{i}"}}
        (root / f"run{i}").mkdir(parents=True)
        (root / f"run{i}" / "results_2026-01-01T00-00-00.json").write_text(json.dumps(data))
        for task in ("sst2", "adv_sst2"):
            fire = torch.randint(0, N // 2 + 1, (2, L, P, D), generator=torch.Generator().manual_seed(i))
            write_task_stats(root / f"neurons{i}", task, baseline=torch.zeros(L, P, D), fire_counts=fire,
                             class_counts=torch.tensor([N // 2, N // 2]),
                             provenance={"model": model, "prompt": prompt, "prompt_sha256": f"sha{i}",
                                         "clean_twin": "sst2" if task == "adv_sst2" else None})
    return root


def test_a_long_cjk_model_name_makes_figures_with_short_distinct_names(tmp_path, capsys):
    runs = _runs(tmp_path / "runs", MODEL)
    other = _runs(tmp_path / "runs2", MODEL[:-1] + "X")  # the same first 40 characters: still two files
    assert len(f"scores_{MODEL}_sst2.png".encode()) > 255
    assert cli(["report", str(runs), str(other), "--out", str(tmp_path / "report")]) == 0
    figures = sorted((tmp_path / "report" / "figures").glob("scores_*.png"))
    assert figures and all(len(f.name.encode()) <= 255 for f in figures)
    assert len({f.name for f in figures}) == len(figures) == 4  # two models x two tasks
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert all(f"figures/{quote(f.name)}" in report for f in figures)


@pytest.mark.parametrize("out", ["file", "file/sub"])
def test_an_out_that_is_a_file_is_one_line(out, tmp_path, capsys):
    runs = _runs(tmp_path / "runs", "org/m")
    (tmp_path / "file").write_text("not a folder")
    assert cli(["report", str(runs), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"skillneuron report: --out {tmp_path / out}: ")
    assert "is a file" in err[0]
    assert (tmp_path / "file").read_text() == "not a folder"
