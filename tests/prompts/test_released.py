"""The released prompts of ../shared/published_prompts, evaluated on their format-matched tasks.

The reference here is written from the releasing code (LeonAckermann/Robust-Neurons @ ca18d41),
not from ours: token ids as ``src/formatter/<Task>Prompt<Model>Formatter.py`` builds them
(prompt placeholders -1..-100, pieces encoded one by one, the formatter's truncation and end
token), embeddings as ``src/models/modelling_roberta.py:178-217`` / ``modeling_t5.py:979-1024``
build them (negative ids -> prompt rows; RoBERTa: row 0 -> the <mask> embedding, positions counted
over non-negative non-pad ids from padding_idx+1, zero position embeddings on the prompt), then
the plain transformers model, one document at a time: RoBERTa's logits at position 0
(``PromptRoberta.py:149``), T5's first decoding step (``PromptT5.py:89-105``). The models are
random, one layer, 768 wide, so that the real [100, 768] files fit. Su et al.'s 3-class MNLI
(``seed_su``) follows thunlp/Prompt-Transferability @ 539dc64 ``Prompt-Transferability-1.0/``: the
same formatters, labels from ``dataset/MNLIDataset.py:19-21``.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from lm_requests import logged_loglikelihoods
from transformers import AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.prompts import PromptError, load_soft_prompt

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
RELEASE = SHARED / "published_prompts" / "continuous_prompts"
ROBERTA_WORDS = {"SST2": ["negative", "positive"], "MNLI": ["no", "neutral", "yes"], "QQP": ["false", "true"]}
T5_WORDS = {"SST2": ["negative", "positive"], "MNLI": ["contradiction", "neutral", "entailment"],
            "QQP": ["false", "true"]}
# GLUE MNLI label (0 entailment, 1 neutral, 2 contradiction) -> the releasing code's label, neutral dropped
# when absent. "MNLI": Robust-Neurons' binary MNLIDataset.py:21 ({2: 0, 0: 1}), entailment moved to the
# T5 answer "entailment" (index 2) by PromptT5.py:174-181; "MNLI3": Prompt-Transferability's MNLIDataset.py:21.
ROBERTA_LABELS = {"MNLI": {2: 0, 0: 1}, "MNLI3": {2: 0, 1: 1, 0: 2}}
T5_LABELS = {"MNLI": {2: 0, 0: 2}, "MNLI3": {2: 0, 1: 1, 0: 2}}
LIMIT = 4

pytestmark = pytest.mark.skipif(not RELEASE.is_dir(), reason="../shared/published_prompts is not there")


@pytest.fixture(scope="module")
def roberta768(tmp_path_factory):
    """A one-layer RoBERTa of width 768 whose answer words are single bare tokens."""
    from tiny_models import build_roberta

    out = build_roberta(tmp_path_factory.mktemp("roberta768"), layers=1, hidden=768, ffn=64, seed=1)
    tok = AutoTokenizer.from_pretrained(out)
    tok.add_tokens(sorted({w for ws in ROBERTA_WORDS.values() for w in ws}))
    model = AutoModelForMaskedLM.from_pretrained(out)
    model.resize_token_embeddings(len(tok))
    torch.manual_seed(2)
    with torch.no_grad():  # a non-zero padding row of the position table: the zeroing must be done
        model.roberta.embeddings.position_embeddings.weight[1].normal_(0, 1)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def t5_768(tmp_path_factory):
    """A one-layer T5 of width 768 whose tokenizer knows <extra_id_0>."""
    from tiny_models import build_t5

    out = build_t5(tmp_path_factory.mktemp("t5_768"), layers=1, d_model=768, d_ff=64, heads=2, seed=1)
    tok = AutoTokenizer.from_pretrained(out)
    tok.add_special_tokens({"additional_special_tokens": ["<extra_id_0>"]})
    model = AutoModelForSeq2SeqLM.from_pretrained(out)
    model.resize_token_embeddings(len(tok))
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run(lm, task, *more, manager=None):
    """Per task: (docs, per-choice log-likelihoods, acc), from one lm-eval run of ``task`` (and ``more``)."""
    from lm_eval.evaluator import simple_evaluate

    out = simple_evaluate(model=lm, tasks=[task, *more], limit=LIMIT, log_samples=True, bootstrap_iters=0,
                          task_manager=manager)
    per_task = {}
    for name in (task, *more):
        samples = out["samples"][name]
        per_task[name] = ([s["doc"] for s in samples], [logged_loglikelihoods(s) for s in samples],
                          out["results"][name]["acc,none"])
    return per_task[task] if not more else per_task


def flat(rows):
    return [x for row in rows for x in row]


# ---------------------------------------------------------------- RoBERTa reference
def roberta_ids(tok, task, doc):
    """Token ids as the RoBERTa formatters build them (prompt placeholders -1..-100)."""
    prefix = [-(i + 1) for i in range(100)]
    enc = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    if task == "SST2":  # SST2PromptRobertaFormatter.py:39-42
        sent = enc(doc["sentence"].strip())[:128]
        return prefix + [tok.cls_token_id] + sent + [tok.sep_token_id]
    s1, s2 = ((doc["hypothesis"], doc["premise"]) if task.startswith("MNLI") else (doc["question1"], doc["question2"]))
    tokens = prefix + [tok.cls_token_id] + enc(s1.strip()) + [tok.sep_token_id] + enc(s2.strip()) + [tok.sep_token_id]
    if len(tokens) > 231:  # MNLIPromptRobertaFormatter.py:42-44
        tokens = tokens[:230] + [tok.sep_token_id]
    return tokens


def roberta_reference(path, prompt, task, docs):
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    E = model.get_input_embeddings().weight
    words = [tok.encode(w, add_special_tokens=False) for w in ROBERTA_WORDS[task.rstrip("3")]]
    assert all(len(w) == 1 for w in words)
    pad = model.config.pad_token_id
    out, right = [], 0
    with torch.no_grad():
        positions_table = model.roberta.embeddings.position_embeddings.weight
        for doc in docs:
            ids = torch.tensor(roberta_ids(tok, task, doc))
            word = E[ids.clamp(min=0)] * (ids >= 0).unsqueeze(1)  # modelling_roberta.py:177
            rows = prompt[(-(ids + 1)).clamp(min=0)] * (ids < 0).unsqueeze(1)
            rows[0] = E[tok.mask_token_id]  # :200-204
            keep = (ids != pad).int() * (ids >= 0).int()  # :1622-1628
            position_ids = torch.cumsum(keep, 0) * keep + pad
            pos = positions_table[position_ids].clone()
            pos[:100] = 0  # :216-217
            x = word + rows + pos + model.roberta.embeddings.token_type_embeddings.weight[0]
            x = model.roberta.embeddings.LayerNorm(x)[None]
            hidden = model.roberta.encoder(x).last_hidden_state
            logits = model.lm_head(hidden)[0, 0]  # PromptRoberta.py:149
            logprobs = torch.log_softmax(logits, -1)
            out.append([float(logprobs[w[0]]) for w in words])
            label = ROBERTA_LABELS[task][doc["glue_label"]] if task in ROBERTA_LABELS else doc["label"]
            right += int(torch.stack([logits[w[0]] for w in words]).argmax()) == label
    return out, right / len(docs)


# ---------------------------------------------------------------- T5 reference
def t5_ids(tok, task, doc):
    prefix = [-(i + 1) for i in range(100)]
    enc = lambda s: tok.encode(s, add_special_tokens=False)  # noqa: E731
    eos = [tok.eos_token_id]
    if task == "SST2":  # SST2PromptT5Formatter.py:46-50
        sent = enc(doc["sentence"].strip())
        if len(sent) >= 128:
            sent = sent[:127]
        return prefix + sent + eos
    if task.startswith("MNLI"):  # MNLIPromptT5Formatter.py:41-52: no end token
        tokens = prefix + enc("hypothesis: " + doc["hypothesis"].strip()) + enc(" [SEP] sentence: ") \
            + enc("premise: " + doc["premise"].strip())
        return tokens[:230]
    tokens = prefix + enc(doc["question1"].strip()) + enc("<extra_id_0>") + enc(doc["question2"].strip())
    if len(tokens) >= 230:  # QQPPromptT5Formatter.py:47-50
        tokens = tokens[:229]
    return tokens + eos


def t5_reference(path, prompt, task, docs):
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSeq2SeqLM.from_pretrained(path).eval()
    E = model.get_input_embeddings().weight
    words = [tok.encode(w, add_special_tokens=False)[0] for w in T5_WORDS[task.rstrip("3")]]  # first tokens (:119)
    out, right = [], 0
    with torch.no_grad():
        for doc in docs:
            ids = torch.tensor(t5_ids(tok, task, doc))
            x = (E[ids.clamp(min=0)] * (ids >= 0).unsqueeze(1)  # modeling_t5.py:982-1024
                 + prompt[(-(ids + 1)).clamp(min=0)] * (ids < 0).unsqueeze(1))
            start = torch.tensor([[model.config.decoder_start_token_id]])
            logits = model(inputs_embeds=x[None], decoder_input_ids=start).logits[0, 0]  # scores[0]
            logprobs = torch.log_softmax(logits, -1)
            out.append([float(logprobs[w]) for w in words])
            label = T5_LABELS[task][doc["glue_label"]] if task in T5_LABELS else doc["label"]
            right += int(torch.stack([logits[w] for w in words]).argmax()) == label
    return out, right / len(docs)


@pytest.mark.parametrize("task", ["SST2", "MNLI", "QQP"])
def test_roberta_release_equals_reference(roberta768, task, task_manager, tmp_path):
    """Clean task and AdvGLUE twin in one lm-eval run, each against the reference.

    MNLI: matched and mismatched pairs, with skill neurons on: the four tasks share one baseline pass
    over MNLI's training split (``metadata.split_of``).
    """
    file = RELEASE / "seed_33" / f"{task}PromptRoberta" / "task_prompt"
    name = {"SST2": "sst2", "MNLI": "mnli_binary", "QQP": "qqp"}[task]
    tasks = [f"sn_pt_{name}_roberta", f"sn_pt_adv_{name}_roberta"]
    neurons = {}
    if task == "MNLI":
        tasks += ["sn_pt_mnli_mm_binary_roberta", "sn_pt_adv_mnli_mm_binary_roberta"]
        neurons = {"skill_neurons": str(tmp_path / "sn"), "sn_baseline_limit": 4}
    lm = PromptTunedLM(pretrained=str(roberta768), prompt=str(file), device="cpu", batch_size=4, **neurons)
    runs = run(lm, *tasks, manager=task_manager)
    prompt = torch.load(file, weights_only=True, map_location="cpu")
    for docs, got, acc in runs.values():
        want, want_acc = roberta_reference(roberta768, prompt, task, docs)
        assert flat(got) == pytest.approx(flat(want), abs=1e-5)
        assert acc == pytest.approx(want_acc)
    if neurons:
        from skillneuron_harness.neurons.validate import read_header

        sources = {t: json.loads(read_header(tmp_path / "sn" / f"{t}.safetensors", "file")[1]["provenance"])
                   for t in tasks}
        assert {p["baseline_source"] for p in sources.values()} == {"sn_pt_mnli_binary_roberta:train"}
        assert sources["sn_pt_adv_mnli_mm_binary_roberta"]["clean_twin"] == "sn_pt_mnli_mm_binary_roberta"
        # Predictivity is Robust-Neurons' binary one: label 1 (entailment, read at "neutral") against label 0,
        # never the 3-class decomposition of the three answer words (their label 2 never occurs).
        from safetensors.numpy import load_file as load_numpy

        checked = 0
        for t in tasks:
            stats = load_numpy(str(tmp_path / "sn" / f"{t}.safetensors"))
            n = stats["class_counts"].astype(np.int64)  # (3,)
            assert n[2] == 0
            if n[0] and n[1]:
                fire = stats["fire_counts"].astype(np.int64)  # (3, L, P, D)
                acc = (fire[1] + (n[0] - fire[0])) / (n[0] + n[1])  # (L, P, D)
                want = np.maximum(acc, 1 - acc).max(axis=1)  # (L, D): best position
                np.testing.assert_allclose(stats["score"], want, rtol=0, atol=1e-12)
                checked += 1
        assert checked >= 2


@pytest.mark.parametrize("task", ["SST2", "MNLI", "QQP"])
def test_t5_release_equals_reference(t5_768, task, task_manager):
    """Clean task and AdvGLUE twin in one lm-eval run, each against the reference."""
    file = RELEASE / "seed_34" / f"{task}PromptT5" / "task_prompt"
    name = {"SST2": "sst2", "MNLI": "mnli_binary", "QQP": "qqp"}[task]
    lm = PromptTunedLM(pretrained=str(t5_768), prompt=str(file), device="cpu", batch_size=4)
    more = ["sn_pt_adv_mnli_mm_binary_t5"] if task == "MNLI" else []  # and AdvGLUE's mismatched MNLI
    runs = run(lm, f"sn_pt_{name}_t5", f"sn_pt_adv_{name}_t5", *more, manager=task_manager)
    prompt = torch.load(file, weights_only=True, map_location="cpu")
    for docs, got, acc in runs.values():
        want, want_acc = t5_reference(t5_768, prompt, task, docs)
        assert flat(got) == pytest.approx(flat(want), abs=1e-5)
        assert acc == pytest.approx(want_acc)


@pytest.mark.parametrize("kind", ["roberta", "t5"])
def test_su_three_class_mnli_equals_reference(kind, request, tmp_path, task_manager, caplog):
    """Su et al.'s MNLI prompts on the 3-class variants (matched clean, mismatched adversarial in one run),
    against the reference with Prompt-Transferability's labels, and without a format warning.

    ``../shared/published_prompts`` has no seed_su MNLI file: a released MNLI tensor stands in, copied
    under ``seed_su/MNLIPrompt<Model>/`` (the path is what names the variant; the layout is the same).
    """
    path = request.getfixturevalue("roberta768" if kind == "roberta" else "t5_768")
    file = tmp_path / "seed_su" / f"MNLIPrompt{'Roberta' if kind == 'roberta' else 'T5'}" / "task_prompt"
    file.parent.mkdir(parents=True)
    shutil.copy(RELEASE / "seed_33" / file.parent.name / "task_prompt", file)
    lm = PromptTunedLM(pretrained=str(path), prompt=str(file), device="cpu", batch_size=4)
    assert lm.soft_prompt.release.variants == (f"sn_pt_mnli_{kind}", f"sn_pt_adv_mnli_{kind}",
                                               f"sn_pt_mnli_mm_{kind}", f"sn_pt_adv_mnli_mm_{kind}")
    with caplog.at_level(logging.WARNING):
        runs = run(lm, f"sn_pt_mnli_{kind}", f"sn_pt_adv_mnli_mm_{kind}", manager=task_manager)
    assert not [r for r in caplog.records if "format-matched" in r.getMessage()]
    prompt = torch.load(file, weights_only=True, map_location="cpu")
    reference = roberta_reference if kind == "roberta" else t5_reference
    for docs, got, acc in runs.values():
        want, want_acc = reference(path, prompt, "MNLI3", docs)
        assert flat(got) == pytest.approx(flat(want), abs=1e-5)
        assert acc == pytest.approx(want_acc)


def test_mnli_label_maps_against_glue(task_manager):
    """Every document and label after process_docs, against the GLUE JSONL the offline cache is built from,
    read here and mapped with the releasing code's dicts (neutral dropped where the map lacks it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("offline_hf_cache", SHARED / "tools" / "offline_hf_cache.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cases = {"sn_pt_mnli_mm_binary_roberta": ROBERTA_LABELS["MNLI"], "sn_pt_adv_mnli_mm_binary_t5": T5_LABELS["MNLI"],
             "sn_pt_mnli_roberta": ROBERTA_LABELS["MNLI3"], "sn_pt_adv_mnli_mm_t5": T5_LABELS["MNLI3"]}
    tasks = task_manager.load(list(cases))["tasks"]
    for name, labels in cases.items():
        config = tasks[name].config
        split = config.validation_split
        source = tool.DATA / tool.LAYOUT[config.dataset_path, config.dataset_name][split]
        rows = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
        want = [(r["hypothesis"], r["premise"], labels[r["label"]]) for r in rows if r["label"] in labels]
        got = [(d["hypothesis"], d["premise"], d["label"]) for d in tasks[name].eval_docs]
        assert got == want, name
        counts = Counter(label for *_, label in got)
        assert sorted(counts) == sorted(set(labels.values())) and sum(counts.values()) == len(want), name
    assert tasks["sn_pt_mnli_mm_binary_roberta"].config.validation_split == "validation_mismatched"
    assert tasks["sn_pt_adv_mnli_mm_t5"].config.dataset_name == "adv_mnli_mismatched"


