"""Values that several layers share, declared once (nothing imported: the CLI reads them cheaply)."""

from __future__ import annotations

#: The scorers' backends (core/scoring.py); ``auto`` picks one from the model's config.
BACKENDS: tuple[str, ...] = ("seq2seq", "masked", "causal")
#: The PEFT task type a prompt of each backend is saved under (encoder prompt tuning has no MLM type).
PEFT_TASK_TYPES: dict[str, str] = {"seq2seq": "SEQ_2_SEQ_LM", "causal": "CAUSAL_LM", "masked": "FEATURE_EXTRACTION"}
#: Skill neurons: the top fraction of each layer's neurons by score (both papers: 2%).
DEFAULT_TOP: float = 0.02
#: What ``skillneuron train`` writes beside the adapter (its settings), and what the report and leaderboard read.
TRAIN_CONFIG_FILE: str = "train_config.json"
#: Suppression curves: the percentages of each layer's neurons suppressed (Ackermann & Ohmer, Fig. 4).
PERCENTS: tuple[int, ...] = (0, 1, 3, 5, 7, 9, 11, 13, 15)
#: The order among neurons of equal score wherever neurons are selected (neurons/selection.py):
#: ``high`` keeps the higher index first (Ackermann & Ohmer's reversed argsort, the default),
#: ``low`` the lower index first (Wang et al.'s stable sort).
TIES: tuple[str, ...] = ("high", "low")
DEFAULT_TIES: str = "high"
