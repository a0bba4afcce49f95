"""lm-eval models: ``prompt_tuned`` (prompt_tuned.py) and the scorers it shares with training (scoring.py)."""