def test_release_info_names_the_variants():
    """The variants a path names: binary MNLI and its mismatched pair for the Robust-Neurons seeds, 3-class
    for seed_su; a seed_su MNLI prompt on the binary task is warned about, naming the 3-class tasks."""
    from skillneuron_harness.prompts.release import format_mismatch, release_info

    su = release_info("continuous_prompts/seed_su/MNLIPromptRoberta/task_prompt")
    assert su.variants == ("sn_pt_mnli_roberta", "sn_pt_adv_mnli_roberta", "sn_pt_mnli_mm_roberta",
                           "sn_pt_adv_mnli_mm_roberta")
    assert su.answer_words == ["no", "neutral", "yes"]
    assert release_info("continuous_prompts/seed_34/MNLIPromptT5/task_prompt").variants == (
        "sn_pt_mnli_binary_t5", "sn_pt_adv_mnli_binary_t5", "sn_pt_mnli_mm_binary_t5", "sn_pt_adv_mnli_mm_binary_t5")
    message = format_mismatch(su, "sn_pt_mnli_binary_roberta", ["no", "neutral", "yes"])
    assert "3-class MNLI" in message and "binary MNLI" in message
    assert message.endswith("sn_pt_mnli_roberta / sn_pt_adv_mnli_roberta / sn_pt_mnli_mm_roberta / "
                            "sn_pt_adv_mnli_mm_roberta.")
    assert format_mismatch(su, "sn_pt_adv_mnli_mm_roberta", ["no", "neutral", "yes"]) is None


