"""Standard exports: every entry and unit as an Every Eval Ever record, and boards merged from their leaderboard.json.

The records are validated against Every Eval Ever's published JSON schema: the ``every_eval_ever``
package's own copy where it installs (it needs Python >= 3.12), else the copy kept with these tests
in ``schemas/every_eval_ever-0.3.0/`` (``eval.schema.json`` of github.com/evaleval/every_eval_ever at
the commit its ``SOURCE`` names, MIT License, ``LICENSE``), read with ``jsonschema``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from synthetic_runs import STRONG, write_run, write_three

from skillneuron_harness.leaderboard import build_leaderboard
from skillneuron_harness.leaderboard.every_eval_ever import SCHEMA_VERSION

SCHEMA_COPY = Path(__file__).resolve().parent / "schemas" / "every_eval_ever-0.3.0" / "eval.schema.json"


def _schema() -> dict:
    try:
        from importlib.resources import files

        return json.loads(files("every_eval_ever.schemas").joinpath("eval.schema.json").read_text())
    except (ImportError, FileNotFoundError, ModuleNotFoundError):
        pass
    return json.loads(SCHEMA_COPY.read_text())


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    paths = build_leaderboard(None, root / "board", from_dirs=[write_three(root)])
    return paths, json.loads(paths["json"].read_text())


def test_every_entry_and_unit_validates(board):
    import jsonschema  # the test extra
    schema = _schema()
    assert schema["version"] == SCHEMA_VERSION
    validator = jsonschema.Draft7Validator(schema)
    paths, doc = board
    folder = paths["every_eval_ever"]
    entries = sorted(folder.glob("*.json"))
    units = sorted(folder.glob("*/*.json"))
    assert len(entries) == len(doc["entries"]) == 3
    assert len(units) == sum(len(r["provenance"]["tasks"]) for r in doc["entries"]) == 12 + 12 + 11
    for path in entries + units:
        record = json.loads(path.read_text())
        errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
        assert not errors, f"{path.name}: {errors[0].message} at {list(errors[0].path)}"
    strong = json.loads((folder / "strong.json").read_text())
    by_id = {r["evaluation_result_id"]: r for r in strong["evaluation_results"]}
    row = next(r for r in doc["entries"] if r["label"] == "strong")
    assert by_id["adv_sst2/acc"]["score_details"]["score"] == row["values"]["adv_sst2"]["value"]
    assert by_id["adv_sst2/acc"]["score_details"]["uncertainty"]["standard_error"]["value"] == 0.04
    assert by_id["leaderboard/score"]["score_details"]["score"] == row["values"]["score"]["value"]
    assert by_id["leaderboard/pdr"]["metric_config"]["lower_is_better"] is True
    assert strong["model_info"]["additional_details"]["prompt_sha256"] == "sha-/p/strong"
    unit = json.loads((folder / "strong" / "adv_rte.json").read_text())
    assert unit["evaluation_results"][0]["score_details"]["uncertainty"]["num_samples"] == 20
    key = unit["source_metadata"]["additional_details"]["unit_key"]
    assert len(key) == 16 and unit["evaluation_results"][0]["source_data"]["additional_details"]["unit_key"] == key


def _comparable(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc.pop("generated")
    return doc


def test_a_board_merged_from_two_leaderboard_jsons_is_the_board_of_all_runs(tmp_path):
    runs = write_three(tmp_path)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.move(runs / "strong", a / "strong")
    shutil.move(runs / "weak", b / "weak")
    shutil.move(runs / "partial", b / "partial")
    write_run(b / "limit4", {t: (a_, se, 4) for t, (a_, se, _) in STRONG.items()}, prompt="/p/strong")  # same prompt
    board_a = build_leaderboard(None, tmp_path / "board_a", from_dirs=[a])["json"]
    board_b = build_leaderboard(None, tmp_path / "board_b", from_dirs=[b])["json"]
    whole = build_leaderboard(None, tmp_path / "whole", from_dirs=[a, b])["json"]
    merged = build_leaderboard(None, tmp_path / "merged", from_dirs=[board_a, board_b])["json"]
    want, got = json.loads(whole.read_text()), json.loads(merged.read_text())
    assert [r["label"] for r in got["entries"]] == [r["label"] for r in want["entries"]]
    assert _comparable(got) == _comparable(want)
    # the same prompt in both boards is one entry: the later board's cells win, as the later folder's do
    strong = next(r for r in got["entries"] if r["label"] == "strong")
    assert strong["provenance"]["tasks"]["adv_sst2"]["num_docs"] == 4
    # a merged board can be merged again
    again = build_leaderboard(None, tmp_path / "again", from_dirs=[merged])["json"]
    assert _comparable(json.loads(again.read_text()))["entries"] == _comparable(got)["entries"]


def test_an_old_leaderboard_json_is_refused_with_the_way_out(tmp_path):
    old = tmp_path / "leaderboard.json"
    old.write_text(json.dumps({"schema": "skillneuron-harness/leaderboard", "schema_version": 1, "entries": []}))
    with pytest.raises(ValueError, match="schema_version 1 keeps no cells"):
        build_leaderboard(None, tmp_path / "board", from_dirs=[old])
