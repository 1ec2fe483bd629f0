"""Planted instruction families (shared by validate.py and the tests)."""

FAMILIES = [
    (["count", "enumerate", "tally"], ["dogs", "puppies", "hounds", "canines"]),
    (["describe", "narrate", "summarize"], ["scene", "landscape", "surroundings", "setting"]),
    (["identify", "recognize", "name"], ["brand", "logo", "trademark", "label"]),
    (["read", "transcribe", "copy"], ["text", "sign", "caption", "inscription"]),
    (["estimate", "guess", "judge"], ["age", "years", "birthday", "elderly"]),
    (["locate", "find", "spot"], ["exit", "door", "entrance", "gate"]),
    (["compare", "contrast", "distinguish"], ["colors", "shades", "hues", "tints"]),
    (["explain", "interpret", "justify"], ["emotion", "mood", "feeling", "expression"]),
]
GENERIC = ["image", "picture", "photo"]
TEMPLATES = ["Please {v} the {n} in this {g}.", "Can you {v} the {n} shown in the {g}?",
             "{v} all {n} and {n2} visible in the {g}.", "In the {g}, {v} the {n} and the {n2}."]

