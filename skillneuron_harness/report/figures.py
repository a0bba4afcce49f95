"""The report's figures (PNG, matplotlib's Agg backend): one function per figure, each returning its path.

Accuracies and overlaps are drawn in percent; error bars are the SEM over prompts; every figure
has axis labels with units, a legend where there is more than one series, and a title that says
what is averaged.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skillneuron_harness.core.atomic import atomic_path  # noqa: E402

DPI = 130


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format=path.suffix.lstrip(".") or "png")
    plt.close(fig)
    return path


def _nan_to_none(values):
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values]


def transfer_heatmap(matrix: dict, path: Path, model: str) -> Path:
    """Absolute (accuracy, %) and relative (% of the target's own prompt) transfer, side by side."""
    import numpy as np

    sources, targets = matrix["sources"], matrix["targets"]
    width = max(8.0, 1.1 * len(targets) * 2 + 3)
    fig, axes = plt.subplots(1, 2, figsize=(width, 1.0 + 0.6 * len(sources) + 1.8))
    for ax, kind, title, unit in ((axes[0], "absolute", "Accuracy", "accuracy (%)"),
                                  (axes[1], "relative", "Relative transfer", "% of target's own prompt")):
        scale = 100.0 if kind == "absolute" else 1.0
        grid = np.array([[matrix[kind][s][t][0] * scale for t in targets] for s in sources], dtype=float)
        vmax = 100.0 if kind == "absolute" else max(100.0, float(np.nanmax(grid)) if np.isfinite(grid).any() else 100)
        im = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
        for i in range(len(sources)):
            for j in range(len(targets)):
                value = grid[i, j]
                text = "n/a" if not np.isfinite(value) else f"{value:.0f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=9,
                        color="white" if np.isfinite(value) and value < 0.6 * vmax else "black")
        ax.set_xticks(range(len(targets)), targets, rotation=35, ha="right")
        ax.set_yticks(range(len(sources)), sources)
        ax.set_xlabel("target task")
        ax.set_ylabel("source prompt (trained on)")
        ax.set_title(f"{title} (mean over seeds)", fontsize=10)
        fig.colorbar(im, ax=ax, label=unit, fraction=0.046, pad=0.04)
    fig.suptitle(f"Transfer: {model}", fontsize=11)
    return _save(fig, path)


