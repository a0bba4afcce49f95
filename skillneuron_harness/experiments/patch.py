"""``skillneuron patch``: do the clean skill neurons carry a flipped prediction back? Activation patching on pairs.

    skillneuron patch --model google-t5/t5-base --prompt p/seed33 --task my_adv_sst2 \\
        --neurons sn/seed33/sst2.safetensors --out patch/seed33

For every pair of the adversarial task (a document with ``clean_doc_id`` and the clean twin's
document it names) both documents are scored as evaluation scores them, and their FFN activations
kept at the neuron file's positions (``positions`` of its provenance: the soft-prompt positions,
or the last context token / first mask). Then, for each k in ``--percents`` (percent of each
layer, floor(k x D) neurons, the file's top by ``score``) and for as many random neurons per layer
(``--seed``; ``--no-random`` skips them):

* **restore**: the adversarial document is scored with those neurons set to their values in the
  clean document; ``restored_fraction`` is the fraction of the pairs whose prediction had flipped
  that get the clean prediction back;
* **break**: the clean document is scored with the adversarial values; ``broken_fraction`` is the
  fraction of the pairs whose clean prediction was right that become wrong.

k = 0 is the unpatched model. One forward pass per document and patch: (2 + 2 x |percents| x 2)
passes per pair. Writes ``patch.json`` (settings, per-pair predictions, one record per control and
k), ``patch.csv``, ``patch.md`` and ``patch.png`` in ``--out``. The hooks:
:mod:`skillneuron_harness.neurons.patching`.
"""

from __future__ import annotations

import argparse
import csv
import logging
from contextlib import nullcontext
from pathlib import Path

import torch

from skillneuron_harness.core.atomic import atomic_path, write_json, write_text
from skillneuron_harness.core.escape import csv_cell
from skillneuron_harness.experiments.runs import add_run_arguments

DEFAULT_PERCENTS = (0, 1, 2, 5, 10, 20)
CSV_FIELDS = ("task", "control", "percent", "neurons_per_layer", "pairs", "flipped", "restored", "restored_fraction",
              "clean_correct", "broken", "broken_fraction", "adv_changed_fraction")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="skillneuron patch", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", required=True, help="Hub id or local path of the frozen base model")
    p.add_argument("--prompt", default=None, help="the soft prompt (PEFT folder or file); none: the base model")
    p.add_argument("--task", required=True, help="the adversarial task (metadata.clean_twin, clean_doc_id column)")
    p.add_argument("--neurons", required=True, metavar="FILE",
                   help="the clean twin's <task>.safetensors from a skill_neurons= run of this model and prompt")
    p.add_argument("--out", "--output", required=True, help="output folder")
    p.add_argument("--percents", nargs="+", type=float, default=list(DEFAULT_PERCENTS),
                   help="k, percent of each layer's neurons")
    p.add_argument("--seed", type=int, default=0, help="seed of the random neurons")
    p.add_argument("--random", action=argparse.BooleanOptionalAction, default=True,
                   help="also patch as many random neurons per layer (the control curve)")
    add_run_arguments(p)
    return p


def score_document(lm, group, positions: str, patch=None) -> tuple[int, torch.Tensor]:
    """(the predicted choice, activations (L, P', D) at ``positions``) of one document, ``patch`` armed."""
    from skillneuron_harness.core.scoring import score_groups
    from skillneuron_harness.neurons.capture import capture_ffn

    engine = lm.engine
    with capture_ffn(engine.model, hook_points=engine.hook_points) as capture, \
            (patch.armed(engine.model) if patch is not None else nullcontext()):

        def before_forward(layout):
            capture.select = layout.select(positions)
            if patch is not None:
                patch.select = capture.select

        with torch.no_grad(), engine.autocast(), engine.interventions():
            scored = score_groups(engine.backend, engine.model, engine.prompt, [group], engine.tokenizer,
                                  engine.softmax_dtype, before_forward=before_forward, layout=engine.layout)
        acts = capture.take()[scored.group_rows]  # (1, L, P', D)
    return int(torch.argmax(scored.logprobs[0])), acts[0].float().cpu()


