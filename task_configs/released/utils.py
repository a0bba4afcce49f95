"""Renderings of the Prompt-Transferability / Robust-Neurons formatters, for the tasks in this folder.

Each function reproduces the text a ``src/formatter/<Task>Prompt<Model>Formatter.py`` of
LeonAckermann/Robust-Neurons tokenised (file:line in each task's YAML and in docs/tasks.md); the
token-level rules (truncation, T5's end token, first-token answers) are in the YAMLs'
``metadata.released_format``. Labels follow ``src/dataset/<Task>Dataset.py``; the 3-class MNLI
labels of Su et al.'s own prompts follow thunlp/Prompt-Transferability's
``Prompt-Transferability-1.0/dataset/MNLIDataset.py`` (its formatters are Robust-Neurons').
"""

from __future__ import annotations

# RoBERTa's separator between the two texts of a pair: `<s> s1 </s> s2 </s>` (the layout adds <s>, </s>).
ROBERTA_SEP = "</s>"


def single(doc: dict) -> str:
    """SST-2 / IMDB: the stripped sentence (SST2Dataset.py:50, IMDBDataset.py:47)."""
    return (doc.get("sentence") if "sentence" in doc else doc["text"]).strip()


def _pair(doc: dict) -> tuple[str, str]:
    """(sent1, sent2) as the datasets build them: MNLI hypothesis first (MNLIDataset.py:45-47)."""
    if "hypothesis" in doc:
        return doc["hypothesis"].strip(), doc["premise"].strip()
    if "question1" in doc:
        return doc["question1"].strip(), doc["question2"].strip()
    if "question" in doc:
        return doc["question"].strip(), doc["sentence"].strip()
    return doc["sentence1"].strip(), doc["sentence2"].strip()


def roberta_pair(doc: dict) -> str:
    """`sent1 </s> sent2` (RoBERTa formatters: [cls] + sent1 + [sep] + sent2 + [sep])."""
    first, second = _pair(doc)
    return f"{first}{ROBERTA_SEP}{second}"


def t5_nli(doc: dict) -> str:
    """MNLI / QNLI T5: "hypothesis: s1 [SEP] sentence: premise: s2" (MNLIPromptT5Formatter.py:41-46)."""
    first, second = _pair(doc)
    return f"hypothesis: {first} [SEP] sentence: premise: {second}"


def t5_paraphrase(doc: dict) -> str:
    """QQP / MRPC T5: "s1<extra_id_0>s2" (QQPPromptT5Formatter.py:41-45)."""
    first, second = _pair(doc)
    return f"{first}<extra_id_0>{second}"


def _binary_mnli(dataset, entailment: int):
    """Neutral dropped; contradiction -> 0, entailment -> ``entailment`` (MNLIDataset.py:21).

    ``glue_label`` keeps GLUE's label (0 entailment, 1 neutral, 2 contradiction).
    """
    dataset = dataset.filter(lambda doc: doc["label"] != 1)
    return dataset.map(lambda doc: {"glue_label": doc["label"], "label": 0 if doc["label"] == 2 else entailment})


def mnli_binary_roberta(dataset):
    """Answers [no, neutral, yes] (PromptRoberta.py:223) against labels 0/1: entailment is read at "neutral"."""
    return _binary_mnli(dataset, 1)


def mnli_binary_t5(dataset):
    """Answers [contradiction, neutral, entailment] (PromptT5.py:174-182): entailment is index 2."""
    return _binary_mnli(dataset, 2)


def mnli_3class(dataset):
    """Su et al.'s 3-class MNLI: GLUE 0 entailment -> 2, 1 neutral -> 1, 2 contradiction -> 0.

    Prompt-Transferability-1.0 dataset/MNLIDataset.py:19-21 (``_dict = {2:0,1:1,0:2}``), the same
    order as both answer lists (no/neutral/yes, contradiction/neutral/entailment); ``glue_label``
    keeps GLUE's.
    """
    return dataset.map(lambda doc: {"glue_label": doc["label"], "label": 2 - doc["label"]})


def qnli_flipped(dataset):
    """QNLIDataset.py:27-33: 1 entailment (GLUE 0), 0 not_entailment (GLUE 1); ``glue_label`` keeps GLUE's."""
    return dataset.map(lambda doc: {"glue_label": doc["label"], "label": 1 - doc["label"]})
