"""Golden tests: the AdvGLUE score, clean mean, drop rate, stderrs and chance marks from synthetic results.

The synthetic folders hold what ``lm_eval --output_path`` writes (``results_*.json`` with ``results``,
``configs``, ``versions``, ``n-samples`` and ``config``); they go through ``--from``, the path a user's
own runs take. Expected values are computed by hand below; binomial p-values from ``math.comb``.
"""

from __future__ import annotations

import csv
import json
import math

import pytest
from synthetic_runs import write_three

from skillneuron_harness.cli import main as cli
from skillneuron_harness.leaderboard import build_leaderboard


def binomial_p(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial p-value: the total probability of outcomes no likelier than k."""
    pmf = [math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    return sum(q for q in pmf if q <= pmf[k] * (1 + 1e-7))


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("golden")
    out = root / "board"
    build_leaderboard(None, out, from_dirs=[write_three(root)])
    return json.loads((out / "leaderboard.json").read_text()), out


def test_advglue_score_clean_mean_and_drop_rate(board):
    doc, _ = board
    row = next(r for r in doc["entries"] if r["label"] == "strong")
    v = row["values"]
    # components: sst2 0.40, qqp 0.50, mnli (0.30 + 0.50) / 2 = 0.40, qnli 0.60, rte 0.45
    assert v["score"]["value"] == pytest.approx(2.35 / 5)
    # clean: 0.90, 0.80, (0.70 + 0.74) / 2 = 0.72, 0.85, 0.65
    assert v["clean_mean"]["value"] == pytest.approx(3.92 / 5)
    assert v["pdr"]["value"] == pytest.approx(0.400510204, abs=1e-9)  # 1 - 0.47 / 0.784
    # stderr: mnli component sqrt(0.06^2 + 0.06^2) / 2; the mean sqrt(4 x 0.04^2 + 0.0018) / 5
    assert v["score"]["stderr"] == pytest.approx(math.sqrt(0.0082) / 5)
    se_a, se_c = math.sqrt(0.0082) / 5, math.sqrt(0.03 ** 2 + 0.04 ** 2 + 0.0025 / 2 + 0.04 ** 2 + 0.05 ** 2) / 5
    assert v["clean_mean"]["stderr"] == pytest.approx(se_c)
    assert v["pdr"]["stderr"] == pytest.approx(math.sqrt(se_a ** 2 / 0.784 ** 2 + 0.47 ** 2 * se_c ** 2 / 0.784 ** 4))
    assert doc["suite"]["score"] == "AdvGLUE score"
    # consistency: the mean over the adversarial tasks whose skill_neurons section has the top-2% overlap
    assert v["consistency"]["value"] == pytest.approx(0.20)


def test_chance_marks(board):
    doc, _ = board
    v = next(r for r in doc["entries"] if r["label"] == "strong")["values"]
    # mean chance (4 x 1/2 + 1/3) / 5 = 0.4667; |0.47 - 0.4667| < 1.96 x 0.0181: at chance
    assert v["score"]["chance"] == pytest.approx((2 + 1 / 3) / 5) and v["score"]["at_chance"] is True
    assert v["clean_mean"]["at_chance"] is False
    assert v["adv_sst2"]["p_value"] == pytest.approx(binomial_p(40, 100, 0.5)) and v["adv_sst2"]["at_chance"] is True
    assert v["adv_rte"]["p_value"] == pytest.approx(binomial_p(9, 20, 0.5))
    assert v["adv_mnli"]["p_value"] == pytest.approx(binomial_p(30, 100, 1 / 3)) and v["adv_mnli"]["at_chance"]
    assert v["sst2"]["p_value"] == pytest.approx(binomial_p(90, 100, 0.5)) and v["sst2"]["at_chance"] is False
    weak = next(r for r in doc["entries"] if r["label"] == "weak")["values"]
    assert weak["adv_mnli"]["p_value"] == pytest.approx(binomial_p(20, 100, 1 / 3))
    assert weak["adv_mnli"]["at_chance"] is False  # significantly below chance is not "at chance"


def test_ranking_columns_and_missing_tasks(board):
    doc, _ = board
    assert [r["label"] for r in doc["entries"]] == ["strong", "weak", "base-model"]
    partial = doc["entries"][2]
    assert partial["values"]["score"]["value"] is None  # adv_rte missing: no AdvGLUE score
    assert partial["provenance"]["missing_tasks"] == ["adv_rte"]
    keys = [c["key"] for c in doc["columns"]]
    assert keys == ["score", "score_norm", "adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli",
                    "adv_rte", "clean_mean", "sst2", "qqp", "mnli", "mnli_mismatch", "qnli", "rte", "pdr",
                    "consistency"]
    assert doc["schema"] == "skillneuron-harness/leaderboard" and doc["schema_version"] == 2


def test_markdown_and_csv(board):
    doc, out = board
    md = (out / "leaderboard.md").read_text()
    assert "| 1 | strong | base-model | 20-100 | 47.0 ± 1.8 ~ | 0.0 ± 3.4 ~ | 40.0 ± 4.0 ~ |" in md
    assert "- prompt sha256: `sha-/p/strong` (/p/strong)" in md
    rows = list(csv.DictReader((out / "leaderboard.csv").open()))
    assert [r["label"] for r in rows] == ["strong", "weak", "base-model"]
    assert float(rows[0]["pdr"]) == pytest.approx(0.400510204, abs=1e-9)
    assert rows[0]["score_at_chance"] == "true" and rows[2]["score"] == ""
    assert "adv_sst2=1.0" in rows[0]["task_versions"]


def test_cli_errors_name_the_problem(tmp_path, capsys):
    assert cli(["leaderboard", "--out", str(tmp_path)]) == 2
    assert "give a spec file" in capsys.readouterr().err
    assert cli(["leaderboard", "--from", str(tmp_path / "nope"), "--out", str(tmp_path)]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_normalised_score(board):
    """(acc - chance) / (1 - chance) per task, then the AdvGLUE mean; stderr se / (1 - chance) per task."""
    doc, _ = board
    v = next(r for r in doc["entries"] if r["label"] == "weak")["values"]
    # sst2 (0.30 - 0.5) / 0.5 = -0.4; qqp (0.40 - 0.5) / 0.5 = -0.2; mnli ((0.2 - 1/3) + (0.4 - 1/3)) / (2/3) / 2
    # = -0.05; qnli 0.0; rte (0.35 - 0.5) / 0.5 = -0.3
    assert v["score_norm"]["value"] == pytest.approx((-0.4 - 0.2 - 0.05 + 0.0 - 0.3) / 5)
    se_mnli = math.sqrt(2 * (0.06 / (2 / 3)) ** 2) / 2
    assert v["score_norm"]["stderr"] == pytest.approx(math.sqrt(4 * (0.04 / 0.5) ** 2 + se_mnli ** 2) / 5)
    assert "(acc - chance) / (1 - chance)" in doc["rules"]["normalised"]


def test_stderr_without_bootstrap_is_the_analytic_one(tmp_path):
    """``bootstrap_iters: 0``: lm-eval writes "N/A" for every stderr, acc's too; the board fills in acc's analytic one,
    sqrt(acc (1 - acc) / (n - 1)), and says so in its legend."""
    from synthetic_runs import STRONG, write_run

    folder = tmp_path / "runs" / "no-bootstrap"
    write_run(folder, STRONG, prompt="/p/strong")
    path = next(folder.glob("results_*.json"))
    data = json.loads(path.read_text())
    for row in data["results"].values():
        if "acc_stderr,none" in row:
            row["acc_stderr,none"] = "N/A"
    data["config"]["bootstrap_iters"] = 0
    path.write_text(json.dumps(data))
    out = tmp_path / "board"
    build_leaderboard(None, out, from_dirs=[tmp_path / "runs"])
    doc = json.loads((out / "leaderboard.json").read_text())
    v = doc["entries"][0]["values"]
    assert v["adv_sst2"]["stderr"] == pytest.approx(math.sqrt(0.4 * 0.6 / 99))
    assert v["adv_rte"]["stderr"] == pytest.approx(math.sqrt(0.45 * 0.55 / 19))
    assert v["adv_sst2"]["stderr_method"] == "analytic" and v["score"]["stderr"] is not None
    assert "filled in" in (out / "leaderboard.md").read_text()
    assert "±" in (out / "index.html").read_text()
