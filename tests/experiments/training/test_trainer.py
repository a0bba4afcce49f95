"""The trainer against independent references: plain peft for the adapter, lm-eval for accuracy."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from skillneuron_harness.experiments.training import TrainConfig, train, trainer
from skillneuron_harness.experiments.training.cli import main as cli_main
from skillneuron_harness.experiments.training.data import encode_docs, load_task, subset, task_manager
from skillneuron_harness.experiments.training.trainer import batch_loss, evaluate, load_model

# 64 training docs in batches of 16: 4 steps per epoch.
SMALL = {"task": "tiny_sst2", "num_virtual_tokens": 4, "batch_size": 16, "eval_batch_size": 24, "seed": 33}


def _config(tiny_models, task_folder, output, model="t5", **overrides):
    return TrainConfig(model=str(tiny_models[model]), output=str(output), include_path=[str(task_folder)],
                       **{**SMALL, **overrides})


def _prompt(folder) -> torch.Tensor:
    return load_file(str(folder / "adapter_model.safetensors"))["prompt_embeddings"]


def _final_prompt(folder) -> torch.Tensor:
    return torch.load(folder / "checkpoint" / "state.pt", weights_only=True)["prompt"]


@pytest.fixture(scope="module")
def t5_runs(tiny_models, task_folder, tmp_path_factory):
    """Two uninterrupted 2-epoch runs (one through the CLI), and a run that stops at max_steps=3, resumes,
    crashes in epoch 2 and resumes again."""
    root = tmp_path_factory.mktemp("runs")
    args = ["--model", str(tiny_models["t5"]), "--task", "tiny_sst2", "--num-virtual-tokens", "4", "--epochs", "2",
            "--batch-size", "16", "--eval-batch-size", "24", "--seed", "33", "--include-path", str(task_folder),
            "--output", str(root / "cli")]
    assert cli_main(args) == 0
    again = train(_config(tiny_models, task_folder, root / "again", epochs=2))
    stopped = train(_config(tiny_models, task_folder, root / "resumed", epochs=2, max_steps=3))
    calls = []

    def crash_at_step_6(pm, batch):  # steps 4 and 5 here (steps 1-3 were done), then the crash
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return batch_loss(pm, batch)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "batch_loss", crash_at_step_6)
        with pytest.raises(KeyboardInterrupt):
            train(_config(tiny_models, task_folder, root / "resumed", epochs=2))
    crashed = torch.load(root / "resumed" / "checkpoint" / "state.pt", weights_only=True)
    resumed = train(_config(tiny_models, task_folder, root / "resumed", epochs=2))
    return root, again, stopped, crashed, resumed


def test_same_seed_gives_bitwise_the_same_prompt(t5_runs):
    root, again, *_ = t5_runs
    assert again.steps == 8
    assert torch.equal(_final_prompt(root / "cli"), _final_prompt(root / "again"))
    assert torch.equal(_prompt(root / "cli"), _prompt(root / "again"))


def test_resume_equals_uninterrupted_run(t5_runs):
    root, again, stopped, crashed, resumed = t5_runs
    assert stopped.steps == 3 and len(stopped.history) == 1  # max_steps stops mid-epoch, after a validation
    assert json.loads(crashed["state"])["step"] == 4  # the finished first epoch survived the crash
    assert resumed.steps == 8
    assert torch.equal(_final_prompt(root / "resumed"), _final_prompt(root / "again"))
    # The same validations at the ends of epochs (the run that stopped at step 3 has one more).
    keys = ("step", "epoch", "validation_accuracy", "validation_loss")
    assert [[r[k] for k in keys] for r in resumed.history if r["step"] != 3] == [[r[k] for k in keys]
                                                                                for r in again.history]
    uninterrupted = (root / "again" / "train_log.jsonl").read_text().splitlines()
    log = (root / "resumed" / "train_log.jsonl").read_text().splitlines()
    steps = [json.loads(line) for line in log if "loss" in json.loads(line)]
    assert [r["step"] for r in steps] == list(range(1, 9))  # the crashed epoch's lines were dropped
    assert steps == [json.loads(line) for line in uninterrupted if "loss" in json.loads(line)]


def test_outputs_are_a_peft_adapter_log_and_config(t5_runs, tiny_models):
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM

    root, again, *_ = t5_runs
    out = root / "again"
    base = AutoModelForSeq2SeqLM.from_pretrained(tiny_models["t5"])
    peft_model = PeftModel.from_pretrained(base, str(out))
    assert peft_model.peft_config["default"].num_transformer_submodules == 1
    table = peft_model.get_prompt_embedding_to_save("default")  # (P, d)
    assert table.shape == (4, base.config.d_model)
    assert torch.equal(table, _prompt(out))
    config = json.loads((out / "train_config.json").read_text())
    assert config["config"]["lr"] == 5e-3 and config["run"]["backend"] == "seq2seq"
    assert {"torch", "peft", "transformers", "lm_eval"} <= set(config["versions"])
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert {"step", "loss", "lr"} <= set(rows[0]) and sum("validation_accuracy" in r for r in rows) == 2


@pytest.mark.parametrize("model", ["t5", "bert", "gpt2"])  # seq2seq, masked, causal
def test_adapter_in_prompt_tuned_scores_the_trainers_accuracy(model, t5_runs, tiny_models, task_folder, tmp_path):
    from lm_eval.evaluator import simple_evaluate

    from skillneuron_harness.host.model import PromptTunedLM

    if model == "t5":
        out, result = t5_runs[0] / "again", t5_runs[1]
    else:
        out = tmp_path
        result = train(_config(tiny_models, task_folder, out, model=model, max_steps=1, lr=0.05))
    lm = PromptTunedLM(pretrained=str(tiny_models[model]), prompt=str(out), device="cpu", dtype="float32",
                       batch_size=8)
    results = simple_evaluate(model=lm, tasks=["tiny_sst2"], task_manager=task_manager([str(task_folder)]))
    assert results["results"]["tiny_sst2"]["acc,none"] == result.best_accuracy


def test_loss_decreases_on_a_tiny_task(tiny_models, task_folder, tmp_path):
    config = _config(tiny_models, task_folder, tmp_path, model="t5", dropout=False)
    pm = load_model(config)
    task = load_task("tiny_sst2", config.include_path)
    examples = encode_docs(task, subset(task.training_docs(), 16, None), pm.lm)
    before = evaluate(pm, examples, 16)["loss"]
    optimizer = torch.optim.AdamW([pm.prompt], lr=0.05, weight_decay=0.0)
    for _ in range(15):
        optimizer.zero_grad()
        batch_loss(pm, examples).backward()
        optimizer.step()
    after = evaluate(pm, examples, 16)["loss"]
    assert after < before - 0.1


@pytest.mark.parametrize("model", ["t5", "roberta", "llama"])
def test_a_step_changes_only_the_prompt(model, tiny_models, task_folder, tmp_path):
    config = _config(tiny_models, task_folder, tmp_path, model=model)
    pm = load_model(config)
    task = load_task("tiny_sst2", config.include_path)
    examples = encode_docs(task, subset(task.training_docs(), 8, None), pm.lm)
    base = {k: v.clone() for k, v in pm.model.state_dict().items()}
    prompt = pm.prompt.detach().clone()
    optimizer = torch.optim.AdamW([pm.prompt], lr=1e-2, weight_decay=0.0)
    pm.model.train()
    batch_loss(pm, examples).backward()
    optimizer.step()
    assert not torch.equal(pm.prompt.detach(), prompt)
    after = pm.model.state_dict()
    assert base.keys() == after.keys()
    assert all(torch.equal(base[k], after[k]) for k in base)
    assert all(p.grad is None for p in pm.model.parameters())


def test_progress_bar_counts_the_steps_that_will_run():
    """A max_steps run shows its real length (31/31 in epoch 1/1), not the epoch's batches or the epoch cap."""
    from types import SimpleNamespace

    from skillneuron_harness.experiments.training.checkpoint import RunState

    capped = SimpleNamespace(max_steps=31, epochs=1000)
    assert trainer._bar_extent(capped, RunState(), per_epoch=1250) == (31, 1)
    long = SimpleNamespace(max_steps=3000, epochs=1000)
    assert trainer._bar_extent(long, RunState(), per_epoch=1250) == (1250, 3)
    resumed = RunState(epoch=2, batches_done=100, step=2600)  # 400 steps left, in the third epoch
    assert trainer._bar_extent(long, resumed, per_epoch=1250) == (500, 3)
    assert trainer._bar_extent(SimpleNamespace(max_steps=None, epochs=3), RunState(), per_epoch=40) == (40, 3)
