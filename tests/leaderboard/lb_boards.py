"""Synthetic boards for the page tests: entries at two limits, a chance-level entry, perturbation twins, an attack set.

Built on ``synthetic_runs.write_run`` (what ``lm_eval --output_path`` writes), edited the way a real
run differs: ``config.limit`` and ``n-samples``, ``acc_stderr`` written as ``N/A`` (``bootstrap_iters
0``), twin and attack configs with their ``metadata`` and the paired metrics lm-eval's results hold.
"""

from __future__ import annotations

import json

from synthetic_runs import STRONG, write_run


def edit(folder, change) -> None:
    """Apply ``change(data)`` to the one results file in ``folder``."""
    path = next(folder.glob("results_*.json"))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def at_limit(data: dict, limit: int) -> None:
    """A run at ``--limit limit``: every task evaluated on ``limit`` documents."""
    data["config"]["limit"] = limit
    for task in data["n-samples"]:
        data["n-samples"][task] = {"original": 100, "effective": limit}


def write_mixed(root):
    """Four runs under ``root/mixed``: strong and weak (all documents), "short" at limit 20, and a no-prompt run
    at chance level on every task (its PDR negative: it would top the PDR sort)."""
    runs = root / "mixed"
    write_run(runs / "strong", STRONG, prompt="/p/strong", consistency={"adv_sst2": 0.30, "adv_rte": 0.10})
    write_run(runs / "weak", {t: (round(a - 0.1, 10), se, n) for t, (a, se, n) in STRONG.items()}, prompt="/p/weak")
    write_run(runs / "short", {t: (round(a + 0.05, 10), se, 20) for t, (a, se, n) in STRONG.items()},
              prompt="/p/short")
    edit(runs / "short", lambda d: at_limit(d, 20))
    chance = {t: ((1 / 3 if "mnli" in t else 0.5) - (0.02 if t.startswith("adv_") else 0.04), se, n)
              for t, (_, se, n) in STRONG.items()}
    write_run(runs / "chance", chance, model="org/random-init")
    return runs
