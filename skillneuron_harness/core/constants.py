"""Values that several layers share, declared once (nothing imported: the CLI reads them cheaply)."""

from __future__ import annotations

#: The scorers' backends (core/scoring.py); ``auto`` picks one from the model's config.
BACKENDS: tuple[str, ...] = ("seq2seq", "masked", "causal")
#: The PEFT task type a prompt of each backend is saved under (encoder prompt tuning has no MLM type).
PEFT_TASK_TYPES: dict[str, str] = {"seq2seq": "SEQ_2_SEQ_LM", "causal": "CAUSAL_LM", "masked": "FEATURE_EXTRACTION"}
#: Skill neurons: the top fraction of each layer's neurons by score (both papers: 2%).
DEFAULT_TOP: float = 0.02
#: Suppression curves: the percentages of each layer's neurons suppressed (Ackermann & Ohmer, Fig. 4).
PERCENTS: tuple[int, ...] = (0, 1, 3, 5, 7, 9, 11, 13, 15)
