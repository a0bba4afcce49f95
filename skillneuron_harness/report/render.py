"""Write the report: ``report.md`` with PNG figures in ``figures/``, or ``report.json``.

Markdown cells show ``mean ± SEM`` in percent (``n/a`` where undefined: one prompt has no SEM, a
task without an adversarial twin has no PDR). The JSON holds the same numbers as fractions, with
``null`` for undefined values, for leaderboards and further analysis.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import skillneuron_harness.report.figures as figures
import skillneuron_harness.report.paper as paper
import skillneuron_harness.report.tables as tables
from skillneuron_harness.core.atomic import write_json, write_text
from skillneuron_harness.core.constants import DEFAULT_TOP
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.escape import md_link_target, md_text
from skillneuron_harness.core.folders import check_output_dir
from skillneuron_harness.neurons.statistics import json_safe
from skillneuron_harness.report.collect import Collection, gather
from skillneuron_harness.report.runs import describe, select
from skillneuron_harness.report.runs_text import runs_lines, runs_markdown

MIN_RVC_POINTS = 3  # prompts needed for a Spearman correlation that can mean anything


def compute(collection: Collection, top: float = DEFAULT_TOP, ties: str = "high") -> dict[str, Any]:
    """All tables of the report (plain values, NaN where undefined); ``ties`` orders equal scores."""
    consistency_rows = tables.consistency_table(collection, top=top, ties=ties)
    return {
        "group": collection.label,
        "limit": collection.limit,
        "sources": collection.sources,
        "top_fraction": top,
        "ties": ties,
        "accuracy": tables.accuracy_table(collection),
        "transfer": tables.transfer_matrix(collection),
        "skill_neurons": tables.skill_neuron_table(collection, top=top, ties=ties),
        "consistency": {"per_prompt": consistency_rows, "summary": tables.consistency_summary(consistency_rows)},
        "robustness_vs_consistency": tables.robustness_vs_consistency(collection, consistency_rows),
        "per_example": tables.per_example_table(collection),
        "suppression": tables.suppression_table(collection.curves),
        "paper": {
            "accuracy": paper.accuracy_std_table(collection),
            "consistency": paper.paper_consistency(collection, ties=ties),
            "histograms": paper.paper_histograms(collection, top=top, ties=ties),
            "spearman": paper.paper_spearman(collection, top=top, ties=ties),
        },
    }


def pct(mean: float | None, sem: float | None = None, digits: int = 1) -> str:
    """``mean ± sem`` of a fraction, in percent."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    text = f"{100 * mean:.{digits}f}"
    if sem is not None and math.isfinite(sem):
        text += f" ± {100 * sem:.{digits}f}"
    return text


