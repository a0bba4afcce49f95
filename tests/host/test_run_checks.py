"""A ``prompt_tuned`` run is refused before any work when its options cannot serve it, and a failure
after the work keeps the results: warm ``--use_cache``, generation tasks, the ``skill_neurons=``
folder, ``sn_subtasks=``, path-like task names, and skill-neuron files that are damaged or from
another model."""

from __future__ import annotations

import json

import lm_eval
import pytest
import torch
from neuron_files import damage
from safetensors.torch import load_file, save_file

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.host import model as prompt_tuned
from skillneuron_harness.host.model import PromptTunedLM
from skillneuron_harness.neurons import recorder as recorder_module
from skillneuron_harness.neurons.io import write_task_stats


@pytest.fixture(scope="module")
def clean_run(tiny_models, tmp_path_factory, task_manager):
    """A finished skill_neurons= run of the tiny BERT on sst2: its folder."""
    out = tmp_path_factory.mktemp("clean") / "sn"
    lm_eval.simple_evaluate(model="prompt_tuned", model_args=f"pretrained={tiny_models['bert']},skill_neurons={out},"
                            "sn_baseline_limit=4", tasks=["sst2"], limit=4, device="cpu", task_manager=task_manager,
                            bootstrap_iters=0)
    return out


def _evaluate(model_args: str, tasks, task_manager, **kwargs):
    return lm_eval.simple_evaluate(model="prompt_tuned", model_args=model_args, tasks=tasks, limit=4, device="cpu",
                                   task_manager=task_manager, bootstrap_iters=0, **kwargs)


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if the model would be loaded: the refusal must come first."""
    def load(*args, **kwargs):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(prompt_tuned.HFLM, "__init__", load)


# ------------------------------------------------------------------ refused at construction
def _bad_inputs(tmp_path, clean_run, tiny_models):
    (tmp_path / "a_file").write_text("x")
    sst2 = clean_run / "sst2.safetensors"
    score_only = tmp_path / "score_only.safetensors"
    rows = {
        "folder_is_a_file": (f"skill_neurons={tmp_path / 'a_file'}", f"skill_neurons={tmp_path / 'a_file'}: this is"),
        "folder_under_a_file": (f"skill_neurons={tmp_path / 'a_file' / 'sn'}", "is a file, so the folder cannot be"),
        "folder_unwritable": ("skill_neurons=/proc/skill_neurons", "skill_neurons=/proc/skill_neurons: cannot write"),
        "subtasks_syntax": (f"skill_neurons={tmp_path / 'o'},sn_subtasks=0-1", "sn_subtasks=0-1: subtask '0-1'"),
        "subtasks_twice": (f"skill_neurons={tmp_path / 'o'},sn_subtasks=0:0", "sn_subtasks=0:0: subtask 0:0"),
        "baseline_without_baseline": (f"skill_neurons={tmp_path / 'o'},sn_baseline={score_only}",
                                      f"sn_baseline={score_only}: the file has no baseline"),
        "mean_without_baseline": (f"suppress={score_only},suppress_mode=mean",
                                  "the file has no baseline"),
    }
    save_file({"score": torch.zeros(2, 64)}, score_only)
    for how in ("empty", "truncated", "garbage"):
        for arg in ("sn_baseline", "sn_reference", "suppress"):
            bad = tmp_path / f"{how}_{arg}" / "sst2.safetensors"
            bad.parent.mkdir()
            bad.write_bytes(sst2.read_bytes())
            damage(bad, how)
            prefix = "" if arg == "suppress" else f"skill_neurons={tmp_path / 'o'},"
            rows[f"{arg}_{how}"] = (f"{prefix}{arg}={bad}", f"{arg}={bad}: ")
    t5_file = tmp_path / "t5" / "sst2.safetensors"  # same shapes as the BERT's, but another model's
    write_task_stats(t5_file.parent, "sst2", baseline=torch.zeros(2, 1, 64), fire_counts=torch.zeros(2, 2, 1, 64),
                     class_counts=torch.tensor([2, 2]), provenance={"model": str(tiny_models["t5"])})
    for arg in ("sn_baseline", "sn_reference", "suppress"):
        prefix = "" if arg == "suppress" else f"skill_neurons={tmp_path / 'o'},"
        rows[f"{arg}_other_model"] = (f"{prefix}{arg}={t5_file}", f"it was written for model {tiny_models['t5']}, "
                                                                  f"this run uses {tiny_models['bert']}")
    return rows


BAD_INPUTS = ["folder_is_a_file", "folder_under_a_file", "folder_unwritable", "subtasks_syntax", "subtasks_twice",
              "baseline_without_baseline", "mean_without_baseline",
              *[f"{arg}_{how}" for how in ("empty", "truncated", "garbage") for arg in ("sn_baseline", "sn_reference",
                                                                                       "suppress")],
              "sn_baseline_other_model", "sn_reference_other_model", "suppress_other_model"]


@pytest.mark.parametrize("row", BAD_INPUTS)
def test_bad_input_is_refused_before_the_model_loads(row, tmp_path, clean_run, tiny_models, no_model_load):
    args, said = _bad_inputs(tmp_path, clean_run, tiny_models)[row]
    with pytest.raises(SkillNeuronError) as err:
        PromptTunedLM.create_from_arg_string(f"pretrained={tiny_models['bert']},{args}", {"device": "cpu"})
    assert said in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "o").exists()  # nothing written


@pytest.mark.parametrize("arg", ["sn_baseline", "sn_reference", "suppress"])
def test_file_of_a_model_with_other_layers_is_refused_after_loading_before_the_run(arg, tmp_path, clean_run,
                                                                                    tiny_models):
    other = tmp_path / "other" / "sst2.safetensors"  # recorded for this model's name, but 3 layers, not 2
    write_task_stats(other.parent, "sst2", baseline=torch.zeros(3, 1, 64), fire_counts=torch.zeros(2, 3, 1, 64),
                     class_counts=torch.tensor([2, 2]), provenance={"model": str(tiny_models["bert"])})
    prefix = "" if arg == "suppress" else f"skill_neurons={tmp_path / 'o'},"
    with pytest.raises(SkillNeuronError, match=f"{arg}={other}: it has 3 FFN layers, the model has 2"):
        PromptTunedLM.create_from_arg_string(f"pretrained={tiny_models['bert']},{prefix}{arg}={other}",
                                             {"device": "cpu"})


# ------------------------------------------------------------------ refused before evaluate's work
def _gen_task(tmp_path) -> dict:
    data = tmp_path / "gen.jsonl"
    data.write_text("".join(json.dumps({"sentence": f"s {i}", "label": i % 2}) + "\n" for i in range(4)))
    return {"task": "my_gen", "dataset_path": "json", "dataset_kwargs": {"data_files": {"validation": str(data)}},
            "output_type": "generate_until", "validation_split": "validation", "doc_to_text": "{{sentence}}",
            "doc_to_target": "{{label}}", "metric_list": [{"metric": "exact_match"}],
            "generation_kwargs": {"max_gen_toks": 2}}


def test_generation_task_with_skill_neurons_is_refused_naming_it(tmp_path, tiny_models, task_manager, monkeypatch):
    calls = []
    monkeypatch.setattr(PromptTunedLM, "loglikelihood", lambda self, *a, **k: calls.append(1))
    with pytest.raises(SkillNeuronError, match=r"task\(s\) my_gen \(generate_until\) are not multiple-choice"):
        _evaluate(f"pretrained={tiny_models['gpt2']},skill_neurons={tmp_path / 'sn'}", ["sst2", _gen_task(tmp_path)],
                  task_manager)
    assert calls == [] and not (tmp_path / "sn").exists()  # sst2's work never started


@pytest.mark.parametrize("option", ["skill_neurons", "suppress"])
@pytest.mark.parametrize("warm", [False, True])
def test_use_cache_is_refused_cold_or_warm(option, warm, tmp_path, clean_run, tiny_models, task_manager):
    cache = str(tmp_path / "cache")
    if warm:  # the same requests answered once, without our options
        _evaluate(f"pretrained={tiny_models['bert']}", ["sst2"], task_manager, use_cache=cache)
    value = tmp_path / "sn" if option == "skill_neurons" else clean_run / "sst2.safetensors"
    with pytest.raises(SkillNeuronError, match=f"{option}= cannot be combined with --use_cache"):
        _evaluate(f"pretrained={tiny_models['bert']},{option}={value}", ["sst2"], task_manager, use_cache=cache)
    assert not (tmp_path / "sn").exists()


def test_subtasks_that_do_not_fit_a_task_are_refused_naming_both(tmp_path, tiny_models, task_manager):
    with pytest.raises(SkillNeuronError, match=r"sn_subtasks=0:3: subtask 0:3: classes \[3\] are not in \[0, 2\) "
                                               r"\(task sst2 has 2 classes\)"):
        _evaluate(f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'},sn_subtasks=0:3", ["sst2"],
                  task_manager)
    assert not (tmp_path / "sn").exists()


def test_path_like_task_name_is_refused_up_front(tmp_path, tiny_models, task_manager):
    task = {**_gen_task(tmp_path), "task": "../escape", "output_type": "multiple_choice",
            "doc_to_target": "label", "doc_to_choice": ["negative", "positive"], "metric_list": [{"metric": "acc"}]}
    with pytest.raises(SkillNeuronError, match=r"task name '\.\./escape' cannot be a file name"):
        _evaluate(f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'}", [task], task_manager)
    assert not (tmp_path / "escape.safetensors").exists()


# ------------------------------------------------------------------ failures after the work keep the results
def test_write_failure_at_the_end_keeps_the_results(tmp_path, tiny_models, task_manager, monkeypatch, caplog):
    real = recorder_module.write_task_stats

    def disk_full_in_output_dir(directory, task, **kwargs):
        if str(directory) == str(tmp_path / "sn"):
            raise OSError(28, "No space left on device")
        return real(directory, task, **kwargs)

    monkeypatch.setattr(recorder_module, "write_task_stats", disk_full_in_output_dir)
    results = _evaluate(f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'},sn_baseline_limit=4",
                        ["sst2"], task_manager)
    summary = results["skill_neurons"]["sst2"]
    assert results["results"]["sst2"]["acc,none"] is not None and summary["num_docs"] == 4
    assert "No space left on device" in summary["write_error"] and "written to" in summary["write_error"]
    assert all(f.endswith(("sst2.safetensors", "sst2.json")) and "skill_neurons-" in f for f in summary["files"])
    assert "writing sst2's files failed" in caplog.text


def test_full_disk_reported_by_safetensors_keeps_the_results(tmp_path, tiny_models, task_manager, monkeypatch):
    import safetensors.torch
    from safetensors import SafetensorError

    real = safetensors.torch.save_file

    def disk_full_in_output_dir(tensors, filename, metadata=None):
        if str(tmp_path / "sn") in str(filename):
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                                  '"No space left on device" })')
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", disk_full_in_output_dir)
    results = _evaluate(f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'},sn_baseline_limit=4",
                        ["sst2"], task_manager)
    summary = results["skill_neurons"]["sst2"]
    assert results["results"]["sst2"]["acc,none"] is not None and summary["num_docs"] == 4
    assert "No space left on device" in summary["write_error"] and "written to" in summary["write_error"]
    fallback = [f for f in summary["files"] if f.endswith("sst2.safetensors")]
    assert fallback and "skill_neurons-" in fallback[0] and load_file(fallback[0])["class_counts"].sum() == 4
    assert not list((tmp_path / "sn").glob("*.partial")) and not list((tmp_path / "sn").glob(".*.partial"))


def test_reference_damaged_during_the_run_keeps_the_results(tmp_path, clean_run, tiny_models, task_manager,
                                                            monkeypatch):
    reference = tmp_path / "ref" / "sst2.safetensors"
    reference.parent.mkdir()
    reference.write_bytes((clean_run / "sst2.safetensors").read_bytes())
    lm = PromptTunedLM.create_from_arg_string(
        f"pretrained={tiny_models['bert']},skill_neurons={tmp_path / 'sn'},sn_baseline_limit=4,"
        f"sn_reference={reference}", {"device": "cpu"})
    damage(reference, "truncated")  # after the checks, before the end of the run
    results = lm_eval.simple_evaluate(model=lm, tasks=["adv_sst2"], limit=4, task_manager=task_manager,
                                      bootstrap_iters=0)
    consistency = results["skill_neurons"]["adv_sst2"]["consistency"]
    assert f"sn_reference={reference}" in consistency["error"] and "truncated" in consistency["error"]
    assert (tmp_path / "sn" / "adv_sst2.safetensors").is_file() and results["results"]["adv_sst2"]["acc,none"] >= 0