# ---------------------------------------------------------------- detection and naming
def test_every_released_file_kind(tmp_path):
    """task_prompt, <epoch>_task_prompt.pkl (a training checkpoint), BERT and T5-XXL files; <N>.pkl and
    latest.pt written here in the release's own formats from the real tensors."""
    pkl = load_soft_prompt(str(RELEASE / "seed_33" / "SST2PromptRoberta" / "74_task_prompt.pkl"))
    raw = load_soft_prompt(str(RELEASE / "seed_33" / "SST2PromptRoberta" / "task_prompt"))
    assert pkl.format == raw.format == "prompt_transferability"
    assert torch.equal(pkl.embeddings, raw.embeddings) and pkl.sha256 == raw.sha256
    assert pkl.checkpoint == {"trained_epoch": 74, "global_step": 3996}
    assert pkl.info()["prompt_trained_on"] == "FacebookAI/roberta-base"
    t5 = load_soft_prompt(str(RELEASE / "seed_33" / "SST2PromptT5" / "67_task_prompt.pkl"))
    assert t5.format == "prompt_transferability" and t5.release.base_model == "google-t5/t5-base"
    assert t5.release.variants == ("sn_pt_sst2_t5", "sn_pt_adv_sst2_t5") and t5.release.seed == "33"
    bert = load_soft_prompt(str(RELEASE / "seed_su" / "SST2PromptBert" / "task_prompt"))
    assert bert.release.base_model == "google-bert/bert-base-uncased" and bert.format == "prompt_transferability"
    xxl_file = RELEASE / "seed_su" / "SST2PromptT5XXL" / "task_prompt"
    xxl = load_soft_prompt(str(xxl_file))
    assert xxl.width == 4096 and xxl.release.base_model == "google/t5-xxl-lm-adapt"

    # latest.pt: the T5-XXL prompt as the release also stores it, float16 [1, 100, 4096]
    (tmp_path / "seed_su" / "SST2PromptT5XXL").mkdir(parents=True)
    torch.save(xxl.embeddings.half()[None], tmp_path / "seed_su" / "SST2PromptT5XXL" / "latest.pt")
    latest = load_soft_prompt(str(tmp_path / "seed_su" / "SST2PromptT5XXL" / "latest.pt"))
    assert latest.format == "prompt_transferability" and latest.embeddings.shape == (100, 4096)
    assert latest.embeddings.dtype == torch.float32 and latest.release.model == "T5XXL"
    # <N>.pkl: a checkpoint without "task_prompt" in its name (RobertaLarge_from_chimin/IMDBPromptRobertaLarge/69.pkl)
    (tmp_path / "IMDBPromptRobertaLarge").mkdir()
    data = torch.load(RELEASE / "seed_33" / "SST2PromptRoberta" / "74_task_prompt.pkl", weights_only=True,
                      map_location="cpu")
    torch.save({**data, "trained_epoch": 69}, tmp_path / "IMDBPromptRobertaLarge" / "69.pkl")
    large = load_soft_prompt(str(tmp_path / "IMDBPromptRobertaLarge" / "69.pkl"))
    assert large.format == "prompt_transferability" and large.release.base_model == "FacebookAI/roberta-large"
    assert large.checkpoint["trained_epoch"] == 69
    # a checkpoint under any name is still a checkpoint, not a "tensor"
    torch.save(data, tmp_path / "ckpt.pt")
    assert load_soft_prompt(str(tmp_path / "ckpt.pt")).format == "prompt_transferability"


