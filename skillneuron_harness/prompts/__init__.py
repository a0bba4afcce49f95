"""Soft prompts: loading them from PEFT adapters and tensor files, safely."""

from skillneuron_harness.prompts.loading import PromptError, SoftPrompt, load_soft_prompt

__all__ = ["PromptError", "SoftPrompt", "load_soft_prompt"]
