"""What each task shows the model: exact prompts and choices, labels -> answers, split sizes, twins.

Expected prompts are written out here by hand (golden strings on synthetic documents, and the
same templates as f-strings on the first real documents of each split); label names follow the
conventions of ../shared/data/SOURCES.md, never the code under test.
"""

from __future__ import annotations

import pytest
from suite_names import ADVGLUE_TASKS, CLEAN_TWINS, TRANSFER_TASKS

SIZES = {"adv_sst2": 148, "adv_qqp": 78, "adv_mnli": 121, "adv_mnli_mismatched": 162, "adv_qnli": 148,
         "adv_rte": 81,
         # mirror samples: 1,000 each; binary MNLI = matched sample minus its 311 neutral pairs,
         # adversarial binary MNLI = AdvGLUE MNLI minus its 39 neutral pairs
         "sn_imdb": 1000, "sn_rotten_tomatoes": 1000, "sn_yelp_polarity": 1000, "sn_snli": 1000,
         "sn_mnli_binary": 689, "sn_adv_mnli_binary": 82}


def _hyp(h):
    h = h.strip()
    return h if h.endswith(".") else h + "."


SST2 = lambda d: f"{d['sentence']}\nQuestion: Is this sentence positive or negative?\nAnswer:"  # noqa: E731
QQP = lambda d: (f"Question 1: {d['question1']}\nQuestion 2: {d['question2']}\n"  # noqa: E731
                 "Question: Do both questions ask the same thing?\nAnswer:")
MNLI = lambda d: f"{d['premise']}\nQuestion: {_hyp(d['hypothesis'])} True, False or Neither?\nAnswer:"  # noqa: E731
QNLI = lambda d: (f"{d['question']}\n{d['sentence']}\n"  # noqa: E731
                  "Question: Does this response answer the question?\nAnswer:")
RTE = lambda d: f"{d['sentence1']}\nQuestion: {d['sentence2']} True or False?\nAnswer:"  # noqa: E731
REVIEW = lambda d: f"{d['text']}\nQuestion: Is this review positive or negative?\nAnswer:"  # noqa: E731
BINARY = lambda d: f"{d['premise']}\nQuestion: {_hyp(d['hypothesis'])} True or False?\nAnswer:"  # noqa: E731

# task -> (prompt, label names by label integer (SOURCES.md), answer word by label name)
SENTIMENT = (["negative", "positive"], {"negative": "negative", "positive": "positive"})
NLI3 = (["entailment", "neutral", "contradiction"], {"entailment": "True", "neutral": "Neither",
                                                     "contradiction": "False"})
EXPECTED = {
    "adv_sst2": (SST2, *SENTIMENT),
    "adv_qqp": (QQP, ["not_duplicate", "duplicate"], {"not_duplicate": "no", "duplicate": "yes"}),
    "adv_mnli": (MNLI, *NLI3),
    "adv_mnli_mismatched": (MNLI, *NLI3),
    "adv_qnli": (QNLI, ["entailment", "not_entailment"], {"entailment": "yes", "not_entailment": "no"}),
    "adv_rte": (RTE, ["entailment", "not_entailment"], {"entailment": "True", "not_entailment": "False"}),
    "sn_imdb": (REVIEW, *SENTIMENT),
    "sn_rotten_tomatoes": (REVIEW, *SENTIMENT),
    "sn_yelp_polarity": (REVIEW, *SENTIMENT),
    "sn_snli": (MNLI, *NLI3),
    # binary MNLI keeps GLUE's label in mnli_label; see test_binary_mnli_labels
    "sn_mnli_binary": (BINARY, None, None),
    "sn_adv_mnli_binary": (BINARY, None, None),
}

GOLDEN = {  # synthetic document -> exact context, exact choices
    "adv_sst2": ({"sentence": "a gripping , tender film . ", "label": 1},
                 "a gripping , tender film . \nQuestion: Is this sentence positive or negative?\nAnswer:",
                 ["negative", "positive"]),
    "adv_qqp": ({"question1": "How do I cook rice?", "question2": "What is the way to cook rice?", "label": 1},
                "Question 1: How do I cook rice?\nQuestion 2: What is the way to cook rice?\n"
                "Question: Do both questions ask the same thing?\nAnswer:", ["no", "yes"]),
    "adv_mnli": ({"premise": "The cat sat on the mat .", "hypothesis": " A cat sat ", "label": 0},
                 "The cat sat on the mat .\nQuestion: A cat sat. True, False or Neither?\nAnswer:",
                 ["True", "Neither", "False"]),
    "adv_mnli_mismatched": ({"premise": "It rained.", "hypothesis": "It was wet.", "label": 0},
                            "It rained.\nQuestion: It was wet. True, False or Neither?\nAnswer:",
                            ["True", "Neither", "False"]),
    "adv_qnli": ({"question": "Who wrote it?", "sentence": "It was written by Ann.", "label": 0},
                 "Who wrote it?\nIt was written by Ann.\nQuestion: Does this response answer the question?\n"
                 "Answer:", ["yes", "no"]),
    "adv_rte": ({"sentence1": "Ann wrote the book.", "sentence2": "Ann is an author.", "label": 0},
                "Ann wrote the book.\nQuestion: Ann is an author. True or False?\nAnswer:", ["True", "False"]),
    "sn_imdb": ({"text": "a dull , overlong film .", "label": 0},
                "a dull , overlong film .\nQuestion: Is this review positive or negative?\nAnswer:",
                ["negative", "positive"]),
    "sn_snli": ({"premise": "A dog runs .", "hypothesis": "an animal moves", "label": 0},
                "A dog runs .\nQuestion: an animal moves. True, False or Neither?\nAnswer:",
                ["True", "Neither", "False"]),
    "sn_mnli_binary": ({"premise": "A dog runs .", "hypothesis": "A cat sleeps .", "label": 0},
                       "A dog runs .\nQuestion: A cat sleeps . True or False?\nAnswer:", ["False", "True"]),
}


