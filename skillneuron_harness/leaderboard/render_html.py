"""``index.html``: the leaderboard as one self-contained static page.

Everything is inline: the style sheet, a small script and the two scatters (SVG), so the page
opens from disk or any static host with no network access.

* The table: rank, entry and score stay in view (sticky) while the other columns scroll sideways;
  every header sorts it (a first click puts the best first, a second reverses it; undefined
  values always sort last) and the subtitle names the current sort. Each entry shows its model
  and documents per task; a warning above the table says when entries were run at different
  limits. Reference rows (``baseline: true`` in the spec, or at chance level on both means) and
  entries flagged ``unreliable`` carry a badge in every sort. Values at chance level are greyed
  and marked ``~``.
* Filters: a text search (label, model, prompt), with or without a prompt, and the model family.
* The ▸ button of a row opens the entry's card: base model, prompt source and hash, how the
  prompt was trained, reported vs re-evaluated numbers, notes, the unreliable flag, the one
  ``lm_eval`` command that reproduces the numbers (with a copy button), per-task bars and the
  provenance of every number (task and package versions, results files).

Every value from a results file or the spec is escaped (:mod:`skillneuron_harness.core.escape`).
"""

from __future__ import annotations

import math
from pathlib import Path

import skillneuron_harness.leaderboard.figures as figures
from skillneuron_harness.core.escape import html_text as _esc
from skillneuron_harness.core.escape import script_element
from skillneuron_harness.leaderboard.texts import (
    CHANCE_MARK,
    docs_text,
    limit_text,
    limits_warning,
    package_versions,
    relative,
    rules_text,
    short_hash,
)

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:20px;color:#1d2430;background:#fff}
h1{font-size:22px;margin:0 0 4px} .sub{color:#5b6472;margin:0 0 10px} #sorted{font-weight:600;color:#1d2430}
.warn{background:#fff4d6;border:1px solid #e7c35a;border-radius:6px;padding:6px 10px;margin:0 0 10px;color:#5c4300}
.filters{display:flex;flex-wrap:wrap;gap:8px;align-items:center;margin:0 0 8px;font-size:13px}
.filters input,.filters select{font:inherit;padding:3px 6px;border:1px solid #c5ccd6;border-radius:4px}
.filters input{width:260px} #shown{color:#5b6472} .hint{font-size:12px;color:#5b6472;margin:0 0 4px}
.wrap{overflow-x:auto;border:1px solid #d9dee6;border-radius:6px}
table{border-collapse:separate;border-spacing:0;width:100%;font-variant-numeric:tabular-nums;font-size:13px}
th,td{padding:4px 6px;border-bottom:1px solid #e8ebf0;white-space:nowrap;text-align:right;background:#fff}
th{background:#f3f5f8;cursor:pointer;user-select:none;font-weight:600}
tr.groups th{cursor:default;font-size:12px;text-align:center;color:#4a5361;border-bottom:0}
th.group.adversarial{background:#f6dede} th.group.clean{background:#dcefdf} th.group.robust{background:#ece3f6}
th:hover{background:#e6eaf0} th.text,td.text{text-align:left}
th.adversarial{background:#fbefef} th.clean{background:#eef6ef} th.mean,th.normalised{background:#eaf0fb}
th.perturbation,th.paired,th.attack{background:#f5f0fb}
th.perturbation{white-space:normal;min-width:80px;max-width:150px}
th[aria-sort=ascending]::after{content:" \\25B2";font-size:10px}
th[aria-sort=descending]::after{content:" \\25BC";font-size:10px}
.frozen{position:sticky;left:0;z-index:2} th.frozen{z-index:3}
.frozen.edge{box-shadow:3px 0 4px -2px rgba(30,40,60,.25)}
td.entry{white-space:normal;min-width:170px;max-width:260px} .meta{font-size:11.5px;color:#6b7482}
.meta.offlimit{color:#8a5a00;font-weight:600}
td.chance{color:#8a93a1} td.na{color:#b3b9c3} td.score{font-weight:700}
.se{font-size:11px;color:#7b8493;margin-left:2px;font-weight:400} sup.mark{color:#c0392b;margin-left:1px}
.badge{display:inline-block;font-size:10.5px;line-height:1.3;padding:0 5px;border-radius:8px;margin-left:4px;
 vertical-align:1px;font-weight:600}
.badge.baseline,.badge.chance{background:#e4e8ee;color:#39414d} .badge.unreliable{background:#fbe0dc;color:#8e2a1c}
tbody.ref > tr:first-child td{background:#f7f8fa;font-style:italic}
tbody.entry:hover td{background:#fafbfd}
button.prov{border:0;background:none;cursor:pointer;font-size:12px;color:#3d6bd1;padding:0 2px}
tr.details td{text-align:left;white-space:normal;background:#fafbfd;font-size:12.5px;padding:0}
.card{position:sticky;left:0;box-sizing:border-box;width:min(1180px,calc(100vw - 60px));padding:10px 14px}
.card h3{margin:0 0 6px;font-size:15px} .card h4{margin:10px 0 4px;font-size:13px}
.card dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
.card dt{color:#5b6472} .card dd{margin:0} .card code{font-size:12px;word-break:break-all}
.card ul{margin:4px 0 4px 18px;padding:0} .card table{width:auto;font-size:12px}
.card table td,.card table th{background:transparent;cursor:default}
.flag{color:#8e2a1c;font-weight:600}
.repro{display:flex;gap:8px;align-items:flex-start}
.repro pre{margin:0;padding:6px 8px;background:#1f2430;color:#e8ecf2;border-radius:4px;white-space:pre-wrap;
 word-break:break-all;flex:1;font-size:12px}
button.copy{font:inherit;font-size:12px;padding:3px 10px;border:1px solid #9aa6b8;border-radius:4px;background:#fff;
 cursor:pointer}
.bars{display:grid;grid-template-columns:max-content 320px max-content;gap:3px 10px;align-items:center}
.bar{position:relative;height:12px;background:#eef1f5;border-radius:2px}
.bar span{position:absolute;left:0;top:0;bottom:0;background:#5b84d6;border-radius:2px}
.bar span.adversarial{background:#d36b6b} .bar span.perturbation,.bar span.attack{background:#9b6bd3}
.bar i{position:absolute;top:-2px;bottom:-2px;width:0;border-left:1px dashed #333}
.figs{display:flex;flex-wrap:wrap;gap:24px;margin:20px 0} .figs figure{margin:0} .figs svg{max-width:460px;height:auto}
.rules{color:#3c4450;font-size:13px} .rules li{margin:2px 0}
"""

SCRIPT = """
(function(){
  const table=document.getElementById('board');
  const wrap=document.getElementById('wrap');
  const sorted=document.getElementById('sorted');
  const heads=Array.from(table.querySelectorAll('thead th[data-key]'));
  const bodies=Array.from(table.querySelectorAll('tbody.entry'));
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
    const rows=Array.from(table.querySelectorAll('tbody.entry'));
    rows.sort(function(a,b){const x=val(a,key),y=val(b,key);
      if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
      if(x<y)return dir==='asc'?-1:1;if(x>y)return dir==='asc'?1:-1;return 0;});
    rows.forEach(function(b){table.appendChild(b);});
    if(key==='rank'&&dir==='asc'){sorted.textContent=sorted.dataset.ranked;}
    else{const text=th.dataset.text==='1';
      const order=text?(dir==='asc'?'A to Z':'Z to A'):(dir==='asc'?'lowest first':'highest first');
      sorted.textContent='sorted by '+th.dataset.title+' ('+order+')';}
  });});
  table.querySelectorAll('button.prov').forEach(function(b){b.addEventListener('click',function(e){
    e.stopPropagation();const d=b.closest('tbody').querySelector('tr.details');
    d.hidden=!d.hidden;b.textContent=d.hidden?'\\u25B8':'\\u25BE';
    b.setAttribute('aria-expanded',d.hidden?'false':'true');});});
  table.querySelectorAll('button.copy').forEach(function(b){b.addEventListener('click',function(){
    const text=b.closest('.repro').querySelector('code').textContent;
    function done(){b.textContent='copied';}
    function fallback(){const ta=document.createElement('textarea');ta.value=text;document.body.appendChild(ta);
      ta.select();try{document.execCommand('copy');done();}catch(err){b.textContent='select and copy';}ta.remove();}
    if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(text).then(done,fallback);}
    else{fallback();}});});
  const q=document.getElementById('f-text'),fp=document.getElementById('f-prompt'),
        ff=document.getElementById('f-family'),shown=document.getElementById('shown');
  function filter(){const text=q.value.trim().toLowerCase();let n=0;
    bodies.forEach(function(b){const ok=(!text||b.dataset.search.indexOf(text)>=0)&&
      (!fp.value||b.dataset.prompt===fp.value)&&(!ff.value||b.dataset.family===ff.value);
      b.hidden=!ok;if(ok)n++;});
    shown.textContent=n+' of '+bodies.length+' entries shown';}
  [q,fp,ff].forEach(function(el){el.addEventListener('input',filter);el.addEventListener('change',filter);});
  function freeze(){const cols=Array.from(table.querySelectorAll('thead tr.cols th.frozen'));let left=0;
    cols.forEach(function(th,i){table.querySelectorAll('.f'+i).forEach(function(el){el.style.left=left+'px';});
      left+=th.getBoundingClientRect().width;});
    const g=table.querySelector('thead tr.groups th.frozen');if(g){g.style.left='0px';}
    document.getElementById('scroll-hint').hidden=wrap.scrollWidth<=wrap.clientWidth+1;}
  freeze();window.addEventListener('resize',freeze);
  filter();
})();
"""

FROZEN = ("rank", "label", "score")  # the sticky columns, in order


def short_title(col: dict) -> str:
    """A column's header: task names without the ``adv_`` prefix (the group row says which), MNLI-mm shortened."""
    title = col["title"]
    if col["kind"] == "consistency":
        return "consistency"
    if col["kind"] == "normalised":
        return "normalised"
    if col["kind"] == "adversarial" and title.startswith("adv_"):
        title = title[4:]
    return {"mnli_mismatched": "mnli-mm", "mnli_mismatch": "mnli-mm", "AdvGLUE score": "score",
            "adversarial mean": "score", "clean mean": "mean", "worst-case accuracy": "worst case",
            "accuracy under attack": "under attack"}.get(title, title)


def _group_of(doc: dict, col: dict) -> str:
    if col["key"] == "score":
        return "frozen"
    if col["kind"] in ("adversarial", "normalised"):
        return "adversarial" if doc["suite"]["adversarial"] else ""
    if col["kind"] == "clean" or col["key"] == "clean_mean":
        return "clean" if doc["suite"]["clean"] else ""
    if col["kind"] in ("perturbation", "paired", "attack"):
        return "robust"
    return ""


def _group_row(doc: dict, cols: list[dict]) -> list[str]:
    """The header row above the columns: the frozen block, adversarial, clean and robustness groups."""
    names = {"adversarial": f"adversarial ({doc['suite']['score']})", "clean": "clean twins",
             "robust": "perturbations and attacks"}
    spans: list[list] = [["frozen", 2]]  # rank, entry
    for c in cols:
        group = _group_of(doc, c)
        if spans[-1][0] == group:
            spans[-1][1] += 1
        else:
            spans.append([group, 1])
    tail = 3  # docs, model, prompt hash
    if spans[-1][0]:
        spans.append(["", tail])
    else:
        spans[-1][1] += tail
    out = []
    for g, n in spans:
        cls = "group frozen edge" if g == "frozen" else f"group {g}"
        out.append(f'<th class="{_esc(cls)}" colspan="{n}">{_esc(names.get(g, ""))}</th>')
    return out


def _tooltip(row: dict, col: dict, out: Path) -> str:
    tasks = [col["task"]] if "task" in col else col.get("tasks", [])
    lines = []
    for t in tasks:
        p = row["provenance"]["tasks"].get(t)
        if p is None:
            lines.append(f"{t}: not evaluated")
            continue
        lines.append(f"{t} v{p['version']}: {p['num_docs']} docs (limit {limit_text(p['limit'])}), "
                     f"{relative(p['source'], out)}")
    value = row["values"][col["key"]]
    if value.get("chance") is not None and col["kind"] != "normalised":
        verdict = "at chance" if value.get("at_chance") else "not at chance"
        extra = f", binomial p = {value['p_value']:.3g}" if value.get("p_value") is not None else ""
        lines.append(f"chance {100 * value['chance']:.1f}%: {verdict}{extra}")
    if value.get("stderr_method"):
        lines.append(f"± from: {value['stderr_method']}")
    if col["key"] == "consistency":
        randoms = row.get("consistency_random_per_task") or {}
        lines += [f"{t}: {100 * v:.1f}%" + (f" (random sets: {100 * randoms[t]:.1f}%)" if randoms.get(t) is not None
                                              else "") for t, v in row["consistency_per_task"].items()] \
            or ["no skill neurons"]
    return "\n".join(lines)


def _number(value: dict) -> str:
    v = value.get("value")
    text = f"{100 * v:.1f}"
    if value.get("stderr") is not None:
        text += f'<span class="se">±{100 * value["stderr"]:.1f}</span>'
    if value.get("at_chance"):
        text += f'<sup class="mark">{CHANCE_MARK}</sup>'
    return text


def _cell(row: dict, col: dict, out: Path, frozen: str = "") -> str:
    value = row["values"][col["key"]]
    v = value.get("value")
    defined = v is not None and math.isfinite(v)
    classes = [c for c, on in (("na", not defined), ("chance", bool(value.get("at_chance"))),
                               ("score", col["key"] == "score")) if on]
    text = _number(value) if defined else "n/a"
    if defined and value.get("random") is not None:  # the chance level of an overlap
        text += f'<span class="se"> random {100 * value["random"]:.1f}</span>'
    data_v = _esc(repr(v)) if defined else ""
    return (f'<td data-key="{_esc(col["key"])}" data-v="{data_v}" class="{" ".join(classes)}{frozen}" '
            f'title="{_esc(_tooltip(row, col, out))}">{text}</td>')


def _badges(row: dict) -> str:
    marks = row.get("marks") or {}
    out = []
    if marks.get("baseline"):
        out.append('<span class="badge baseline" title="a reference row (baseline: true in the spec)">baseline</span>')
    elif marks.get("chance_level"):
        out.append('<span class="badge chance" title="both means are at chance level: a reference, not a ranking">'
                   'chance level</span>')
    if marks.get("unreliable"):
        reason = (row.get("card") or {}).get("unreliable") or ""
        out.append(f'<span class="badge unreliable" title="{_esc(reason)}">unreliable</span>')
    return "".join(out)


def _bars(row: dict, doc: dict) -> str:
    kinds = {t: "adversarial" for t in doc["suite"]["adversarial"]}
    kinds.update({t: "perturbation" for t in doc["suite"].get("perturbation_twins") or []})
    kinds.update({t: "attack" for t in doc["suite"].get("attacks") or []})
    items = []
    for task, v in row["per_task"].items():
        if v.get("value") is None:
            continue
        width = max(0.0, min(100.0, 100 * v["value"]))
        tick = f'<i style="left:{100 * v["chance"]:.1f}%" title="chance"></i>' if v.get("chance") is not None else ""
        extra = []
        if v.get("flip_rate") is not None:
            extra.append(f"flip {100 * v['flip_rate']:.1f}")
        if v.get("worst_case_acc") is not None:
            extra.append(f"worst case {100 * v['worst_case_acc']:.1f}")
        items.append(f'<code>{_esc(task)}</code><div class="bar"><span class="{kinds.get(task, "task")}" '
                     f'style="width:{width:.1f}%"></span>{tick}</div>'
                     f'<span>{_number(v)}{_esc(" · " + ", ".join(extra)) if extra else ""}</span>')
    return f'<div class="bars">{"".join(items)}</div>' if items else "<p>no task evaluated</p>"


def _reported(card: dict) -> str:
    if not card.get("reported"):
        return ""
    rows = []
    for key, r in card["reported"].items():
        got = "n/a" if r["evaluated"] is None else f"{100 * r['evaluated']:.1f}"
        diff = "" if r["difference"] is None else f"{100 * r['difference']:+.1f}"
        rows.append(f"<tr><td class=\"text\"><code>{_esc(key)}</code></td><td>{100 * r['reported']:.1f}</td>"
                    f"<td>{got}</td><td>{diff}</td></tr>")
    source = f" ({_esc(card['reported_source'])})" if card.get("reported_source") else ""
    return (f"<h4>reported{source} vs re-evaluated</h4><table><tr><th class=\"text\">column</th><th>reported</th>"
            f"<th>re-evaluated</th><th>difference</th></tr>{''.join(rows)}</table>")


def _card(row: dict, doc: dict, span: int, out: Path) -> str:
    card = row.get("card") or {}
    args = ",".join(f"{k}={v}" for k, v in row["model_args"].items()) or "-"
    facts = [("base model", f"<code>{_esc(row['model_name'])}</code> (lm-eval model "
                            f"<code>{_esc(row['lm_eval_model'])}</code>, family {_esc(row.get('family') or '-')})"),
             ("prompt", _esc(row["prompt_source"] or "no prompt")),
             ("prompt sha256", f"<code>{_esc(row['prompt_sha256'] or '-')}</code>"),
             ("model_args", f"<code>{_esc(args)}</code>"),
             ("documents", f"{_esc(docs_text(row['docs']))} per task (limit "
                           f"{_esc(', '.join(row['docs']['limits']) or '?')})")]
    if card.get("notes"):
        facts.append(("notes", _esc(card["notes"])))
    if card.get("unreliable"):
        facts.append(("unreliable", f'<span class="flag">{_esc(card["unreliable"])}</span>'))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    training = card.get("training") or {}
    trained = ("<dl>" + "".join(f"<dt>{_esc(k)}</dt><dd>{_esc(v)}</dd>" for k, v in training.items()) + "</dl>"
               if training else "<p>not recorded (no adapter config, training config or file metadata)</p>")
    items = [f"<li>lm-eval model <code>{_esc(row['lm_eval_model'])}</code>, weights "
             f"<code>{_esc(row['model_name'])}</code></li>",
             f"<li>prompt sha256 <code>{_esc(row['prompt_sha256'] or '-')}</code> "
             f"({_esc(row['prompt_source'] or 'no prompt')})</li>",
             f"<li>packages: {_esc(package_versions(row) or '-')}</li>"]
    for task, p in sorted(row["provenance"]["tasks"].items()):
        items.append(f"<li><code>{_esc(task)}</code> version {_esc(p['version'])}, {_esc(p['num_docs'])} docs "
                     f"(limit {limit_text(p['limit'])}): <code>{_esc(relative(p['source'], out))}</code></li>")
    if row["provenance"]["missing_tasks"]:
        items.append(f"<li>not evaluated: {_esc(', '.join(row['provenance']['missing_tasks']))}</li>")
    repro = card.get("reproduce") or ""
    return (f'<tr class="details" hidden><td colspan="{span}"><div class="card">'
            f"<h3>{_esc(row['rank'])}. {_esc(row['label'])}{_badges(row)}</h3><dl>{dl}</dl>"
            f"<h4>how the prompt was trained</h4>{trained}{_reported(card)}"
            f'<h4>reproduce</h4><div class="repro"><pre><code>{_esc(repro)}</code></pre>'
            f'<button class="copy" type="button">copy</button></div>'
            f"<h4>per task</h4>{_bars(row, doc)}"
            f"<h4>provenance</h4><ul>{''.join(items)}</ul></div></td></tr>")


def _search_text(row: dict) -> str:
    parts = (row["label"], row["model"], row["model_name"], row["prompt_source"] or "", row["prompt_sha256"] or "",
             row.get("family") or "", (row.get("card") or {}).get("notes") or "")
    return " ".join(str(p) for p in parts).lower()


def _filters(doc: dict) -> str:
    families = sorted({r.get("family") or "" for r in doc["entries"]} - {""})
    options = "".join(f'<option value="{_esc(f)}">{_esc(f)}</option>' for f in families)
    return ('<div class="filters"><input id="f-text" type="search" placeholder="filter: label, model, prompt" '
            'aria-label="filter entries">'
            '<select id="f-prompt" aria-label="prompt"><option value="">with or without a prompt</option>'
            '<option value="yes">with a prompt</option><option value="no">without a prompt</option></select>'
            f'<select id="f-family" aria-label="model family"><option value="">every model family</option>{options}'
            '</select><span id="shown"></span></div>')


def to_html(doc: dict, out: Path) -> str:
    """The page (a string of HTML)."""
    cols = doc["columns"]
    by_key = {c["key"]: c for c in cols}
    rest = [c for c in cols if c["key"] != "score"]
    frozen_cls = {k: f" frozen f{i}" + (" edge" if i == len(FROZEN) - 1 else "") for i, k in enumerate(FROZEN)}
    groups = _group_row(doc, cols)
    score = by_key["score"]
    head = [f'<th class="{frozen_cls["rank"]}" data-key="rank" data-best="asc" aria-sort="ascending" '
            'data-title="rank">#</th>',
            f'<th class="text{frozen_cls["label"]}" data-key="label" data-best="asc" data-text="1" '
            'data-title="entry">entry</th>',
            f'<th class="mean{frozen_cls["score"]}" data-key="score" data-best="desc" '
            f'data-title="{_esc(score["title"])}" title="{_esc(score["title"])}">{_esc(short_title(score))}</th>']
    for c in rest:
        best = "desc" if c["higher_is_better"] else "asc"
        head.append(f'<th class="{_esc(c["kind"])}" data-key="{_esc(c["key"])}" data-best="{best}" '
                    f'data-title="{_esc(c["title"])}" title="{_esc(c["title"])}">{_esc(short_title(c))}</th>')
    head += ['<th data-key="docs" data-best="desc" data-title="documents per task" '
             'title="documents per task">docs</th>',
             '<th class="text" data-key="model" data-best="asc" data-text="1" data-title="model">model</th>',
             '<th class="text" data-key="prompt" data-best="asc" data-text="1" data-title="prompt hash">'
             'prompt hash</th>']
    limits = doc.get("limits") or {}
    bodies = []
    for row in doc["entries"]:
        docs = row["docs"]
        off = bool(limits.get("mixed")) and (docs["limit"] or "mixed") != limits.get("common")
        meta = f"{_esc(row['model'])} · {_esc(docs_text(docs))} docs/task"
        if limits.get("mixed"):
            meta += f" · limit {_esc(docs['limit'] or 'mixed')}"
        cells = [f'<td class="{frozen_cls["rank"].strip()}" data-key="rank" data-v="{_esc(row["rank"])}">'
                 f'{_esc(row["rank"])}</td>',
                 f'<td class="text entry{frozen_cls["label"]}" data-key="label" data-v="{_esc(row["label"])}">'
                 '<button class="prov" type="button" aria-expanded="false" title="entry card">&#9656;</button> '
                 f'{_esc(row["label"])}{_badges(row)}'
                 f'<div class="meta{" offlimit" if off else ""}">{"&#9888; " if off else ""}{meta}</div></td>',
                 _cell(row, score, out, frozen_cls["score"])]
        cells += [_cell(row, c, out) for c in rest]
        sha = row["prompt_sha256"]
        cells += [f'<td data-key="docs" data-v="{_esc(docs["min"] if docs["min"] is not None else "")}" '
                  f'title="limit {_esc(", ".join(docs["limits"]))}">{_esc(docs_text(docs))}</td>',
                  f'<td class="text" data-key="model" data-v="{_esc(row["model"])}" title="{_esc(row["model_name"])}">'
                  f'{_esc(row["model"])}</td>',
                  f'<td class="text" data-key="prompt" data-v="{_esc(sha or "")}" '
                  f'title="{_esc(sha or "no prompt")}"><code>{_esc(short_hash(sha))}</code></td>']
        marks = row.get("marks") or {}
        ref = " ref" if marks.get("baseline") or marks.get("chance_level") else ""
        bodies.append(f'<tbody class="entry{ref}" data-label="{_esc(row["label"])}" '
                      f'data-search="{_esc(_search_text(row))}" data-prompt="{"yes" if sha else "no"}" '
                      f'data-family="{_esc(row.get("family") or "")}"><tr>{"".join(cells)}</tr>'
                      f"{_card(row, doc, len(cells), out)}</tbody>")
    rules = "".join(f"<li>{_esc(line[2:].replace('**', '').replace('`', ''))}</li>" for line in rules_text(doc))
    ranked = f"ranked by {doc['suite']['score']}"
    counts = [n for r in doc["entries"] for n in (r["docs"]["min"], r["docs"]["max"]) if n is not None]
    docs_line = ""
    if counts:
        docs_line = " · " + _esc(docs_text({"min": min(counts), "max": max(counts)})) + " documents per task"
        if not limits.get("mixed") and limits.get("common"):
            docs_line += f" (limit {_esc(limits['common'])})"
    warning = limits_warning(doc)
    warn = f'<p class="warn" id="limit-warning" role="alert">&#9888; {_esc(warning)}</p>' if warning else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{_esc(doc["title"])}</title><style>{CSS}</style></head>
<body>
<h1>{_esc(doc["title"])}</h1>
<p class="sub"><span id="sorted" data-ranked="{_esc(ranked)}">{_esc(ranked)}</span> · {len(doc["entries"])} entries
{docs_line} · generated {_esc(doc["generated"])} · click a column to sort, &#9656; for an entry's card
 · <code>{CHANCE_MARK}</code> at chance level</p>
{warn}{_filters(doc)}
<p class="hint" id="scroll-hint" hidden>The table scrolls sideways: rank, entry and score stay in view.</p>
<div class="wrap" id="wrap"><table id="board"><thead><tr class="groups">{"".join(groups)}</tr>
<tr class="cols">{"".join(head)}</tr></thead>
{"".join(bodies)}
</table></div>
<div class="figs"><figure>{figures.adversarial_vs_clean(doc)}</figure>
<figure>{figures.robustness_vs_consistency(doc)}</figure></div>
<ul class="rules">{rules}</ul>
{script_element(SCRIPT)}
</body></html>
"""
