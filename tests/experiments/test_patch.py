"""``skillneuron patch``: k = 0 and identical pairs change nothing; the hooks write the values they are given."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lm_eval
import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "neurons"))
from test_recorder import BASELINE_LIMIT, P, rows  # noqa: E402

from skillneuron_harness.host.bridge import task_folder  # noqa: E402

LIMIT = 6


def make_task(folder: Path, name: str, docs: list[dict]) -> None:
    folder.mkdir(exist_ok=True)
    with (folder / f"{name}.jsonl").open("w") as f:
        f.writelines(json.dumps(d) + "\n" for d in docs)
    (folder / f"{name}.yaml").write_text(
        f"include: {task_folder() / 'templates' / 'sst2_jsonl.yaml'}\ntask: {name}\n"
        f"dataset_kwargs:\n  data_files: {name}.jsonl\nmetadata: {{clean_twin: sst2, perturbation: reverse}}\n")


@pytest.fixture(scope="module")
def setup(tiny_models, tmp_path_factory):
    """A T5 prompt, its sst2 skill neurons, and two paired tasks: verbatim copies and reversed sentences."""
    from lm_eval.tasks import TaskManager

    tmp = tmp_path_factory.mktemp("patch")
    clean = rows("sst2", "validation", LIMIT)
    make_task(tmp / "tasks", "pairs_same", [{**d, "clean_doc_id": (i + 1) % LIMIT}
                                            for i, d in enumerate(clean[1:] + clean[:1])])
    make_task(tmp / "tasks", "pairs_reversed", [{"sentence": " ".join(reversed(d["sentence"].split())),
                                                 "label": d["label"], "clean_doc_id": i} for i, d in enumerate(clean)])
    torch.manual_seed(7)
    save_file({"prompt": torch.randn(P, 32)}, tmp / "prompt.safetensors")
    manager = TaskManager(include_path=str(tmp / "tasks"))
    lm_eval.simple_evaluate(model="prompt_tuned", tasks=["sst2"], limit=LIMIT, device="cpu", task_manager=manager,
                            model_args=f"pretrained={tiny_models['t5']},prompt={tmp / 'prompt.safetensors'},"
                                       f"skill_neurons={tmp / 'sn'},sn_baseline_limit={BASELINE_LIMIT}")
    from skillneuron_harness.host.model import PromptTunedLM

    lm = PromptTunedLM(pretrained=str(tiny_models["t5"]), prompt=str(tmp / "prompt.safetensors"), device="cpu")
    return tmp, manager, lm


def test_k_zero_and_identical_pairs_change_nothing(setup):
    from skillneuron_harness.experiments.patch import run_patch

    tmp, manager, lm = setup
    result = run_patch(lm, "pairs_same", tmp / "sn" / "sst2.safetensors", tmp / "same", percents=[0, 10, 50, 100],
                       manager=manager)
    assert len(result["pairs"]) == LIMIT
    assert all(p["clean_pred"] == p["adv_pred"] for p in result["pairs"])
    for r in result["records"]:  # patching a document with its twin's (identical) values, at any k
        assert r["restored"] == 0 and r["broken"] == 0 and r["adv_changed_fraction"] == 0
    assert {r["control"] for r in result["records"]} == {"skill", "random"}
    assert [r["neurons_per_layer"] for r in result["records"] if r["control"] == "skill"] == [0, 6, 32, 64]
    for name in ("patch.json", "patch.csv", "patch.md", "patch.png"):
        assert (tmp / "same" / name).stat().st_size > 0

    result = run_patch(lm, "pairs_reversed", tmp / "sn" / "sst2.safetensors", tmp / "rev", percents=[0],
                       manager=manager)
    zero = result["records"][0]
    assert zero["restored"] == 0 and zero["broken"] == 0 and zero["adv_changed_fraction"] == 0  # k = 0: unpatched


def test_patch_writes_the_given_values_and_k_zero_is_exact(setup):
    from skillneuron_harness.experiments.patch import score_document
    from skillneuron_harness.host.pair_documents import document_pairs
    from skillneuron_harness.neurons.patching import Patch

    tmp, manager, lm = setup
    points = lm.engine.hook_points
    _, pairs = document_pairs(lm, "pairs_reversed", manager)
    pair = pairs[0]
    _, clean_acts = score_document(lm, pair.clean.group, "prompt")  # (L, P, D)
    pred, adv_acts = score_document(lm, pair.adv.group, "prompt")
    L, _, D = clean_acts.shape
    none = torch.zeros(L, D, dtype=torch.bool)
    assert score_document(lm, pair.adv.group, "prompt", Patch(none, clean_acts, points))[1].equal(adv_acts)
    mask = torch.zeros(L, D, dtype=torch.bool)
    mask[:, ::3] = True
    _, patched = score_document(lm, pair.adv.group, "prompt", Patch(mask, clean_acts, points))
    assert patched[0][:, mask[0]].equal(clean_acts[0][:, mask[0]])  # layer 0: the given values, exactly
    assert patched[0][:, ~mask[0]].equal(adv_acts[0][:, ~mask[0]])  # the others untouched before layer 1
    assert not patched[1:].equal(adv_acts[1:])  # later layers see the change
    hooks = [lm.engine.model.get_submodule(p.module_name)._forward_pre_hooks for p in points]
    assert all(len(h) == 0 for h in hooks)  # removed after the block


def test_patch_outcomes_by_hand():
    from skillneuron_harness.neurons.patching import patch_outcomes

    # pairs: gold, clean pred, adv pred, adv patched, clean patched
    gold = [1, 0, 1, 0]
    clean = [1, 0, 0, 0]  # right, right, wrong, right
    adv = [0, 0, 1, 1]  # flipped: 0, 2, 3
    adv_patched = [1, 0, 1, 0]  # pair 0 restored, pair 2 not, pair 3 restored
    clean_patched = [0, 0, 0, 1]  # correct ones: 0, 1, 3 -> 0 broken, 3 broken
    out = patch_outcomes(clean, adv, gold, adv_patched, clean_patched)
    assert (out["flipped"], out["restored"], out["clean_correct"], out["broken"]) == (3, 2, 3, 2)
    assert out["restored_fraction"] == pytest.approx(2 / 3) and out["adv_changed_fraction"] == 0.5


def test_per_row_positions_are_patched_in_every_row():
    """``last`` / ``mask`` positions: one index per row ([B]); every row gets the document's values."""
    from skillneuron_harness.neurons.capture import HookPoint
    from skillneuron_harness.neurons.patching import Patch

    model = torch.nn.Sequential(torch.nn.Identity(), torch.nn.Linear(4, 2))
    point = HookPoint("layer.0.ffn", 0, "1", "explicit", 4)
    mask = torch.tensor([[True, False, True, False]])  # (L=1, D=4)
    values = torch.tensor([[[10.0, 20.0, 30.0, 40.0]]])  # (L, P'=1, D)
    seen = []
    model[1].register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    x = torch.zeros(2, 3, 4)  # (B, T, D)
    patch = Patch(mask, values, [point])
    with patch.armed(model):
        patch.select = torch.tensor([2, 1])  # row 0 at position 2, row 1 at position 1
        model(x)
    want = torch.zeros(2, 3, 4)
    want[0, 2, [0, 2]] = torch.tensor([10.0, 30.0])
    want[1, 1, [0, 2]] = torch.tensor([10.0, 30.0])
    assert seen[0].equal(want)
    model(x)  # after the block: untouched
    assert seen[1].equal(x)


def test_command_line(setup, tiny_models, tmp_path, capsys):
    from skillneuron_harness.experiments.patch import main

    tmp = setup[0]
    out = tmp_path / "cli"
    code = main(["--model", str(tiny_models["t5"]), "--prompt", str(tmp / "prompt.safetensors"), "--task",
                 "pairs_reversed", "--neurons", str(tmp / "sn" / "sst2.safetensors"), "--out", str(out),
                 "--percents", "0", "50", "--no-random", "--limit", "3", "--include-path", str(tmp / "tasks")])
    assert code == 0, capsys.readouterr().out
    result = json.loads((out / "patch.json").read_text())
    assert len(result["pairs"]) == 3 and [r["percent"] for r in result["records"]] == [0, 50]
    assert "3 pairs, 2 points" in capsys.readouterr().out
    assert main(["--model", str(tiny_models["t5"]), "--task", "sst2", "--neurons", str(tmp / "missing.safetensors"),
                 "--out", str(out)]) != 0
