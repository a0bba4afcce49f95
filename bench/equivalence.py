"""Same tensors and log-likelihoods before and after a change: record once, compare later.

    python bench/equivalence.py record DIR     # at the old commit
    python bench/equivalence.py compare DIR    # at the new one: exit 1 on any difference

On tiny random T5, BERT, GPT-2 and RoBERTa (tests/tiny_models.py, built once into DIR and reused)
with a seeded 4-token soft prompt, it runs ``prompt_tuned`` through lm-eval's ``simple_evaluate``
(the public API only, so the script runs unchanged on any layout of the package) twice per model:
``skill_neurons=`` on ``sst2`` + ``adv_sst2`` (8 documents each, an 8-document baseline), then
``suppress=`` with the clean skill neurons on ``adv_sst2``. It keeps every per-document
log-likelihood and every tensor of the skill-neuron files; ``compare`` asks for bitwise equality.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from _offline import offline_datasets  # noqa: E402

FAMILIES = ("t5", "bert", "gpt2", "roberta")


def _models(work: Path) -> dict[str, Path]:
    import tiny_models

    models = {}
    for name in FAMILIES:
        folder = work / "models" / name
        if not (folder / "config.json").exists():
            tiny_models.BUILDERS[name](folder)
        prompt = work / "models" / f"{name}_prompt.safetensors"
        if not prompt.exists():
            width = json.loads((folder / "config.json").read_text()).get("d_model") or \
                json.loads((folder / "config.json").read_text()).get("hidden_size") or \
                json.loads((folder / "config.json").read_text())["n_embd"]
            save_file({"prompt": torch.randn(4, width, generator=torch.Generator().manual_seed(7))}, str(prompt))
        models[name] = folder
    return models


def _run(model_args: str, tasks: list[str]) -> dict[str, list]:
    import lm_eval

    results = lm_eval.simple_evaluate(model="prompt_tuned", model_args=model_args, tasks=tasks, limit=8,
                                      device="cpu", batch_size=4, bootstrap_iters=0, log_samples=True)
    return {task: [[list(r) for r in s["resps"]] for s in sorted(samples, key=lambda s: s["doc_id"])]
            for task, samples in results["samples"].items()}


def measure(work: Path, out: Path) -> None:
    """Every log-likelihood and skill-neuron tensor of the runs above, under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, folder in _models(work).items():
        prompt = work / "models" / f"{name}_prompt.safetensors"
        sn = out / f"sn_{name}"
        base = f"pretrained={folder},prompt={prompt}"
        scores = {"skill_neurons": _run(f"{base},skill_neurons={sn},sn_baseline_limit=8", ["sst2", "adv_sst2"]),
                  "suppress": _run(f"{base},suppress={sn / 'sst2.safetensors'},suppress_top=0.1", ["adv_sst2"])}
        (out / f"{name}_loglikelihoods.json").write_text(json.dumps(scores))


def compare(reference: Path, now: Path) -> list[str]:
    differences = []
    for name in FAMILIES:
        a = json.loads((reference / f"{name}_loglikelihoods.json").read_text())
        b = json.loads((now / f"{name}_loglikelihoods.json").read_text())
        if a != b:
            differences.append(f"{name}: log-likelihoods differ")
        for file in sorted((reference / f"sn_{name}").glob("*.safetensors")):
            old, new = load_file(str(file)), load_file(str(now / f"sn_{name}" / file.name))
            if old.keys() != new.keys():
                differences.append(f"{name}/{file.name}: tensors {sorted(old)} vs {sorted(new)}")
            for key in old.keys() & new.keys():
                if old[key].shape != new[key].shape or not torch.equal(old[key], new[key]):
                    differences.append(f"{name}/{file.name}: {key} differs")
    return differences


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        print(__doc__)
        return 2
    work = Path(argv[1]).resolve()
    offline_datasets(work / "datasets")
    if argv[0] == "record":
        measure(work, work / "reference")
        print(f"recorded in {work / 'reference'}")
        return 0
    measure(work, work / "now")
    differences = compare(work / "reference", work / "now")
    print("\n".join(differences) or f"identical: {len(FAMILIES)} models, log-likelihoods and skill-neuron tensors")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
