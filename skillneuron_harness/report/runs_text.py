"""The report's account of its runs, in Markdown (``report.md``) and as lines for the terminal.

It names every group (one ``--limit``), the results files and skill-neuron files each group's
numbers come from, with each task's documents, every file left out and why, and how the prompts
were grouped as seeds (:func:`skillneuron_harness.report.runs.describe` gives the data).
"""

from __future__ import annotations

from skillneuron_harness.core.escape import md_code, md_text


def _tasks(tasks: dict) -> str:
    return ", ".join(f"{t} n={'?' if n is None else n}" for t, n in sorted(tasks.items()))


def runs_markdown(runs: dict) -> list[str]:
    """The ``## Runs`` section."""
    md = ["## Runs", "",
          "A group holds the runs of one `--limit`: runs of one prompt and task with different limits are never "
          "merged in a table, and each table gives its documents (n). Within a group the latest results file of a "
          "prompt and task is used; skill-neuron files join the evaluation that wrote them (run id, listed path, "
          "or the same model, prompt, task and document count).", ""]
    for g in runs["groups"]:
        md += [f"**{md_text(g['label'])}**: {len(g['results'])} results file(s), {len(g['neuron_files'])} "
               f"skill-neuron file(s), {len(g['curves'])} suppression curve(s).", ""]
        md += [f"- {md_code(r['file'])}: {md_text(_tasks(r['tasks']))}" for r in g["results"]]
        md += [f"- {md_code(f['file'])}: {md_text(f['task'])} n={md_text(f['num_docs'])}" for f in g["neuron_files"]]
        md += [f"- {md_code(c)}" for c in g["curves"]]
        md.append("")
    if runs["left_out"]:
        md += ["Left out:", ""] + [f"- {md_code(r['file'])}: {md_text(r['why'])}" for r in runs["left_out"]] + [""]
    else:
        md += ["No file was left out.", ""]
    if runs["prompts"]:
        md += ["Prompts, and how each was grouped with its seeds (a `prompts.json` manifest overrides the rest):", "",
               "| prompt | sha256 | prompts of | seed | grouped by |", "|---|---|---|---|---|"]
        md += [f"| {md_text(p['label'])} | {md_code(str(p['key'])[:12], in_table=True)} | {md_text(p['group'])} | "
               f"{md_text(p['seed'] if p['seed'] is not None else '-')} | {md_text(p['grouped_by'])} |"
               for p in runs["prompts"]]
        md.append("")
    return md


def runs_lines(runs: dict) -> list[str]:
    """What the terminal is told: the groups used and every file left out, one line each."""
    lines = [f"skillneuron report: {g['label']}: {len(g['results'])} results file(s) "
             f"({'; '.join(_tasks(r['tasks']) for r in g['results']) or 'none'}), "
             f"{len(g['neuron_files'])} skill-neuron file(s), {len(g['curves'])} curve(s)" for g in runs["groups"]]
    lines += [f"skillneuron report: left out {r['file']}: {r['why']}" for r in runs["left_out"]]
    return lines