def num(value: float | None, digits: int = 2) -> str:
    """A plain number, ``n/a`` when undefined."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown_table(header: list, rows: list[list]) -> str:
    """A GitHub Markdown table.

    Every cell is escaped (:func:`skillneuron_harness.core.escape.md_text`), so that a model or task name
    holding ``|``, a line break or HTML keeps the table's shape and shows as text.
    """
    lines = ["| " + " | ".join(md_text(c) for c in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _image(caption: str, path: Path) -> str:
    """A figure under ``figures/`` as a Markdown image."""
    return f"![{md_text(caption)}](figures/{md_link_target(path.name)})"


# Bytes of a figure's file name made from names (file systems stop at 255 per name; room for a prefix).
MAX_SLUG_BYTES = 120


def _slug(*parts: str) -> str:
    """A file-name part from model and task names; a long one is cut and made unique by a hash of the whole."""
    slug = "_".join("".join(c if c.isalnum() or c in "-." else "-" for c in p) for p in parts)
    if len(slug.encode()) <= MAX_SLUG_BYTES:
        return slug
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]
    while len(slug.encode()) > MAX_SLUG_BYTES - len(digest) - 1:
        slug = slug[:-1]
    return f"{slug}-{digest}"


def docs(counts: list[int] | int | None) -> str:
    """Documents (n) of a table row: ``100``, ``60, 100`` when its records differ, ``?`` when unknown."""
    if isinstance(counts, int):
        return str(counts)
    return ", ".join(str(n) for n in counts or []) or "?"


def render_markdown(data: dict, out: Path, prefix: str = "") -> tuple[str, list[Path]]:
    """The Markdown sections of one report group and the figures they link (``out/figures/<prefix>*.png``)."""
    fig_dir = out / "figures"
    made: list[Path] = []
    md = ["## Accuracy", ""]
    if data["accuracy"]:
        md.append(markdown_table(
            ["model", "prompts of", "task", "clean acc", "adversarial task", "adversarial acc", "PDR", "chance",
             "prompts", "n (clean / adversarial)"],
            [[r["model"], r["group"], r["task"], pct(r["clean_mean"], r["clean_sem"]), r["adversarial_task"] or "-",
              pct(r["adversarial_mean"], r["adversarial_sem"]), pct(r["pdr_mean"], r["pdr_sem"]),
              pct(r["chance"], None, 0), r["prompts"],
              docs(r["clean_docs"]) + (f" / {docs(r['adversarial_docs'])}" if r["adversarial_task"] else "")]
             for r in data["accuracy"]]))
        md += ["", "PDR = 1 - acc_adv / acc_clean per prompt (PromptBench), then averaged.", ""]
    else:
        md += ["No unsuppressed evaluations found.", ""]

    transfers = {m: t for m, t in data["transfer"].items() if t.get("transfer_run")}  # none: no section
    if transfers:
        md += ["## Transfer", "",
               "Source prompt (rows, by training task) evaluated on target tasks (columns) with the target's "
               "template. Relative = 100 x acc(source on target) / acc(target's own prompt on target), per "
               "seed, then averaged.", ""]
        for model, t in transfers.items():
            path = figures.transfer_heatmap(t, fig_dir / f"{prefix}transfer_{_slug(model)}.png", model)
            made.append(path)
            md += [f"### {md_text(model)}", "", _image(f"transfer matrix, {model}", path), ""]
            for kind, fmt in (("absolute", lambda v: pct(v[0], v[1])), ("relative", lambda v: num(v[0], 1))):
                md += [f"{kind.capitalize()}:", "", markdown_table(
                    ["source \\ target", *[f"{tgt} (n={docs(t['documents'].get(tgt))})" for tgt in t["targets"]]],
                    [[s, *[fmt(t[kind][s][tgt]) for tgt in t["targets"]]] for s in t["sources"]]), ""]

    if data["skill_neurons"]:
        md += ["## Skill neurons", "",
               f"Neuron score = max predictivity over positions, averaged over prompts. Skill neurons: the top "
               f"{100 * data['top_fraction']:g}% of each layer. Inhibitory: fires above baseline mostly for the "
               "negative class. Seed agreement: Spearman correlation of the scores of two prompts, mean over pairs.",
               ""]
        md.append(markdown_table(
            ["model", "task", "prompts", "n", "layers x neurons", "mean score per layer", "chance per layer (median)",
             "inhibitory share", "seed agreement (rho)"],
            [[r["model"], r["task"], r["prompts"], docs(r["documents"]), f"{r['layers']} x {r['neurons_per_layer']}",
              " / ".join(pct(v, None, 1) for v in r["layer_mean"]),
              " / ".join(pct(v, None, 1) for v in (r.get("chance_score") or {}).get("0.5", [])) or "n/a",
              pct(*r["inhibitory"]), f"{num(r['seed_agreement'][0])} ({r['seed_agreement'][2]} pairs)"]
             for r in data["skill_neurons"]]))
        md += ["", "Chance: the score a neuron gets from noise alone (the best of its positions when firing is "
               "independent of the label; exact hypergeometric null of the counts, see docs/statistics.md), "
               "the median of the prompts' null; the figures also draw its 95% quantile.", ""]
        for r in data["skill_neurons"]:
            path = figures.layer_score_distribution(r, fig_dir / f"{prefix}scores_{_slug(r['model'], r['task'])}.png")
            made.append(path)
            md += [f"### {md_text(r['task'])} ({md_text(r['model'])})", "", _image("score distribution", path), "",
                   "Top neurons:", "", markdown_table(
                       ["rank", "layer", "neuron", "score"],
                       [[i + 1, n["layer"], n["neuron"], pct(n["score"], n["sem"])]
                        for i, n in enumerate(r["top_neurons"])]), ""]

    summary = data["consistency"]["summary"]
    if summary:
        md += ["## Consistency (clean vs adversarial)", "",
               "Overlap of the clean and adversarial skill neurons, |S_clean ∩ S_adv| / |S_adv| per layer, mean over "
               "layers; random neurons would overlap n% on average.", ""]
        path = figures.overlap_curves(summary, fig_dir / f"{prefix}consistency_overlap.png")
        path2 = figures.skill_vs_random(summary, fig_dir / f"{prefix}consistency_skill_vs_random.png",
                                        data["top_fraction"])
        made += [path, path2]
        md += [_image("overlap vs n", path), "", _image("skill vs random", path2), ""]
        fractions = summary[0]["fractions"]
        md.append(markdown_table(
            ["model", "prompts of", "adversarial task", "documents (clean / adversarial)",
             *[f"n={100 * f:g}%" for f in fractions],
             "clean skill neurons: clean score", "adversarial score", "random: adversarial score",
             "skill vs random"],
            [[s["model"], s["group"], s["adversarial_task"], f"{docs(s['clean_docs'])} / {docs(s['adversarial_docs'])}",
              *[pct(*o) for o in s["overlap"]],
              pct(*s["clean_skill_score"]), pct(*s["skill_adv_score"]), pct(*s["random_adv_score"]),
              _verdict(s.get("skill_vs_random_test"))]
             for s in summary]))
        md += ["", "Random overlap: k/D of two random k-subsets of a layer (hypergeometric p-values per prompt "
               "in report.json). Skill vs random: two-sided randomisation test of the clean skill neurons' "
               "adversarial score against random neurons of their layers, over the prompts of the group.", ""]

    per_example = data.get("per_example") or []
    if per_example:
        path = figures.per_example_layers(per_example, fig_dir / f"{prefix}per_example_layers.png")
        made.append(path)
        md += ["## Per-example consistency (clean/adversarial pairs)", "",
               "Per pair (an adversarial document and the clean one it was made from): the flip fraction is the "
               "share of the clean task's skill neurons whose firing state differs between the two documents. "
               "AUC: how well it tells pairs whose prediction flipped from those whose prediction held (0.5: "
               "chance); r: point-biserial correlation with the flip (docs/statistics.md).", "",
               _image("layer flip fraction, flipped vs kept pairs", path), "",
               markdown_table(["model", "prompt", "adversarial task", "clean twin", "pairs", "prediction flipped",
                               "mean flip fraction", "AUC", "r (p)", "per layer"],
                              [[r["model"], r["prompt"], r["task"], r["clean_twin"], r["pairs"],
                                pct(r["prediction_flip_rate"]), pct(r["mean_flip_fraction"]), num(r["auc"]),
                                f"{num(r['pointbiserial_r'])} ({figures.p_text(r['pointbiserial_p'])})",
                                " / ".join(pct(v, None, 0) for v in r["layer_mean_flip_fraction"])]
                               for r in per_example]), ""]

    rvc = data["robustness_vs_consistency"]
    adversarial = any(r["adversarial_task"] for r in data["accuracy"]) or summary
    if rvc["n"] < MIN_RVC_POINTS and (rvc["n"] or adversarial):
        md += ["## Robustness vs consistency", "",
               f"Not computed: the correlation over prompts needs at least {MIN_RVC_POINTS} prompts, each evaluated "
               "on a clean task and its adversarial twin with skill_neurons= (consistency needs both runs' "
               f"skill-neuron files); found {rvc['n']}. Evaluate more prompts (seeds) of the task.", ""]
    elif rvc["n"]:
        path = figures.robustness_scatter(rvc, fig_dir / f"{prefix}robustness_vs_consistency.png")
        made.append(path)
        a, p = rvc["adversarial_accuracy"], rvc["pdr"]
        n_adv = docs(sorted({pt["documents"] for pt in rvc["points"] if pt["documents"] is not None}))
        md += ["## Robustness vs consistency", "",
               "One point per prompt and adversarial task: consistency (overlap averaged over n = "
               "2..20%) against adversarial accuracy.", "",
               _image("robustness vs consistency", path), "",
               markdown_table(["robustness measure", "Spearman rho", "p-value", "prompts", "documents (adversarial)"],
                              [["adversarial accuracy", num(a["rho"]), num(a["p"], 3), a["n"], n_adv],
                               ["PDR", num(p["rho"]), num(p["p"], 3), p["n"], n_adv]]), "",
               "Two-sided p-values; exact (all orderings) for up to 8 prompts, else scipy's t approximation.", ""]

    if data["suppression"]:
        path = figures.suppression_curves(data["suppression"], fig_dir / f"{prefix}suppression_curves.png")
        made.append(path)
        md += ["## Suppression", "", "Accuracy with the top n% skill neurons of each layer (or as many random "
               "neurons) suppressed at all positions; adversarial tasks use the clean twin's skill neurons.", "",
               _image("suppression curves", path), ""]
        percents = sorted({r["percent"] for r in data["suppression"]})
        keyed = {(r["model"], r["group"], r["task"], r["control"], r["percent"]): r for r in data["suppression"]}
        rows = []
        for model, group, task, control in sorted({k[:4] for k in keyed}):
            rows.append([model, group, task, control, *[
                pct(keyed[k]["acc_mean"], keyed[k]["acc_sem"]) if (k := (model, group, task, control, n)) in keyed
                else "-" for n in percents]])
        md += [markdown_table(["model", "prompts of", "task", "neurons", *[f"{n:g}%" for n in percents]], rows), ""]
    md += _paper_sections(data["paper"], data["top_fraction"])
    return "\n".join(md), made


def _verdict(test: dict | None) -> str:
    """``differ (p = 0.003)`` or ``not significant (p = 0.41)``."""
    if not test:
        return "n/a"
    return f"{'differ' if test['differ'] else 'not significant'} ({figures.p_text(test['p_value'])})"


def _matrix(m: dict) -> str:
    return markdown_table(["", *m["labels"]], [[a, *[num(v) for v in row]] for a, row in zip(m["labels"], m["rho"],
                                                                                           strict=True)])


def _paper_sections(p: dict, top: float) -> list[str]:
    """Ackermann & Ohmer's own definitions, each captioned with the code it follows (docs/statistics.md)."""
    if not (p["consistency"] or p["histograms"] or p["spearman"]["seeds"] or p["spearman"]["tasks"]
            or any(math.isfinite(r["clean_std"]) for r in p["accuracy"])):
        return []
    md = ["## As Ackermann & Ohmer (2024) compute it", "",
          "The sections above are ours (per prompt, then mean ± SEM over prompts). The tables below follow the "
          "paper's released `src/analysis.py` (LeonAckermann/Robust-Neurons); docs/statistics.md maps each one.", ""]
    if p["accuracy"]:
        md += ["### Accuracy, mean ± std", "",
               "Mean ± standard deviation over prompts with ddof 0 (`np.std`, `get_mean_std`, analysis.py:156-181), "
               "beside our SEM (ddof 1).", "",
               markdown_table(["model", "prompts of", "task", "clean (std)", "clean (SEM)", "adversarial task",
                               "adversarial (std)", "adversarial (SEM)", "n (clean / adversarial)"],
                              [[r["model"], r["group"], r["task"], pct(r["clean_mean"], r["clean_std"]),
                                pct(r["clean_mean"], r["clean_sem"]), r["adversarial_task"] or "-",
                                pct(r["adversarial_mean"], r["adversarial_std"]),
                                pct(r["adversarial_mean"], r["adversarial_sem"]),
                                docs(r["clean_docs"]) + (f" / {docs(r['adversarial_docs'])}" if r["adversarial_task"]
                                                         else "")] for r in p["accuracy"]]), ""]
    if p["consistency"]:
        fractions = [pt["fraction"] for pt in p["consistency"][0]["points"]]
        md += ["### Consistency on seed-averaged scores", "",
               "Per layer |top-n%(clean) ∩ top-n%(adversarial)| / k of the neuron scores averaged over the prompts "
               "first (`*_mean.npy`, find.py:229-230), then mean ± SEM over *layers* (analysis.py:49-77). The "
               "released lines 52-53 reverse the layer axis, which measures the bottom-n% overlap; this follows "
               "the paper's text. Adversarial scores use the baseline the run recorded (`sn_baseline_source`).", "",
               markdown_table(["model", "prompts of", "adversarial task", "prompts", "documents (clean / adversarial)",
                               *[f"n={100 * f:g}%" for f in fractions]],
                              [[r["model"], r["group"], r["adversarial_task"], r["prompts"],
                                f"{docs(r['clean_docs'])} / {docs(r['adversarial_docs'])}",
                                *[pct(pt["mean"], pt["sem"]) for pt in r["points"]]] for r in p["consistency"]]), ""]
    if p["histograms"]:
        md += ["### Adversarial predictivity of the clean skill neurons (histogram)", "",
               f"The model-wide top {100 * top:g}% of all L x D neurons by seed-mean clean score "
               "(find.py:369-374), counted by their seed-mean adversarial score in 0.05-wide bins "
               "(analysis.py:804-830, 871, 961-1003). `--top` sets n.", ""]
        for r in p["histograms"]:
            bins = [f"{100 * a:.0f}-{100 * b:.0f}%" for a, b in zip(r["edges"][:-1], r["edges"][1:], strict=True)]
            md += [f"{md_text(r['model'], line_start=True)}, {md_text(r['task'])} -> {md_text(r['adversarial_task'])} "
                   f"({r['k']} neurons, {r['prompts']} prompts, {docs(r['adversarial_docs'])} adversarial documents):",
                   "", markdown_table(["adversarial score", *bins], [["neurons", *r["counts"]]]), ""]
    spear = p["spearman"]
    if spear["seeds"] or spear["tasks"]:
        md += ["### Spearman matrices over each layer's top-n predictivities", "",
               f"Per layer, each run's own top {100 * top:g}% neurons, their scores listed by neuron index; "
               "Spearman's rho between two runs' lists, averaged over layers (analysis.py:352-407 between seeds, "
               "410-480 between the seed means of tasks). The two lists hold different neurons paired by index "
               "order: the released definition, reproduced as is.", ""]
        for m in spear["seeds"]:
            md += [f"Seeds of {md_text(m['task'])} ({md_text(m['model'])}):", "", _matrix(m), ""]
        for m in spear["tasks"]:
            md += [f"Tasks ({md_text(m['model'])}, seed means):", "", _matrix(m), ""]
    return md


