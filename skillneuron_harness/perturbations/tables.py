"""The fixed tables of the kinds: QWERTY neighbours, homoglyphs, contractions, fillers, zero-width characters."""

from __future__ import annotations

# ------------------------------------------------------------------ keyboard
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    # A staggered keyboard: key (r, c) touches (r, c +- 1), the row above at c and c + 1, the row below at c - 1 and c.
    out = {}
    for r, row in enumerate(_ROWS):
        for c, key in enumerate(row):
            near = [row[i] for i in (c - 1, c + 1) if 0 <= i < len(row)]
            if r > 0:
                near += [_ROWS[r - 1][i] for i in (c, c + 1) if 0 <= i < len(_ROWS[r - 1])]
            if r + 1 < len(_ROWS):
                near += [_ROWS[r + 1][i] for i in (c - 1, c) if 0 <= i < len(_ROWS[r + 1])]
            out[key] = "".join(sorted(near))
    return out


QWERTY_NEIGHBOURS: dict[str, str] = _neighbours()  # lower-case letter -> its neighbours on a US QWERTY keyboard

# ------------------------------------------------------------------ homoglyphs
# Latin letter -> Cyrillic (first) and Greek look-alikes, as rendered by common sans-serif fonts.
HOMOGLYPHS: dict[str, str] = {
    "a": "\u0430",            # Cyrillic a
    "c": "\u0441\u03f2",      # Cyrillic es, Greek lunate sigma
    "d": "\u0501",            # Cyrillic komi de
    "e": "\u0435",            # Cyrillic ie
    "h": "\u04bb",            # Cyrillic shha
    "i": "\u0456\u03b9",      # Cyrillic Byelorussian-Ukrainian i, Greek iota
    "j": "\u0458",            # Cyrillic je
    "o": "\u043e\u03bf",      # Cyrillic o, Greek omicron
    "p": "\u0440\u03c1",      # Cyrillic er, Greek rho
    "s": "\u0455",            # Cyrillic dze
    "v": "\u03bd",            # Greek nu
    "x": "\u0445",            # Cyrillic ha
    "y": "\u0443",            # Cyrillic u
    "A": "\u0410\u0391",      # Cyrillic A, Greek Alpha
    "B": "\u0412\u0392",      # Cyrillic Ve, Greek Beta
    "C": "\u0421\u03f9",      # Cyrillic Es, Greek lunate Sigma
    "E": "\u0415\u0395",      # Cyrillic Ie, Greek Epsilon
    "H": "\u041d\u0397",      # Cyrillic En, Greek Eta
    "I": "\u0406\u0399",      # Cyrillic I, Greek Iota
    "J": "\u0408",            # Cyrillic Je
    "K": "\u041a\u039a",      # Cyrillic Ka, Greek Kappa
    "M": "\u041c\u039c",      # Cyrillic Em, Greek Mu
    "N": "\u039d",            # Greek Nu
    "O": "\u041e\u039f",      # Cyrillic O, Greek Omicron
    "P": "\u0420\u03a1",      # Cyrillic Er, Greek Rho
    "S": "\u0405",            # Cyrillic Dze
    "T": "\u0422\u03a4",      # Cyrillic Te, Greek Tau
    "X": "\u0425\u03a7",      # Cyrillic Ha, Greek Chi
    "Y": "\u04ae\u03a5",      # Cyrillic straight U, Greek Upsilon
    "Z": "\u0396",            # Greek Zeta
}

# ------------------------------------------------------------------ invisible characters
# Zero width space, zero width non-joiner, zero width joiner, word joiner.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060"

# ------------------------------------------------------------------ contractions
# (expanded, contracted); the contracted form is also read in PTB tokenisation ("does n't", "it 's").
CONTRACTIONS: tuple[tuple[str, str], ...] = (
    ("are not", "aren't"), ("cannot", "can't"), ("could not", "couldn't"), ("did not", "didn't"),
    ("does not", "doesn't"), ("do not", "don't"), ("had not", "hadn't"), ("has not", "hasn't"),
    ("have not", "haven't"), ("is not", "isn't"), ("must not", "mustn't"), ("should not", "shouldn't"),
    ("was not", "wasn't"), ("were not", "weren't"), ("will not", "won't"), ("would not", "wouldn't"),
    ("I am", "I'm"), ("I have", "I've"), ("I will", "I'll"), ("I would", "I'd"), ("you are", "you're"),
    ("you have", "you've"), ("you will", "you'll"), ("we are", "we're"), ("we have", "we've"),
    ("they are", "they're"), ("they have", "they've"), ("he is", "he's"), ("she is", "she's"),
    ("it is", "it's"), ("that is", "that's"), ("there is", "there's"), ("what is", "what's"),
    ("let us", "let's"),
)

# ------------------------------------------------------------------ fillers and punctuation
FILLERS: tuple[str, ...] = ("um", "uh", "er", "like", "you know", "I mean", "well", "so", "basically", "actually")
PUNCTUATION = ".,;:!?"
