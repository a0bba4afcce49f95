"""Names of everything our task folder defines (docs/tasks.md lists the same)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ADVGLUE_TASKS = ["adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli", "adv_rte"]
TRANSFER_TASKS = ["sn_imdb", "sn_rotten_tomatoes", "sn_yelp_polarity", "sn_snli", "sn_mnli_binary",
                  "sn_adv_mnli_binary"]
# Task variants rendered as the released prompts were trained (task_configs/released/)
# (mnli_mm_*: MNLI mismatched; mnli / mnli_mm without "binary": Su et al.'s 3-class MNLI)
RELEASED_TASKS = [f"sn_pt_{t}_{m}" for t in ("sst2", "imdb", "mnli_binary", "mnli_mm_binary", "mnli", "mnli_mm", "qnli",
                                             "qqp", "mrpc")
                  for m in ("roberta", "t5")]
RELEASED_ADV = {f"sn_pt_adv_{t}_{m}": f"sn_pt_{t}_{m}" for t in ("sst2", "mnli_binary", "mnli_mm_binary", "mnli",
                                                                  "mnli_mm", "qnli", "qqp")
                for m in ("roberta", "t5")}
OUR_TASKS = ADVGLUE_TASKS + TRANSFER_TASKS + RELEASED_TASKS + list(RELEASED_ADV)
LEVELS = ("mild", "chars", "distractor")
# Perturbed twins of lm-eval's GLUE tasks (task_configs/perturbed/: Python tasks, host/twins.py): twin -> clean task
PERTURBED = {f"sn_{t}_{level}": t for t in ("sst2", "qnli", "rte", "mnli", "mnli_mismatch", "qqp", "mrpc")
             for level in LEVELS}
OUR_GROUPS = ["advglue", "advglue_mnli", "transfer_sentiment", "transfer_nli", "transfer_paraphrase",
              "sn_perturbed_glue", *(f"sn_perturbed_{level}" for level in LEVELS)]
# adversarial task -> clean twin, as the tasks' metadata must say
CLEAN_TWINS = {"adv_sst2": "sst2", "adv_qqp": "qqp", "adv_mnli": "mnli", "adv_mnli_mismatched": "mnli_mismatch",
               "adv_qnli": "qnli", "adv_rte": "rte", "sn_adv_mnli_binary": "sn_mnli_binary", **RELEASED_ADV}
