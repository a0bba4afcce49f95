"""Skill-neuron files given as input: damaged ones and ones from another model are refused by name."""

from __future__ import annotations

import pytest
from neuron_files import BERT, T5, damage, write_run

from skillneuron_harness.cli import main
from skillneuron_harness.neurons import io
from skillneuron_harness.neurons.validate import NeuronFileError, check_fits, check_neuron_file

KINDS = ["empty", "truncated", "header_cut", "garbage", "never_completed"]


@pytest.mark.parametrize("how", KINDS)
def test_damaged_file_is_refused_naming_argument_and_file(how, tmp_path):
    path = write_run(tmp_path, T5)
    why = damage(path, how)
    with pytest.raises(NeuronFileError) as err:
        check_neuron_file(path, "sn_baseline", require=("baseline",))
    assert f"sn_baseline={path}" in str(err.value) and why in str(err.value)
    with pytest.raises(NeuronFileError, match=f"sn_reference={path}"):
        io.read_task_stats(tmp_path, "sst2", arg="sn_reference")


@pytest.mark.parametrize("how", KINDS)
def test_average_refuses_a_damaged_run_and_writes_nothing(how, tmp_path, capsys):
    write_run(tmp_path / "a", T5, seed=1)
    bad = write_run(tmp_path / "b", T5, seed=2)
    damage(bad, how)
    rc = main(["average", str(tmp_path / "a"), str(tmp_path / "b"), "--task", "sst2", "--output", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and f"DIRECTORIES={bad}" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("other, said", [
    (BERT, "model /models/t5-small vs google-bert/bert-base-uncased"),
    ({**T5, "positions": "last"}, "positions prompt vs last"),
    ({**T5, "backend": "causal"}, "backend seq2seq vs causal"),
])
def test_average_refuses_runs_of_different_models(other, said, tmp_path, capsys):
    write_run(tmp_path / "a", T5, seed=1)
    write_run(tmp_path / "b", other, seed=2)  # same shapes: it would average silently
    rc = main(["average", str(tmp_path / "a"), str(tmp_path / "b"), "--task", "sst2", "--output", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert rc == 2 and said in err and str(tmp_path / "a" / "sst2.safetensors") in err
    assert str(tmp_path / "b" / "sst2.safetensors") in err


def test_average_refuses_other_shapes_and_records_provenance(tmp_path, capsys):
    write_run(tmp_path / "a", T5)
    write_run(tmp_path / "b", {**T5, "model": "/elsewhere/t5-small"}, neurons=16)  # same name, other width
    assert main(["average", str(tmp_path / "a"), str(tmp_path / "b"), "--task", "sst2",
                 "--output", str(tmp_path / "m")]) == 2
    assert "[layers, neurons] [2, 8] vs [2, 16]" in capsys.readouterr().err
    write_run(tmp_path / "c", {**T5, "model": "t5-small"}, seed=3)  # one model under two names: accepted
    assert main(["average", str(tmp_path / "a"), str(tmp_path / "c"), "--task", "sst2",
                 "--output", str(tmp_path / "m")]) == 0
    mean = check_neuron_file(tmp_path / "m" / "sst2.safetensors", "suppress")
    assert mean.provenance["backend"] == "seq2seq" and len(mean.provenance["averaged_over"]) == 2
    with pytest.raises(NeuronFileError, match="written for model /models/t5-small, this run uses prajjwal1/bert"):
        check_fits(mean, model="prajjwal1/bert", backend="masked")


@pytest.mark.parametrize("kwargs, said", [
    ({"model": "/tmp/bert-tiny"}, "it was written for model /models/t5-small, this run uses /tmp/bert-tiny"),
    ({"backend": "masked"}, "its backend is seq2seq, this run's is masked"),
    ({"layers": 4}, "it has 2 FFN layers, the model has 4"),
    ({"width": 32}, "its layers have 8 neurons, the model's have 32"),
    ({"positions": "last"}, "recorded at sn_positions=prompt, this run records last"),
    ({"num_positions": 1}, "its baseline has 3 positions, this run records 1"),
])
def test_check_fits_names_the_mismatch_both_models_and_the_file(kwargs, said, tmp_path):
    info = check_neuron_file(write_run(tmp_path, T5), "sn_baseline", require=("baseline",))
    check_fits(info, model="google-t5/t5-small", backend="seq2seq", layers=2, width=8, positions="prompt",
               num_positions=3)  # the same model under its Hub id: fits
    with pytest.raises(NeuronFileError) as err:
        check_fits(info, **kwargs)
    assert said in str(err.value) and f"sn_baseline={info.path}" in str(err.value)


def test_a_json_from_another_write_is_not_taken_for_the_files_summary(tmp_path, caplog):
    write_run(tmp_path, T5, seed=1)
    stale = (tmp_path / "sst2.json").read_bytes()
    write_run(tmp_path, {**T5, "num_docs": 99}, seed=2)  # as if a rerun died between its two writes:
    (tmp_path / "sst2.json").write_bytes(stale)  # new tensors, old JSON
    assert io.read_task_stats(tmp_path, "sst2").summary is None
    assert "does not describe" in caplog.text
