"""The shipped AdvGLUE -> GLUE dev pairs: the docs' table, pairs read by hand, the loader, a rerun of the script.

The hand-checked pairs below were read in ../shared/data (both texts side by side); each comment names the
words that tie the two texts together. Their key words are also checked in the data files, and the labels
of every matched pair are compared there, independently of what the mapping says.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from skillneuron_harness.core import advglue_pairs
from skillneuron_harness.core.errors import SkillNeuronError

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
PAIRS = ROOT / "task_configs" / "advglue" / "pairs"
SCRIPT = ROOT / "scripts" / "align_advglue.py"

# task -> (reference file in ../shared/data, its text fields, whether its idx is the GLUE idx)
REFERENCE = {
    "adv_sst2": ("sst2/validation.jsonl", ("sentence",), True),
    "adv_qqp": ("qqp/validation_sample1k.jsonl", ("question1", "question2"), False),
    "adv_mnli": ("mnli/validation_matched_sample1k.jsonl", ("premise", "hypothesis"), False),
    "adv_mnli_mismatched": ("mnli/validation_mismatched_sample1k.jsonl", ("premise", "hypothesis"), False),
    "adv_qnli": ("qnli/validation.jsonl", ("question", "sentence"), True),
    "adv_rte": ("rte/validation.jsonl", ("sentence1", "sentence2"), True),
}

# (task, AdvGLUE idx, idx in the reference, key words found in both texts)
HAND_CHECKED = [
    # RTE: the hypothesis kept, the premise's words swapped ("international humanitarian aid organization"
    # -> "universal doctrinal courtesy initiation")
    ("adv_rte", 0, 10, ["Doctors Without Borders", "Medecins Sans Frontieres", "violence"]),
    # RTE: the premise kept; "Christopher Reeve had an accident" -> "were an wounds"
    ("adv_rte", 19, 0, ["Dana Reeve", "lung cancer", "Christopher Reeve"]),
    # RTE: the hypothesis cut at "$1." by the distraction ("spends $1 and true is true .")
    ("adv_rte", 76, 14, ["Procter and Gamble spends $1", "500 active partnerships"]),
    # RTE: neither text exact ("from" -> "frpm", the premise retokenised): found by the whole-reference scan
    ("adv_rte", 53, 22, ["Eljvir Duka comes", "Three Muslim brothers from Albania"]),
    # RTE: "won" split into "wo n"
    ("adv_rte", 29, 25, ["San Diego Padres", "Jake Peavy", "St. Louis Cardinals"]),
    # SST-2: "desperate" -> "harrowing"
    ("adv_sst2", 26, 1, ["unflinchingly bleak and"]),
    # SST-2: "funny ... enjoyable" -> "objected ... unlawful"
    ("adv_sst2", 95, 67, ["a fast ,", "highly", "movie ."]),
    # SST-2: a URL appended
    ("adv_sst2", 127, 22, ["holden caulfield did it better ."]),
    # SST-2: cut at "mr." by the distraction
    ("adv_sst2", 105, 64, ["the script kicks in , and mr"]),
    # QNLI: "location" -> "outfit", the sentence kept
    ("adv_qnli", 0, 61, ["Apollo 1 test at besides Kennedy Space Center", "altitude chamber"]),
    # QNLI: "When was the St." -> "Whfn became deadliest Saint."
    ("adv_qnli", 76, 83, ["Bartholomew's Day Massacre", "Huguenots in Paris"]),
    # QNLI: "kept imprisoned" -> "continue confinement" ("was" -> "qas"); the runner-up is another question
    # asked of the same sentence
    ("adv_qnli", 72, 3, ["Temüjin", "Tayichi'ud", "sympathetic guard"]),
    # QNLI: the sentence cut at "St." by the distraction, the question kept
    ("adv_qnli", 113, 83, ["When was the St. Bartholomew's Day Massacre?", "In what became known as the St"]),
    # QNLI: the sentence cut at "c." ("cand true is true ..."), the question kept
    ("adv_qnli", 119, 63, ["retable of St. George", "Spanish tempera on wood, 670 x 486 cm"]),
    # MNLI (TextFooler's sample row): "be" -> "either", the premise kept
    ("adv_mnli", 103, 980, ["Gingrich may have positioned himself", "Gingrich should not"]),
    # MNLI: "reversal" -> "r3versal", the hypothesis kept
    ("adv_mnli", 27, 980, ["Gingrich may have positioned himself", "Gingrich should not be in power"]),
    # MNLI: "should" -> "slouhd", the premise kept (retokenised: "reversal," / "reversal ,")
    ("adv_mnli", 52, 980, ["In a further role reversal", "Gingrich"]),
    # MNLI mismatched: "earth" -> "rock" at the end of the hypothesis
    ("adv_mnli_mismatched", 1, 663, ["I was on this earth you know", "the reason why I have lived on"]),
    # MNLI mismatched: a URL put in front of the hypothesis
    ("adv_mnli_mismatched", 106, 677, ["It truly was my life in high school", "My life was hell in high school"]),
    # MNLI mismatched: "officials relied ... air" -> "had pulled ... space"
    ("adv_mnli_mismatched", 61, 479, ["NMCC", "FAA did not participate for the first 48 minutes", "intially"]),
]

# (task, AdvGLUE idx) read by hand that must stay unmatched: no original, or none in our data
HAND_UNMATCHED = [
    ("adv_sst2", 131),  # "I can't say, given it's a Tuesday, that that story is fantastic." (written, no original)
    ("adv_sst2", 104),  # " and true is true ." (nothing of the sentence left)
    ("adv_qnli", 133),  # "Who is an actor?" / "Kathy is not an actor. John is." (written)
    ("adv_qnli", 141),  # "Jeff Dean ordered the attack on the caravan of traders Kublai Shah sent to Berlin."
    ("adv_rte", 62),  # "1970 is the approximate time at which the person Charles de Gaulle took their final breath."
    # QQP: the sample holds another pair of question1 ("What is your new year resolution, short term and long
    # term goal for 2017?" with "What are some new year resolutions ...", not "What will be your New Year's
    # resolution for 2017?"); the perturbed question1 only split "2 017", so question2 is the unchanged one
    ("adv_qqp", 35),
    ("adv_qqp", 0),  # "Can eating precisely advance for dinner lead to weight loss ?" (not in the sample)
    # MNLI: "I did that all through college but it never worked": the sample has the premise's other
    # hypothesis ("... and graduate school and it worked well", neutral, not contradiction)
    ("adv_mnli", 40),
]


def read_jsonl(path: Path) -> dict[int, dict]:
    with path.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return {int(r["idx"]): r for r in rows}


def docs_table() -> dict[str, dict[str, int]]:
    """The per-task rows of docs/tasks.md's table of AdvGLUE pairs."""
    text = (ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    section = text.split("### Clean originals of the AdvGLUE documents", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `(adv_\w+)` \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", line)
        if m:
            n = [int(x) for x in m.groups()[1:]]
            rows[m.group(1)] = dict(zip(("documents", "matched", "ambiguous", "unmatched", "label_disagreements"),
                                        n, strict=True))
    return rows


@pytest.mark.parametrize("task", advglue_pairs.TASKS)
def test_match_rates_are_what_the_docs_say(task):
    entries = advglue_pairs.pairs(task)
    statuses = [e["status"] for e in entries.values()]
    assert set(statuses) <= set(advglue_pairs.STATUSES)
    counted = {"documents": len(entries), **{s: statuses.count(s) for s in advglue_pairs.STATUSES},
               "label_disagreements": sum(e.get("label_agrees") is False for e in entries.values())}
    table = docs_table()
    assert set(table) == set(advglue_pairs.TASKS)
    assert table[task] == counted
    assert advglue_pairs.header(task)["counts"] == counted


@pytest.mark.parametrize("task", advglue_pairs.TASKS)
def test_every_document_has_an_entry_and_the_header_names_the_data(task):
    ref_file, fields, complete = REFERENCE[task]
    adv = read_jsonl(DATA / task / "validation.jsonl")
    entries = advglue_pairs.pairs(task)
    assert sorted(entries) == sorted(adv) == list(range(len(adv)))
    head = advglue_pairs.header(task)
    assert head["fields"] == list(fields) and head["reference"]["complete"] is complete
    for part, file in (("adv", f"{task}/validation.jsonl"), ("reference", ref_file)):
        assert head[part]["file"] == file
        assert head[part]["sha256"] == hashlib.sha256((DATA / file).read_bytes()).hexdigest()


@pytest.mark.parametrize("task", advglue_pairs.TASKS)
def test_matched_pairs_agree_on_the_label_in_the_data(task):
    # AdvGLUE keeps the label: checked in the two files, not taken from the mapping's label_agrees
    ref_file, _, complete = REFERENCE[task]
    adv, ref = read_jsonl(DATA / task / "validation.jsonl"), read_jsonl(DATA / ref_file)
    for adv_idx, entry in advglue_pairs.pairs(task).items():
        if entry["status"] != "matched":
            assert entry["glue_idx"] is None and "sample_idx" not in entry
            continue
        at = entry["glue_idx"] if complete else entry["sample_idx"]
        assert isinstance(at, int) and at in ref
        assert adv[adv_idx]["label"] == ref[at]["label"], (task, adv_idx, at)
        assert entry["label_agrees"] is True
        if not complete:
            assert entry["glue_idx"] is None  # a sample row is no GLUE idx


@pytest.mark.parametrize(("task", "adv_idx", "original", "words"), HAND_CHECKED,
                         ids=[f"{t}-{i}" for t, i, _, _ in HAND_CHECKED])
def test_hand_checked_pairs(task, adv_idx, original, words):
    ref_file, fields, complete = REFERENCE[task]
    adv = read_jsonl(DATA / task / "validation.jsonl")[adv_idx]
    ref = read_jsonl(DATA / ref_file)[original]
    squash = lambda row: re.sub(r"\s+", "", " ".join(row[f] for f in fields))  # noqa: E731  (spacing differs)
    for word in words:
        assert re.sub(r"\s+", "", word) in squash(adv) and re.sub(r"\s+", "", word) in squash(ref), word
    entry = advglue_pairs.pairs(task)[adv_idx]
    assert entry["status"] == "matched"
    if complete:
        assert entry["glue_idx"] == original
        assert advglue_pairs.clean_original(task, adv_idx) == original
    else:
        assert entry["sample_idx"] == original
        assert advglue_pairs.clean_original(task, adv_idx) is None


def test_hand_checked_tasks_cover_every_task():
    assert {t for t, *_ in HAND_CHECKED} | {t for t, _ in HAND_UNMATCHED} == set(advglue_pairs.TASKS)
    assert all(sum(t == task for t, *_ in HAND_CHECKED) >= 3 for task in advglue_pairs.TASKS if task != "adv_qqp")


@pytest.mark.parametrize(("task", "adv_idx"), HAND_UNMATCHED, ids=[f"{t}-{i}" for t, i in HAND_UNMATCHED])
def test_hand_checked_unmatched_documents_have_no_original(task, adv_idx):
    assert advglue_pairs.pairs(task)[adv_idx]["status"] != "matched"
    assert advglue_pairs.clean_original(task, adv_idx) is None


@pytest.mark.parametrize("task", advglue_pairs.TASKS)
def test_loader_returns_none_unless_matched(task):
    for adv_idx, entry in advglue_pairs.pairs(task).items():
        got = advglue_pairs.clean_original(task, adv_idx)
        if entry["status"] == "matched" and REFERENCE[task][2]:
            assert got == entry["glue_idx"] and isinstance(got, int)
        else:
            assert got is None


def test_loader_refuses_unknown_tasks_and_documents():
    with pytest.raises(SkillNeuronError, match=r"unknown task 'sst2'; expected one of adv_sst2, "):
        advglue_pairs.clean_original("sst2", 0)
    with pytest.raises(SkillNeuronError, match=r"adv_rte has no document idx=81; expected an int from 0 to 80"):
        advglue_pairs.clean_original("adv_rte", 81)
    with pytest.raises(SkillNeuronError, match=r"idx='3'"):
        advglue_pairs.clean_original("adv_rte", "3")


def test_loader_hands_out_copies():
    advglue_pairs.pairs("adv_rte")[0]["glue_idx"] = -1
    assert advglue_pairs.clean_original("adv_rte", 0) == 10


def test_script_reproduces_the_shipped_file(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--tasks", "adv_rte", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "adv_rte: 81 documents, 80 matched" in out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adv_rte.json"]
    assert (tmp_path / "adv_rte.json").read_bytes() == (PAIRS / "adv_rte.json").read_bytes()


def test_script_names_a_bad_task(tmp_path):
    out = subprocess.run([sys.executable, str(SCRIPT), "--tasks", "adv_mrpc", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown task 'adv_mrpc': expected one of adv_sst2" in out.stderr