def test_checkpoint_scores_as_its_task_prompt(roberta768, task_manager):
    pkl = RELEASE / "seed_33" / "SST2PromptRoberta" / "74_task_prompt.pkl"
    a = PromptTunedLM(pretrained=str(roberta768), prompt=str(pkl), device="cpu", batch_size=4)
    b = PromptTunedLM(pretrained=str(roberta768), prompt=str(pkl.with_name("task_prompt")), device="cpu", batch_size=4)
    assert run(a, "sn_pt_sst2_roberta", manager=task_manager)[1] == \
        run(b, "sn_pt_sst2_roberta", manager=task_manager)[1]
    info = a.get_model_info()
    assert info["prompt_release"] == "SST2PromptRoberta" and info["prompt_checkpoint"]["trained_epoch"] == 74


def test_width_checked_before_the_weights_load(roberta768, monkeypatch):
    import transformers

    def no_weights(*args, **kwargs):
        raise AssertionError("weights loaded before the width check")

    monkeypatch.setattr(transformers.AutoModelForMaskedLM, "from_pretrained", no_weights)
    with pytest.raises(PromptError, match=r"4096 wide .* hidden size 768; the file was trained on "
                                          r"google/t5-xxl-lm-adapt .*pass pretrained=google/t5-xxl-lm-adapt"):
        PromptTunedLM(pretrained=str(roberta768), prompt=str(RELEASE / "seed_su" / "SST2PromptT5XXL" / "task_prompt"))


