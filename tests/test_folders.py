"""Output folders are checked before any work: a file, a read-only folder and a full disk are refused."""

from __future__ import annotations

import errno
import os

import pytest

from skillneuron_harness.core import folders
from skillneuron_harness.core.folders import MIN_FREE, OutputDirError, check_output_dir


def test_a_folder_or_a_place_to_make_one_passes_and_nothing_is_created(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b", "--out") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []


def test_a_file_or_a_folder_under_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputDirError, match=f"--out {tmp_path / 'f'}: this is a file"):
        check_output_dir(tmp_path / "f", "--out")
    with pytest.raises(OutputDirError, match="is a file, so the folder cannot be made"):
        check_output_dir(tmp_path / "f" / "sub", "skill_neurons=")


def test_a_read_only_folder_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as root: chmod does not make the folder read-only")
        with pytest.raises(OutputDirError, match=f"--out {folder / 'sub'}: cannot write in {folder}"):
            check_output_dir(folder / "sub", "--out")
    finally:
        folder.chmod(0o755)


def test_a_write_the_file_system_refuses_is_refused(tmp_path, monkeypatch):
    def read_only(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(folders, "probe_write", read_only)
    with pytest.raises(OutputDirError, match=f"--out {tmp_path}: cannot write in {tmp_path} \\(Read-only file "
                                             "system\\); pass a writable folder"):
        check_output_dir(tmp_path, "--out")


def test_too_little_free_space_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(folders, "free_bytes", lambda path: 1000)
    with pytest.raises(OutputDirError, match=r"1000 B free in .*, the outputs need about 1\.0 MiB"):
        check_output_dir(tmp_path, "--out")
    check_output_dir(tmp_path, "--out", need=500)
    assert MIN_FREE == 1 << 20


@pytest.fixture
def read_only(monkeypatch):
    def refuse(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(folders, "probe_write", refuse)


def test_report_refuses_a_read_only_out_before_reading(tmp_path, read_only, capsys):
    from skillneuron_harness.cli import main

    (tmp_path / "runs").mkdir()
    assert main(["report", str(tmp_path / "runs"), "--out", str(tmp_path / "rep")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"skillneuron report: --out {tmp_path / 'rep'}: cannot write in {tmp_path} (Read-only file "
                   "system); pass a writable folder."]


def test_train_refuses_a_read_only_output_before_loading(tmp_path, read_only, monkeypatch, capsys):
    from skillneuron_harness.cli import main
    from skillneuron_harness.experiments.training import trainer

    def prepare(config):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(trainer, "prepare", prepare)
    rc = main(["train", "--model", "m", "--task", "sst2", "--output", str(tmp_path / "adapter")])
    assert rc == 2 and f"--output {tmp_path / 'adapter'}: cannot write in {tmp_path}" in capsys.readouterr().out
    assert not (tmp_path / "adapter").exists()
