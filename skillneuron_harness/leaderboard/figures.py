"""The page's two scatters as inline SVG: adversarial vs clean accuracy, and robustness vs consistency.

Drawn with matplotlib's SVG backend with text kept as text (``svg.fonttype: none``), so a figure is
a few kilobytes, scales with the page and needs no font or file beside it. Each point is an entry,
labelled with its rank; error bars are the standard errors of the two means.
"""

from __future__ import annotations

import io
import math


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG goes inside HTML


def _figure(title: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "skillneuron-leaderboard"  # stable ids: same data, same page
    fig, ax = plt.subplots(figsize=(4.6, 3.8))
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return fig, ax


def _points(doc: dict, x_key: str, y_key: str):
    for row in doc["entries"]:
        x, y = row["values"][x_key], row["values"][y_key]
        if _finite(x["value"]) and _finite(y["value"]):
            yield row, x, y


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def _draw(ax, points, chance_y: float | None = None) -> None:
    for row, x, y in points:
        ax.errorbar(100 * x["value"], 100 * y["value"], xerr=100 * (x["stderr"] or 0), yerr=100 * (y["stderr"] or 0),
                    fmt="o", ms=5, capsize=2, lw=0.8)
        ax.annotate(f"{row['rank']}", (100 * x["value"], 100 * y["value"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=8)
    if chance_y is not None:
        ax.axhline(100 * chance_y, color="0.5", ls=":", lw=1, label="chance")
        ax.legend(fontsize=8, loc="lower right")


def adversarial_vs_clean(doc: dict) -> str:
    """Adversarial mean (y) against clean mean (x), with y = x."""
    fig, ax = _figure(f"{doc['suite']['score']} vs clean accuracy")
    points = list(_points(doc, "clean_mean", "score"))
    if not points:
        _empty(ax, "no entry has both means\n(every adversarial task and its clean twin)")
        return _svg(fig)
    chances = [y["chance"] for _, _, y in points if _finite(y["chance"])]
    _draw(ax, points, chances[0] if chances else None)
    lo = min(min(x["value"], y["value"]) for _, x, y in points)
    hi = max(max(x["value"], y["value"]) for _, x, y in points)
    pad = max(0.05, 0.1 * (hi - lo))
    ax.plot([100 * (lo - pad), 100 * (hi + pad)], [100 * (lo - pad), 100 * (hi + pad)], color="0.7", lw=1, zorder=0)
    ax.set_xlabel("clean mean accuracy (%)")
    ax.set_ylabel(f"{doc['suite']['score']} (%)")
    return _svg(fig)


def robustness_vs_consistency(doc: dict) -> str:
    """Adversarial mean (y) against skill-neuron consistency (x)."""
    top = 100 * doc["rules"]["consistency_top"]
    fig, ax = _figure(f"robustness vs consistency (top {top:g}%)")
    points = list(_points(doc, "consistency", "score"))
    if not points:
        _empty(ax, "no entry recorded skill neurons\n(skill_neurons: true in the spec)")
        return _svg(fig)
    chances = [y["chance"] for _, _, y in points if _finite(y["chance"])]
    _draw(ax, points, chances[0] if chances else None)
    ax.set_xlabel(f"overlap of clean and adversarial top-{top:g}% skill neurons (%)")
    ax.set_ylabel(f"{doc['suite']['score']} (%)")
    return _svg(fig)
