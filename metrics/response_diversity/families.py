"""Planted paraphrase families of responses (shared by validate.py and the tests)."""
import random

FAMILIES = [
    (["A dog", "A brown dog", "The puppy", "A small dog"], ["is running", "runs", "is sprinting"],
     ["on the beach", "along the sandy shore", "by the sea"]),
    (["A red bus", "The red double-decker bus", "A crimson bus"], ["drives", "is driving", "moves"],
     ["down a city street", "through the town centre", "along a busy road"]),
    (["A pizza", "A cheese pizza", "The pepperoni pizza"], ["sits", "is lying", "is served"],
     ["on a wooden table", "on the kitchen table", "on a plate on the table"]),
    (["Skiers", "A group of skiers", "Several people on skis"], ["descend", "ski down", "go down"],
     ["a snowy mountain", "a snow-covered slope", "the white mountainside"]),
    (["A cat", "A grey cat", "The kitten"], ["is sleeping", "sleeps", "is napping"],
     ["on the sofa", "on a couch", "on the living-room settee"]),
    (["A man", "A musician", "A young guitarist"], ["plays the guitar", "is playing a guitar",
                                                   "strums his guitar"],
     ["on stage", "at a concert", "in front of an audience"]),
    (["Boats", "Fishing boats", "Several small boats"], ["are moored", "float", "are docked"],
     ["in the harbour", "at the marina", "in a calm port"]),
    (["Children", "A group of kids", "Young boys"], ["play football", "are playing soccer",
                                                     "kick a ball around"],
     ["in the park", "on a grassy field", "on the playground lawn"]),
]


def family_responses(k: int, per_family: int = 10, seed: int = 0) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    out = []
    for f in range(k):
        subj, verb, place = FAMILIES[f]
        combos = [(s, v, p) for s in subj for v in verb for p in place]
        for s, v, p in rng.sample(combos, per_family):
            out.append((f, f"{s} {v} {p}."))
    return out