def test_cross_model_and_format_warnings(roberta768, t5_768, caplog, task_manager):
    with caplog.at_level(logging.WARNING):
        PromptTunedLM(pretrained=str(roberta768), prompt=str(RELEASE / "seed_33" / "SST2PromptT5" / "task_prompt"),
                      device="cpu")
    assert any("trained on google-t5/t5-base" in r.getMessage() and "cross-model" in r.getMessage()
               for r in caplog.records)
    caplog.clear()
    lm = PromptTunedLM(pretrained=str(t5_768), prompt=str(RELEASE / "seed_33" / "QQPPromptT5" / "task_prompt"),
                       device="cpu", batch_size=4)
    with caplog.at_level(logging.WARNING):
        run(lm, "sn_pt_adv_qqp_t5", manager=task_manager)  # its own format: no warning
        run(lm, "sn_pt_mrpc_t5", manager=task_manager)  # same words, other task: a transfer run, warned
    messages = [r.getMessage() for r in caplog.records if "format-matched" in r.getMessage()]
    assert len(messages) == 1 and "'sn_pt_mrpc_t5'" in messages[0] and "sn_pt_qqp_t5 / sn_pt_adv_qqp_t5" in messages[0]


def test_bert_prompt_layout(tmp_path, task_manager):
    """seed_su/SST2PromptBert: [MASK] first, zero position and token-type embeddings on the prompt, text
    numbered from pad_token_id + 1 (modelling_bert.py:270-331, 2146-2160), logits at position 0."""
    from tiny_models import build_bert

    path = build_bert(tmp_path / "bert768", layers=1, hidden=768, ffn=64, seed=3)
    file = RELEASE / "seed_su" / "SST2PromptBert" / "task_prompt"
    lm = PromptTunedLM(pretrained=str(path), prompt=str(file), device="cpu", batch_size=4)
    docs, got, _ = run(lm, "sn_pt_sst2_roberta", manager=task_manager)  # single sentences, negative/positive
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    prompt = torch.load(file, weights_only=True, map_location="cpu")
    E, emb = model.get_input_embeddings().weight, model.bert.embeddings
    words = [tok.encode(w, add_special_tokens=False)[0] for w in ("negative", "positive")]
    with torch.no_grad():
        for doc, scores in zip(docs, got, strict=True):
            text = [tok.cls_token_id] + tok.encode(doc["sentence"].strip(), add_special_tokens=False)[:128] \
                + [tok.sep_token_id]
            rows = torch.cat([E[tok.mask_token_id][None], prompt[1:]])
            pos = torch.cat([torch.zeros(100, 768), emb.position_embeddings.weight[1:1 + len(text)]])
            types = torch.cat([torch.zeros(100, 768), emb.token_type_embeddings.weight[0].expand(len(text), -1)])
            x = emb.LayerNorm(torch.cat([rows, E[torch.tensor(text)]]) + pos + types)[None]
            logits = model.cls(model.bert.encoder(x).last_hidden_state)[0, 0]
            want = torch.log_softmax(logits, -1)[words]
            assert scores == pytest.approx(want.tolist(), abs=1e-5)