def _demote(text: str) -> str:
    """Every heading one level down (a group's sections under its own heading)."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.split("\n"))


def build_report(run_dirs: list[str | Path], out: str | Path, fmt: str = "markdown", top: float = DEFAULT_TOP,
                 skip_unreadable: bool = False, say: Callable[[str], None] | None = print,
                 ties: str = "high") -> Path:
    """Collect ``run_dirs``, compute the tables and write ``report.md`` (+ figures) or ``report.json``.

    Runs of different limits are reported as separate groups (:mod:`~skillneuron_harness.report.runs`);
    ``say`` is told which runs were used and which were left out, and why (also written into the report).
    """
    out = Path(out)
    if fmt not in ("markdown", "json"):
        raise ValueError(f"format={fmt}: use markdown or json.")
    existing = next((p for p in (out, *out.absolute().parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        what = "this is a file" if existing == out else f"{existing} is a file"
        raise SkillNeuronError(f"--out {out}: {what}; the report is a folder (report.md, figures/): pass another "
                               "--out.")
    check_output_dir(out, "--out", what="report")  # a read-only or full folder: refused before reading
    selection = select(gather(run_dirs, skip_unreadable=skip_unreadable))  # before anything is written
    runs = describe(selection)
    groups = [compute(g, top=top, ties=ties) for g in selection.groups]
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        path = out / "report.json"
        data = {**groups[0], "runs": runs} if len(groups) == 1 else {
            "sources": groups[0]["sources"], "top_fraction": top, "runs": runs, "groups": groups}
        write_json(path, json_safe(data))
    else:
        sources = ", ".join(md_text(s) for s in groups[0]["sources"])
        md = ["# Skill-neuron report", "",
              f"Runs: {sources}. Numbers are percent, mean ± SEM over the prompts (seeds) of a group; a group is the "
              "task a prompt was trained on" + ("." if len(groups) == 1 else
                                                f"; the runs form {len(groups)} report groups of different limits, "
                                                "each reported on its own below."), "", *runs_markdown(runs)]
        if len(groups) == 1:
            md.append(render_markdown(groups[0], out)[0])
        for i, data in enumerate(groups if len(groups) > 1 else [], 1):
            md += [f"## Group {i}: {md_text(data['group'])}", "", _demote(render_markdown(data, out, f"g{i}_")[0])]
        path = out / "report.md"
        write_text(path, "\n".join(md) + "\n")
    for line in runs_lines(runs) if say else ():
        say(line)
    return path