@pytest.mark.parametrize("task", sorted(GOLDEN))
def test_golden_prompt(task, loaded_tasks):
    doc, context, choices = GOLDEN[task]
    t = loaded_tasks[task]
    assert t.doc_to_text(doc) == context
    assert t.doc_to_choice(doc) == choices
    assert t.fewshot_context(doc, num_fewshot=0) == context
    assert t.config.target_delimiter == " "


# The released-format variants (task_configs/released) are checked against the releasing code's
# rendering in tests/prompts/test_released.py.
@pytest.mark.parametrize("task", ADVGLUE_TASKS + TRANSFER_TASKS)
def test_size_prompts_and_labels_on_real_documents(task, loaded_tasks):
    t = loaded_tasks[task]
    docs = list(t.eval_docs)
    assert len(docs) == SIZES[task]
    prompt, label_names, answers = EXPECTED[task]
    for doc in docs[:3]:
        assert t.doc_to_text(doc) == prompt(doc)
    if label_names is None:
        return
    counts = {}
    for doc in docs:
        name = label_names[doc["label"]]  # a -1 (unlabelled SNLI pair) would fail here
        counts[name] = counts.get(name, 0) + 1
        assert t.doc_to_choice(doc)[t.doc_to_target(doc)] == answers[name]
    assert set(counts) == set(label_names)  # every class present


@pytest.mark.parametrize("task", ["sn_mnli_binary", "sn_adv_mnli_binary"])
def test_binary_mnli_labels(task, loaded_tasks):
    """Ackermann & Ohmer's binary MNLI: no neutral; contradiction 0 -> "False", entailment 1 -> "True"."""
    t = loaded_tasks[task]
    glue_names = ["entailment", "neutral", "contradiction"]
    seen = set()
    for doc in t.eval_docs:
        name = glue_names[doc["mnli_label"]]
        seen.add(name)
        assert doc["label"] == {"contradiction": 0, "entailment": 1}[name]
        assert t.doc_to_choice(doc)[t.doc_to_target(doc)] == {"contradiction": "False", "entailment": "True"}[name]
    assert seen == {"entailment", "contradiction"}


@pytest.mark.parametrize("task", sorted(CLEAN_TWINS))
def test_same_rendering_as_clean_twin(task, loaded_tasks):
    """Any document, clean or adversarial, gets the same prompt, choices and target from both tasks."""
    ours, twin = loaded_tasks[task], loaded_tasks[CLEAN_TWINS[task]]
    assert ours.config.metadata["clean_twin"] == twin.config.task
    for key in ("output_type", "target_delimiter", "fewshot_delimiter", "description"):
        assert getattr(ours.config, key) == getattr(twin.config, key), key
    assert [m["metric"] for m in ours.config.metric_list] == [m["metric"] for m in twin.config.metric_list]
    docs = list(ours.eval_docs)[:25] + list(twin.eval_docs)[:25]
    for doc in docs:
        assert ours.doc_to_text(doc) == twin.doc_to_text(doc)
        assert ours.doc_to_choice(doc) == twin.doc_to_choice(doc)
        assert ours.doc_to_target(doc) == twin.doc_to_target(doc)
        assert ours.fewshot_context(doc, num_fewshot=0) == twin.fewshot_context(doc, num_fewshot=0)


# (gold, prediction) pairs, as lm-eval's per-document acc / f1 values reach the aggregation
PAIRS = [(1, 1), (1, 0), (0, 0), (0, 1), (1, 1), (0, 0), (1, 1)]


@pytest.mark.parametrize("task", sorted(CLEAN_TWINS))
def test_same_scores_as_clean_twin(task, loaded_tasks):
    """Each metric is aggregated as the clean twin aggregates it (adv_qqp's f1: corpus F1, no 'aggregation:')."""
    from sklearn.metrics import f1_score

    ours, twin = loaded_tasks[task], loaded_tasks[CLEAN_TWINS[task]]
    assert ours.higher_is_better() == twin.higher_is_better()
    aggregations, theirs = ours.aggregation(), twin.aggregation()
    assert sorted(aggregations) == sorted(theirs)
    for metric, aggregate in aggregations.items():
        items = [float(g == p) for g, p in PAIRS] if metric == "acc" else PAIRS
        assert aggregate(items) == pytest.approx(theirs[metric](items)), metric
    expected = {"acc": 5 / 7, "f1": f1_score([g for g, _ in PAIRS], [p for _, p in PAIRS])}
    assert {m: aggregations[m]([float(g == p) for g, p in PAIRS] if m == "acc" else PAIRS)
            for m in aggregations} == pytest.approx({m: expected[m] for m in aggregations})
