"""The settings of one attack: recipe, budgets and constraints, each checked when it is made."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from skillneuron_harness.core.errors import SkillNeuronError

RECIPES = ("chars", "mlm")


class AttackError(SkillNeuronError):
    """An attack that cannot run as asked; the message names the setting and the fix."""


@dataclass
class AttackConfig:
    """How documents are attacked: one field per ``skillneuron attack`` flag."""

    recipe: str = field(default="chars", metadata={
        "choices": RECIPES,
        "help": "chars: one character edit per word (swap, delete, insert, QWERTY neighbour, homoglyph), "
                "DeepWordBug-style; mlm: a word replaced by a masked LM's top predictions, BERT-Attack-style."})
    max_words_changed: float = field(default=0.15, metadata={
        "help": "the most words of a document that may change, as a fraction of its words (attacked fields "
                "together, rounded down: a 6-word sentence at 0.15 cannot be changed)."})
    max_edit_distance: int = field(default=2, metadata={
        "help": "chars: the largest character edit distance between a word and its replacement (a swap is 2)."})
    candidates_per_word: int = field(default=16, metadata={
        "help": "replacements tried per word: chars draws them from all single edits (seeded), mlm takes the "
                "masked LM's top predictions that pass the filters."})
    query_budget: int = field(default=500, metadata={
        "help": "the most victim queries (scored document variants) per document, the clean one included."})
    seed: int = field(default=1234, metadata={"help": "the seed of the character edits drawn per word."})
    stop_words: bool = field(default=False, metadata={
        "flag": "--edit-stop-words", "flag_help": "allow edits of stop words (the, a, is, not, ...); off by default."})
    protect: list[str] = field(default_factory=list, metadata={
        "help": "a word no edit may touch (the document's answer words always are)."})
    mlm_top_k: int = field(default=48, metadata={
        "help": "mlm: predictions read per masked word before the filters (whole words, letters only, not "
                "the word itself, no stop word)."})

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise AttackError(f"--recipe {self.recipe!r}: not a recipe; choose one of {', '.join(RECIPES)}.")
        if not isinstance(self.max_words_changed, (int, float)) or isinstance(self.max_words_changed, bool) \
                or not 0.0 < float(self.max_words_changed) <= 1.0:
            raise AttackError(f"--max-words-changed {self.max_words_changed!r}: give a fraction in (0, 1], e.g. 0.15.")
        self.max_words_changed = float(self.max_words_changed)
        for name, minimum in (("max_edit_distance", 1), ("candidates_per_word", 1), ("query_budget", 2),
                              ("mlm_top_k", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                flag = "--" + name.replace("_", "-")
                raise AttackError(f"{flag} {value!r}: give a whole number of at least {minimum}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise AttackError(f"--seed {self.seed!r}: give a whole number in [0, 2**63).")
        if any(not isinstance(w, str) or not w.strip() for w in self.protect):
            raise AttackError("--protect: give non-empty words.")

    def describe(self) -> dict:
        """JSON-able settings, as the task's ``metadata.attack`` and the summary record them."""
        out = asdict(self)
        if self.recipe != "chars":
            out.pop("max_edit_distance")
        if self.recipe != "mlm":
            out.pop("mlm_top_k")
        return out

    def max_changes(self, n_words: int) -> int:
        """Words that may change in a document of ``n_words`` (rounded down, as TextAttack's MaxWordsPerturbed)."""
        return int(self.max_words_changed * n_words + 1e-9)
