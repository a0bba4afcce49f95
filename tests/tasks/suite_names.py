"""Names of everything our task folder defines (docs/tasks.md lists the same)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ADVGLUE_TASKS = ["adv_sst2", "adv_qqp", "adv_mnli", "adv_mnli_mismatched", "adv_qnli", "adv_rte"]
TRANSFER_TASKS = ["sn_imdb", "sn_rotten_tomatoes", "sn_yelp_polarity", "sn_snli", "sn_mnli_binary",
                  "sn_adv_mnli_binary"]
OUR_TASKS = ADVGLUE_TASKS + TRANSFER_TASKS
OUR_GROUPS = ["advglue", "advglue_mnli", "transfer_sentiment", "transfer_nli", "transfer_paraphrase"]
# adversarial task -> clean twin, as the tasks' metadata must say
CLEAN_TWINS = {"adv_sst2": "sst2", "adv_qqp": "qqp", "adv_mnli": "mnli", "adv_mnli_mismatched": "mnli_mismatch",
               "adv_qnli": "qnli", "adv_rte": "rte", "sn_adv_mnli_binary": "sn_mnli_binary"}
