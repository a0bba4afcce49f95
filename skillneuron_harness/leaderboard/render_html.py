"""``index.html``: the leaderboard as one self-contained static page.

Everything is inline: the style sheet, a small script and the two scatters (SVG), so the page
opens from disk or any static host with no network access. Every column header sorts the table
(a first click puts the best first, a second reverses it); undefined values always sort last.
Each number's tooltip names its task version, documents, limit and results file, and the ▸ button
of a row opens the entry's full provenance (exact model, ``model_args``, prompt hash, task and
package versions, files). Values at chance level are greyed and marked ``~``.
"""

from __future__ import annotations

import math
from pathlib import Path

import skillneuron_harness.leaderboard.figures as figures
from skillneuron_harness.core.escape import html_text as _esc
from skillneuron_harness.core.escape import script_element
from skillneuron_harness.leaderboard.texts import (
    CHANCE_MARK,
    package_versions,
    relative,
    rules_text,
    short_hash,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px} .sub{color:#5b6472;margin:0 0 16px}
.wrap{overflow-x:auto;border:1px solid #d9dee6;border-radius:6px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:5px 7px;border-bottom:1px solid #e8ebf0;white-space:nowrap;text-align:right}
th{background:#f3f5f8;cursor:pointer;user-select:none;font-weight:600}
tr.groups th{cursor:default;font-size:12px;text-align:center;color:#4a5361;border-bottom:0}
th.group.adversarial{background:#f6dede} th.group.clean{background:#dcefdf}
th:hover{background:#e6eaf0} th.text,td.text{text-align:left}
th.adversarial{background:#fbefef} th.clean{background:#eef6ef} th.mean{background:#eaf0fb}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
td.chance{color:#8a93a1} td.na{color:#b3b9c3} td.score{font-weight:700}
.se{font-size:11px;color:#7b8493;margin-left:3px;font-weight:400} sup.mark{color:#c0392b;margin-left:1px}
tbody.entry:hover td{background:#fafbfd}
button.prov{border:0;background:none;cursor:pointer;font-size:12px;color:#3d6bd1}
tr.details td{text-align:left;white-space:normal;background:#fafbfd;font-size:12.5px}
tr.details code{font-size:12px;word-break:break-all} tr.details ul{margin:4px 0 4px 18px;padding:0}
.figs{display:flex;flex-wrap:wrap;gap:24px;margin:20px 0} .figs figure{margin:0} .figs svg{max-width:460px;height:auto}
.rules{color:#3c4450;font-size:13px} .rules li{margin:2px 0}
"""

SCRIPT = """
(function(){
  const table=document.getElementById('board');
  const heads=Array.from(table.querySelectorAll('thead th[data-key]'));
  function cell(body,key){const tds=body.querySelectorAll('td[data-key]');
    for(let i=0;i<tds.length;i++){if(tds[i].dataset.key===key)return tds[i];}return null;}
  function val(body,key){const td=cell(body,key);
    if(!td)return null;const v=td.getAttribute('data-v');
    if(v===null||v==='')return null;const n=Number(v);return isNaN(n)?v.toLowerCase():n;}
  heads.forEach(function(th){th.addEventListener('click',function(){
    const key=th.dataset.key;const best=th.dataset.best||'desc';
    const cur=th.getAttribute('aria-sort');
    let dir=cur?(cur==='descending'?'asc':'desc'):best;
    heads.forEach(function(h){h.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',dir==='asc'?'ascending':'descending');
    const bodies=Array.from(table.querySelectorAll('tbody.entry'));
    bodies.sort(function(a,b){const x=val(a,key),y=val(b,key);
      if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
      if(x<y)return dir==='asc'?-1:1;if(x>y)return dir==='asc'?1:-1;return 0;});
    bodies.forEach(function(b){table.appendChild(b);});});});
  table.querySelectorAll('button.prov').forEach(function(b){b.addEventListener('click',function(e){
    e.stopPropagation();const d=b.closest('tbody').querySelector('tr.details');
    d.hidden=!d.hidden;b.textContent=d.hidden?'\\u25B8':'\\u25BE';});});
})();
"""


def short_title(col: dict) -> str:
    """A column's header: task names without the ``adv_`` prefix (the group row says which), MNLI-mm shortened."""
    title = col["title"]
    if col["kind"] == "consistency":
        return "consistency"
    if col["kind"] == "adversarial" and title.startswith("adv_"):
        title = title[4:]
    return {"mnli_mismatched": "mnli-mm", "mnli_mismatch": "mnli-mm", "AdvGLUE score": "score",
            "adversarial mean": "mean", "clean mean": "mean"}.get(title, title)


def _group_row(doc: dict, cols: list[dict]) -> list[str]:
    """The header row above the columns: adversarial and clean groups (with their means), blank elsewhere."""
    names = {"adversarial": f"adversarial ({doc['suite']['score']})", "clean": "clean twins"}
    member = {"score": "adversarial", "clean_mean": "clean"}
    spans: list[list] = [["", 3]]  # rank, entry, model
    for c in cols:
        group = c["kind"] if c["kind"] in names else member.get(c["key"], "")
        if group and not doc["suite"][group]:
            group = ""
        if spans[-1][0] == group:
            spans[-1][1] += 1
        else:
            spans.append([group, 1])
    if spans[-1][0]:  # the prompt-hash column closes the row
        spans.append(["", 1])
    else:
        spans[-1][1] += 1
    return [f'<th class="group {_esc(g)}" colspan="{n}">{_esc(names.get(g, ""))}</th>' for g, n in spans]


def _tooltip(row: dict, col: dict, out: Path) -> str:
    tasks = [col["task"]] if "task" in col else col.get("tasks", [])
    lines = []
    for t in tasks:
        p = row["provenance"]["tasks"].get(t)
        if p is None:
            lines.append(f"{t}: not evaluated")
            continue
        limit = "all" if p["limit"] is None else f"{p['limit']:g}"
        lines.append(f"{t} v{p['version']}: {p['num_docs']} docs (limit {limit}), {relative(p['source'], out)}")
    value = row["values"][col["key"]]
    if value.get("chance") is not None:
        verdict = "at chance" if value.get("at_chance") else "not at chance"
        extra = f", binomial p = {value['p_value']:.3g}" if value.get("p_value") is not None else ""
        lines.append(f"chance {100 * value['chance']:.1f}%: {verdict}{extra}")
    if col["key"] == "consistency":
        lines += [f"{t}: {100 * v:.1f}%" for t, v in row["consistency_per_task"].items()] or ["no skill neurons"]
    return "\n".join(lines)


def _cell(row: dict, col: dict, out: Path) -> str:
    value = row["values"][col["key"]]
    v = value.get("value")
    defined = v is not None and math.isfinite(v)
    classes = [c for c, on in (("na", not defined), ("chance", bool(value.get("at_chance"))),
                               ("score", col["key"] == "score")) if on]
    if not defined:
        text = "n/a"
    else:
        text = f"{100 * v:.1f}"
        if value.get("stderr") is not None:
            text += f'<span class="se">±{100 * value["stderr"]:.1f}</span>'
        if value.get("at_chance"):
            text += f'<sup class="mark">{CHANCE_MARK}</sup>'
    data_v = _esc(repr(v)) if defined else ""
    return (f'<td data-key="{_esc(col["key"])}" data-v="{data_v}" class="{" ".join(classes)}" '
            f'title="{_esc(_tooltip(row, col, out))}">{text}</td>')


def _details(row: dict, span: int, out: Path) -> str:
    args = ",".join(f"{k}={v}" for k, v in row["model_args"].items()) or "-"
    items = [f"<li>lm-eval model <code>{_esc(row['lm_eval_model'])}</code>, weights "
             f"<code>{_esc(row['model_name'])}</code></li>",
             f"<li>model_args <code>{_esc(args)}</code></li>",
             f"<li>prompt sha256 <code>{_esc(row['prompt_sha256'] or '-')}</code> "
             f"({_esc(row['prompt_source'] or 'no prompt')})</li>",
             f"<li>packages: {_esc(package_versions(row) or '-')}</li>"]
    for task, p in sorted(row["provenance"]["tasks"].items()):
        limit = "all" if p["limit"] is None else f"{p['limit']:g}"
        items.append(f"<li><code>{_esc(task)}</code> version {_esc(p['version'])}, {_esc(p['num_docs'])} docs "
                     f"(limit {limit}): <code>{_esc(relative(p['source'], out))}</code></li>")
    if row["provenance"]["missing_tasks"]:
        items.append(f"<li>not evaluated: {_esc(', '.join(row['provenance']['missing_tasks']))}</li>")
    return f'<tr class="details" hidden><td colspan="{span}"><ul>{"".join(items)}</ul></td></tr>'


def to_html(doc: dict, out: Path) -> str:
    """The page (a string of HTML)."""
    cols = doc["columns"]
    groups = _group_row(doc, cols)
    head = ['<th data-key="rank" data-best="asc" aria-sort="ascending">#</th>',
            '<th class="text" data-key="label" data-best="asc">entry</th>',
            '<th class="text" data-key="model" data-best="asc">model</th>']
    for c in cols:
        best = "desc" if c["higher_is_better"] else "asc"
        head.append(f'<th class="{_esc(c["kind"])}" data-key="{_esc(c["key"])}" data-best="{best}" '
                    f'title="{_esc(c["title"])}">{_esc(short_title(c))}</th>')
    head.append('<th class="text" data-key="prompt" data-best="asc">prompt hash</th>')
    bodies = []
    for row in doc["entries"]:
        cells = [f'<td data-key="rank" data-v="{_esc(row["rank"])}">{_esc(row["rank"])}</td>',
                 f'<td class="text" data-key="label" data-v="{_esc(row["label"])}"><button class="prov" '
                 f'title="provenance">&#9656;</button> {_esc(row["label"])}</td>',
                 f'<td class="text" data-key="model" data-v="{_esc(row["model"])}" title="{_esc(row["model_name"])}">'
                 f'{_esc(row["model"])}</td>']
        cells += [_cell(row, c, out) for c in cols]
        sha = row["prompt_sha256"]
        cells.append(f'<td class="text" data-key="prompt" data-v="{_esc(sha or "")}" '
                     f'title="{_esc(sha or "no prompt")}"><code>{_esc(short_hash(sha))}</code></td>')
        bodies.append(f'<tbody class="entry" data-label="{_esc(row["label"])}"><tr>{"".join(cells)}</tr>'
                      f"{_details(row, len(cells), out)}</tbody>")
    rules = "".join(f"<li>{_esc(line[2:].replace('**', '').replace('`', ''))}</li>" for line in rules_text(doc))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_esc(doc["title"])}</title><style>{CSS}</style></head>
<body>
<h1>{_esc(doc["title"])}</h1>
<p class="sub">{len(doc["entries"])} entries · ranked by {_esc(doc["suite"]["score"])}
 · generated {_esc(doc["generated"])} · click a column to sort, &#9656; for an entry's provenance
 · <code>{CHANCE_MARK}</code> at chance level</p>
<div class="wrap"><table id="board"><thead><tr class="groups">{"".join(groups)}</tr>
<tr>{"".join(head)}</tr></thead>
{"".join(bodies)}
</table></div>
<div class="figs"><figure>{figures.adversarial_vs_clean(doc)}</figure>
<figure>{figures.robustness_vs_consistency(doc)}</figure></div>
<ul class="rules">{rules}</ul>
{script_element(SCRIPT)}
</body></html>
"""