def run_patch(lm, task: str, neurons: Path, out: Path, *, percents=DEFAULT_PERCENTS, seed: int = 0,
              random: bool = True, limit: int | None = None, manager=None, settings: dict | None = None) -> dict:
    """Patch every pair of ``task`` (see the module docstring); returns what ``patch.json`` holds."""
    from skillneuron_harness.host.pair_documents import document_pairs
    from skillneuron_harness.neurons.io import read_task_stats
    from skillneuron_harness.neurons.patching import Patch, patch_outcomes
    from skillneuron_harness.neurons.suppression import select_neurons
    from skillneuron_harness.neurons.validate import check_fits, check_neuron_file

    info = check_neuron_file(neurons, "--neurons", require=("score",))
    points = lm.engine.hook_points
    check_fits(info, layers=len(points), width=points[0].width)
    stats = read_task_stats(neurons.parent, neurons.stem, arg="--neurons")
    positions = stats.provenance.get("positions") or "prompt"
    score = stats.tensors["score"]  # (L, D)
    clean_name, pairs = document_pairs(lm, task, manager, limit)
    clean_runs = {p.clean_doc_id: score_document(lm, p.clean.group, positions) for p in pairs}
    adv_runs = [score_document(lm, p.adv.group, positions) for p in pairs]
    clean_pred = [clean_runs[p.clean_doc_id][0] for p in pairs]
    adv_pred = [pred for pred, _ in adv_runs]
    gold = [p.clean.gold for p in pairs]
    records = []
    for percent in percents:
        for control in ("skill", "random") if random and percent > 0 else ("skill",):
            mask = select_neurons(score, percent / 100, control, seed)  # (L, D)
            adv_patched = [score_document(lm, p.adv.group, positions,
                                          Patch(mask, clean_runs[p.clean_doc_id][1], points))[0] for p in pairs]
            clean_patched = [score_document(lm, p.clean.group, positions, Patch(mask, acts, points))[0]
                             for p, (_, acts) in zip(pairs, adv_runs, strict=True)]
            outcome = patch_outcomes(clean_pred, adv_pred, gold, adv_patched, clean_patched)
            for c in ("skill", "random") if random and percent == 0 else (control,):  # k = 0 is both curves' start
                records.append({"task": task, "control": c, "percent": percent,
                                "neurons_per_layer": int(mask.sum(1).max()), **outcome})
    result = {"settings": {**(settings or {}), "task": task, "clean_twin": clean_name, "neurons": str(neurons),
                           "positions": positions, "seed": seed, "percents": list(percents)},
              "pairs": [{"doc_id": p.doc_id, "clean_doc_id": p.clean_doc_id, "kind": p.kind, "label": g,
                         "clean_pred": c, "adv_pred": a} for p, g, c, a in zip(pairs, gold, clean_pred, adv_pred,
                                                                                  strict=True)],
              "records": records}
    write_outputs(result, out)
    return result


def write_outputs(result: dict, out: Path) -> dict[str, Path]:
    """``patch.{json,csv,md,png}``."""
    from skillneuron_harness.report.render import markdown_table, pct

    out.mkdir(parents=True, exist_ok=True)
    records = result["records"]
    paths = {"json": write_json(out / "patch.json", result)}
    paths["csv"] = out / "patch.csv"
    with atomic_path(paths["csv"]) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_FIELDS))
        writer.writeheader()
        writer.writerows({k: csv_cell(r.get(k)) for k in CSV_FIELDS} for r in records)
    settings = result["settings"]
    paths["md"] = write_text(out / "patch.md", (
        f"# Activation patching: {settings['task']} and {settings['clean_twin']}\n\n"
        "Restored: flipped pairs whose adversarial document, with the neurons set to the clean document's values, "
        "gets the clean prediction back. Broken: pairs with a right clean prediction that the adversarial values "
        "make wrong.\n\n") + markdown_table(
        ["neurons", "k (%)", "per layer", "pairs", "restored", "broken"],
        [[r["control"], f"{r['percent']:g}", r["neurons_per_layer"], r["pairs"],
          f"{r['restored']}/{r['flipped']} ({pct(r['restored_fraction'])})",
          f"{r['broken']}/{r['clean_correct']} ({pct(r['broken_fraction'])})"] for r in records]) + "\n")
    if records:
        paths["png"] = patch_figure(records, out / "patch.png", settings["task"])
    return paths


def patch_figure(records: list[dict], path: Path, task: str) -> Path:
    """Restored and broken fractions over k, skill neurons against random ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharex=True)
    for ax, key, title in ((axes[0], "restored_fraction", "flips restored (adv <- clean values)"),
                           (axes[1], "broken_fraction", "correct broken (clean <- adv values)")):
        for control, style in (("skill", "-o"), ("random", "--s")):
            points = [(r["percent"], r[key]) for r in records if r["control"] == control and r[key] is not None]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=f"{control} neurons")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("k (% of each layer)")
        ax.set_ylim(-0.02, 1.02)
        if ax.get_legend_handles_labels()[0]:  # no pair to count: an empty panel
            ax.legend(fontsize=8)
    axes[0].set_ylabel("fraction of pairs")
    fig.suptitle(f"Activation patching on {task}", fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron patch``."""
    args = build_parser().parse_args(argv)
    from skillneuron_harness.core.logs import host_logs, setup_logging
    from skillneuron_harness.core.results import parse_limit
    from skillneuron_harness.experiments.runs import load_model, parse_prompts, task_manager

    setup_logging(logging.INFO)
    try:
        prompt = parse_prompts([args.prompt])[0] if args.prompt else None
        limit = parse_limit(args.limit)
        if isinstance(limit, float):
            raise ValueError(f"--limit {args.limit}: patching takes a number of documents, e.g. --limit 100.")
        batch_size = int(args.batch_size) if args.batch_size.isdigit() else 1
        from skillneuron_harness.neurons.validate import check_neuron_file

        check_neuron_file(args.neurons, "--neurons", require=("score",))  # before the model is loaded
        with host_logs(args.verbose):
            lm = load_model(args.model, prompt, device=args.device, batch_size=batch_size, backend=args.backend,
                            dtype=args.dtype)
            result = run_patch(lm, args.task, Path(args.neurons), Path(args.out), percents=args.percents,
                               seed=args.seed, random=args.random, limit=limit,
                               manager=task_manager(args.include_path),
                               settings={"model": args.model, "prompt": args.prompt})
    except (FileNotFoundError, ValueError) as err:
        print(f"skillneuron patch: {err}")
        return 2
    print(f"{len(result['pairs'])} pairs, {len(result['records'])} points written to "
          f"{Path(args.out) / 'patch.json'} (.csv, .md, .png)")
    return 0