def layer_score_distribution(row: dict, path: Path) -> Path:
    """Box plot of the prompt-averaged neuron scores per layer."""
    fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * row["layers"] + 3), 3.8))
    data = [[100 * v for v in layer] for layer in row["layer_scores"]]
    ax.boxplot(data, positions=range(row["layers"]), widths=0.6, showfliers=True,
               flierprops={"markersize": 2})
    _chance_lines(ax, row.get("chance_score"), row["layers"])
    ax.set_xlabel("layer")
    ax.set_ylabel("neuron score: predictivity (%)")
    ax.set_title(f"Skill-neuron scores per layer: {row['task']}\n{row['model']}\n"
                 f"({row['neurons_per_layer']} neurons per layer, mean over {row['prompts']} prompt(s))", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _chance_lines(ax, chance: dict | None, num_layers: int) -> None:
    """The null quantiles of the neuron score per layer (steps), or, without counts, the 50 % floor."""
    if not chance:
        ax.axhline(50, color="grey", linestyle="--", linewidth=1,
                   label="50% (floor of predictivity; no counts for the chance line)")
        return
    styles = {"0.5": ("--", "chance: median score of noise"), "0.95": (":", "chance: 95% of noise scores")}
    for key, values in chance.items():
        style, label = styles.get(key, ("-.", f"chance: {100 * float(key):g}% of noise scores"))
        edges = [x - 0.5 for x in range(num_layers + 1)]  # one step per layer's box
        ax.step(edges, [100 * v for v in values] + [100 * values[-1]], where="post", color="grey", linestyle=style,
                linewidth=1.2, label=label)


def p_text(p: float | None) -> str:
    """A p-value for a figure or table: ``p = 0.031``, ``p < 0.001``; ``n/a`` when undefined."""
    if p is None or not math.isfinite(p):
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def overlap_curves(summary: list[dict], path: Path) -> Path:
    """Overlap of clean and adversarial skill neurons vs n, one line per (model, adversarial task)."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    top = 0.0
    for s in summary:
        x = [100 * f for f in s["fractions"]]
        y = [100 * m for m, _ in s["overlap"]]
        err = _nan_to_none([100 * e if e is not None else None for _, e in s["overlap"]])
        err = [0 if e is None else e for e in err]
        ax.errorbar(x, y, yerr=err, marker="o", markersize=3, capsize=2,
                    label=f"{s['adversarial_task']} vs {s['task']} "
                          f"({s['model']}, {s['prompts']} {s['group']} prompt(s))")
        top = max(top, max(x))
    exact = next((s for s in summary if s.get("overlap_random")), None)
    if exact is not None:  # k / D per n: floor(n D) / D, the expectation of two random k-subsets
        ax.plot([100 * f for f in exact["fractions"]], [100 * r if r is not None else None for r in
                                                          exact["overlap_random"]],
                color="grey", linestyle="--", linewidth=1, label="random neurons (expected, k/D)")
    else:
        ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="random neurons (expected)")
    ax.set_xlabel("skill neurons: top n% of each layer (%)")
    ax.set_ylabel("overlap |S_clean ∩ S_adv| / |S_adv| (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Consistency of skill neurons, clean vs adversarial\n(mean over layers, then over prompts; SEM bars)")
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, path)


def skill_vs_random(summary: list[dict], path: Path, top: float) -> Path:
    """Adversarial score of the clean skill neurons against random neurons, per adversarial task."""
    import numpy as np

    labels = [f"{s['adversarial_task']}\n{s['model']}" for s in summary]
    x = np.arange(len(summary))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.4 * len(summary) + 2), 4.0))
    for offset, key, name in ((-0.2, "skill_adv_score", f"clean skill neurons (top {100 * top:g}%)"),
                              (0.2, "random_adv_score", "random neurons, same count")):
        means = [100 * s[key][0] for s in summary]
        errs = [0 if s[key][1] is None or math.isnan(s[key][1]) else 100 * s[key][1] for s in summary]
        ax.bar(x + offset, means, width=0.4, yerr=errs, capsize=3, label=name)
    chance = [(s.get("adversarial_chance_score") or [None])[0] for s in summary]
    for i, c in enumerate(chance):  # each task's own chance line: the median score of noise
        if c is not None and math.isfinite(c):
            ax.hlines(100 * c, i - 0.45, i + 0.45, color="grey", linestyle="--", linewidth=1.2,
                      label="chance: median score of noise" if i == next(
                          j for j, v in enumerate(chance) if v is not None and math.isfinite(v)) else None)
    if not any(c is not None and math.isfinite(c) for c in chance):
        ax.axhline(50, color="grey", linestyle="--", linewidth=1,
                   label="50% (floor of predictivity; no counts for the chance line)")
    for i, s in enumerate(summary):  # the test of skill against random neurons, said on each pair of bars
        test = s.get("skill_vs_random_test")
        if test is None:
            continue
        verdict = "differ" if test["differ"] else "not significant"
        top = max(100 * s["skill_adv_score"][0], 100 * s["random_adv_score"][0])
        if not math.isfinite(top):
            continue
        ax.text(i, min(top + 4, 97), f"{verdict}\n({p_text(test['p_value'])})", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylabel("predictivity on adversarial data (%)")
    ax.set_ylim(40, 100)
    ax.set_title("Do clean skill neurons stay predictive on adversarial data?\n(mean over prompts; SEM bars)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper right")
    return _save(fig, path)


def robustness_scatter(data: dict, path: Path) -> Path:
    """Consistency (x) against adversarial accuracy (y), one point per prompt."""
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    markers = "osD^v<>P*X"
    models = sorted({p["model"] for p in data["points"]})
    tasks = sorted({p["task"] for p in data["points"]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for p in data["points"]:
        ax.scatter(100 * p["consistency"], 100 * p["adversarial_accuracy"],
                   marker=markers[models.index(p["model"]) % len(markers)],
                   color=colors[tasks.index(p["task"]) % len(colors)], s=36, alpha=0.85)
    for t in tasks:
        ax.scatter([], [], color=colors[tasks.index(t) % len(colors)], marker="o", label=f"task: {t}")
    if len(models) > 1:
        for m in models:
            ax.scatter([], [], color="black", marker=markers[models.index(m) % len(markers)], label=f"model: {m}")
    ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="chance (binary, 50%)")
    stats = data["adversarial_accuracy"]
    rho = "n/a" if stats["rho"] is None or math.isnan(stats["rho"]) else f"{stats['rho']:.2f}"
    pval = "n/a" if stats["p"] is None or math.isnan(stats["p"]) else f"{stats['p']:.3g}"
    ax.set_title(f"Robustness vs consistency over {data['n']} prompts\nSpearman rho = {rho}, p = {pval}")
    ax.set_xlabel("consistency: mean overlap of clean and adversarial skill neurons (%)")
    ax.set_ylabel("adversarial accuracy (%)")
    ax.legend(fontsize=7, loc="best")
    return _save(fig, path)


def suppression_curves(rows: list[dict], path: Path) -> Path:
    """Accuracy vs suppressed fraction, skill vs random neurons, one panel per (model, task)."""
    panels = sorted({(r["model"], r["task"]) for r in rows})
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.6 * cols, 3.7 * nrows), squeeze=False)
    for ax, (model, task) in zip(axes.flat, panels, strict=False):
        for control, style in (("skill", "-o"), ("random", "--s")):
            series = {}
            for r in rows:
                if r["model"] == model and r["task"] == task and r["control"] == control:
                    series.setdefault(r["group"], []).append(r)
            for group, rs in sorted(series.items()):
                rs = sorted(rs, key=lambda r: r["percent"])
                errs = [0 if math.isnan(r["acc_sem"]) else 100 * r["acc_sem"] for r in rs]
                ax.errorbar([r["percent"] for r in rs], [100 * r["acc_mean"] for r in rs], yerr=errs, fmt=style,
                            markersize=3, capsize=2, label=f"{control} neurons ({group} prompts)")
        ax.axhline(50, color="grey", linestyle=":", linewidth=1, label="chance (binary, 50%)")
        ax.set_title(f"{task} ({model})")
        ax.set_xlabel("suppressed neurons per layer (%)")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("Suppression: accuracy vs suppressed neurons (mean over prompts; SEM bars)", fontsize=10)
    return _save(fig, path)


def per_example_layers(rows: list[dict], path: Path) -> Path:
    """Per paired task: the mean layer flip fraction of the pairs whose prediction flipped, and of the others."""
    import json

    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 3.4), squeeze=False)
    for ax, r in zip(axes[0], rows, strict=True):
        flipped, kept = [], []
        if r.get("pairs_file"):
            with open(r["pairs_file"], encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    (flipped if row["prediction_flipped"] else kept).append(row["layer_flip"])
        for group, style, label in ((flipped, "-o", "prediction flipped"), (kept, "--s", "prediction kept")):
            if group:
                layers = len(group[0])
                ax.plot(range(layers), [sum(g[i] for g in group) / len(group) for i in range(layers)], style,
                        label=f"{label} ({len(group)})")
        auc = r.get("auc")
        ax.set_title(f"{r['task']} ({r['prompt']})\nAUC {auc:.2f}" if auc is not None else r["task"], fontsize=9)
        ax.set_xlabel("layer")
        ax.set_ylim(-0.02, 1.02)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    axes[0][0].set_ylabel("skill neurons changing state")
    fig.tight_layout()
    return _save(fig, path)
