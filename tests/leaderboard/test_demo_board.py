"""The README's leaderboard screenshot, from a real run of the demo model (set ``LEADERBOARD_SCREENSHOT=PATH``).

Two entries on all-MiniLM-L6-v2 with the shipped masked-LM head (``skillneuron demo``'s model):
the shipped SST-2 soft prompt, with skill neurons and the numbers its file records as
``reported``, and the same model without a prompt as the baseline. Suite: ``sst2``, ``adv_sst2``
and the perturbed twin ``sn_sst2_chars`` at ``limit: 40`` (about a CPU-minute). The page is
opened at 1366x768 with the baseline's card open (its reproduction command and per-task bars) and
saved as PNG::

    LEADERBOARD_SCREENSHOT=docs/leaderboard.png pytest tests/leaderboard/test_demo_board.py

Skipped without the variable (the other page tests check the page itself).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

SHOT = os.environ.get("LEADERBOARD_SCREENSHOT")


@pytest.mark.skipif(not SHOT, reason="set LEADERBOARD_SCREENSHOT=PATH to run the demo board and save its screenshot")
def test_demo_board_screenshot(tmp_path, laptop, task_manager):
    from safetensors import safe_open
    from selenium.webdriver.common.by import By

    from skillneuron_harness.host.demo_model import SHIPPED_PROMPT, demo_model_path
    from skillneuron_harness.leaderboard import build_leaderboard

    model = str(demo_model_path())
    with safe_open(str(SHIPPED_PROMPT), "pt") as f:
        meta = f.metadata()
    spec = {
        "title": "SST-2 soft prompts on the demo model (all-MiniLM-L6-v2)",
        "tasks": ["sst2", "adv_sst2", "sn_sst2_chars"],
        "run": {"device": "cpu", "batch_size": 32, "limit": 40, "bootstrap_iters": 0},
        "entries": [
            {"label": "shipped SST-2 prompt", "model": "prompt_tuned", "skill_neurons": True,
             "model_args": {"pretrained": model, "prompt": str(SHIPPED_PROMPT), "sn_baseline_limit": 64},
             "notes": "the prompt skillneuron demo evaluates",
             "reported": {"source": "the prompt file's metadata (all documents)", "sst2": float(meta["sst2_acc"]),
                          "adv_sst2": float(meta["adv_sst2_acc"])}},
            {"label": "no prompt", "model": "prompt_tuned", "baseline": True, "model_args": {"pretrained": model},
             "notes": "the frozen model alone: a reference, not a ranking"},
        ],
    }
    (tmp_path / "board.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    paths = build_leaderboard(tmp_path / "board.yaml", tmp_path / "board", manager=task_manager)
    doc = json.loads(paths["json"].read_text())
    assert [r["label"] for r in doc["entries"]][0] == "shipped SST-2 prompt"
    driver = laptop
    driver.get(Path(paths["html"]).as_uri())
    body = driver.find_element(By.CSS_SELECTOR, 'tbody.entry[data-label="no prompt"]')
    body.find_element(By.CSS_SELECTOR, "button.prov").click()
    driver.execute_script("window.scrollTo(0, 0)")
    shot = tmp_path / "leaderboard.png"
    assert driver.save_screenshot(str(shot))
    shutil.copyfile(shot, SHOT)
