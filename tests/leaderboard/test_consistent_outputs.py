"""A leaderboard folder is rewritten whole or not at all: a bad input leaves the previous four files as they were."""

from __future__ import annotations

import json

import pytest
from synthetic_runs import STRONG, write_run

import skillneuron_harness.leaderboard.render as render
from skillneuron_harness.cli import main as cli
from skillneuron_harness.leaderboard import build_leaderboard

OUTPUTS = ("leaderboard.json", "leaderboard.csv", "leaderboard.md", "index.html")


@pytest.fixture()
def board(tmp_path):
    write_run(tmp_path / "good", STRONG, prompt="/p/strong")
    write_run(tmp_path / "sha_int", {t: (round(a - 0.1, 10), se, n) for t, (a, se, n) in STRONG.items()},
              prompt="/p/other")
    path = next((tmp_path / "sha_int").glob("results_*.json"))
    data = json.loads(path.read_text())
    data["config"]["prompt_sha256"] = 12345
    path.write_text(json.dumps(data))
    assert cli(["leaderboard", "--from", str(tmp_path / "good"), "--out", str(tmp_path / "board")]) == 0
    return tmp_path, {name: (tmp_path / "board" / name).read_bytes() for name in OUTPUTS}


def test_a_bad_file_added_to_a_written_board_leaves_it_as_it_was(board, capsys):
    root, before = board
    assert cli(["leaderboard", "--from", str(root / "good"), str(root / "sha_int"), "--out", str(root / "board")]) == 2
    err = capsys.readouterr().err
    assert "'config.prompt_sha256' is a number 12345" in err and str(root / "sha_int") in err
    assert {name: (root / "board" / name).read_bytes() for name in OUTPUTS} == before
    doc = json.loads(before["leaderboard.json"])
    assert len(doc["entries"]) == 1 and before["index.html"].count(b'class="entry') == 1


def test_a_render_that_fails_writes_none_of_the_four(board, monkeypatch):
    root, before = board
    write_run(root / "more", STRONG, prompt="/p/more")

    def broken(doc, out):
        raise RuntimeError("render failed")

    monkeypatch.setattr(render, "to_html", broken)  # the last of the four to render
    with pytest.raises(RuntimeError, match="render failed"):
        build_leaderboard(None, root / "board", from_dirs=[root / "good", root / "more"])
    assert {name: (root / "board" / name).read_bytes() for name in OUTPUTS} == before


def test_from_folders_are_checked_before_any_unit_runs(board, monkeypatch):
    root, _ = board
    import skillneuron_harness.leaderboard.run as run
    from skillneuron_harness.leaderboard.results import FromFolderError
    from skillneuron_harness.leaderboard.spec import Entry, RunOptions, Spec

    def must_not_run(*args, **kwargs):
        raise AssertionError("units ran before --from was read")

    monkeypatch.setattr(run, "run_units", must_not_run)
    monkeypatch.setattr("skillneuron_harness.leaderboard.suite.expand", lambda tasks, manager, source: [])
    spec = Spec(title="t", tasks=["sst2"], run=RunOptions(), entries=[Entry(label="e", model="hf", model_args={})],
                source="board.yaml")
    with pytest.raises(FromFolderError, match="prompt_sha256"):
        build_leaderboard(spec, root / "board2", from_dirs=[root / "sha_int"], manager=object())
    assert not (root / "board2").exists()
