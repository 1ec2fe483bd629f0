"""Calibrating the DBSCAN radius of ``response_diversity``: the cosine at which two responses
say the same thing, for a given sentence encoder.

The radius is not a magic constant: it is the threshold that best separates

- **paraphrase pairs** (two responses that say the same thing in other words), from
- **different pairs** (two responses about the same kind of image or question that say
  different things: another colour, count, object, action — the hard negatives), plus
  unrelated pairs (responses of different pairs, crossed).

The threshold is the one that maximises balanced accuracy (Youden's J) over the cosines of the
two groups; among equally good thresholds the midpoint of the widest gap is taken, so the
radius sits between the hardest negative and the weakest paraphrase rather than on either.
``eps = 1 - threshold``.

:data:`PARAPHRASE_PAIRS` and :data:`DIFFERENT_PAIRS` are written for this purpose in the style
of VLIT responses (captions, short and long answers); :data:`CALIBRATED_EPS` stores the value
they give for each encoder measured (reproduce with ``python
metrics/response_diversity/calibrate.py``). For another encoder, call :func:`calibrate_eps`
(or pass ``eps="calibrate"`` to ``response_diversity``), with your own pairs when you have them.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

#: Two responses that say the same thing.
PARAPHRASE_PAIRS: tuple[tuple[str, str], ...] = (
    ("A red double-decker bus drives down a city street.",
     "A red two-storey bus is driving along a street in the city."),
    ("A cat is sleeping on a wooden table.", "On a wooden table, a cat lies asleep."),
    ("Two children are playing football in a park.",
     "A couple of kids play soccer in the park."),
    ("There are three apples in the bowl.", "The bowl holds three apples."),
    ("The man is riding a horse along the beach.",
     "A man rides a horse on the beach."),
    ("A plate of pasta with tomato sauce and basil.",
     "Spaghetti topped with tomato sauce and a few basil leaves on a plate."),
    ("The woman is holding a black umbrella in the rain.",
     "In the rain, a woman holds a black umbrella."),
    ("A dog catches a frisbee in mid-air.", "A dog leaps and grabs a flying disc."),
    ("Yes, the traffic light is green.", "Yes. The light is showing green."),
    ("No, there is nobody in the room.", "No, the room is empty of people."),
    ("A snowy mountain rises behind a calm lake.",
     "Behind a still lake stands a snow-covered mountain."),
    ("The clock on the tower shows ten past four.",
     "The tower clock reads 4:10."),
    ("A young boy is eating an ice cream cone.", "A little boy eats an ice-cream cone."),
    ("An airplane is taking off from the runway.",
     "A plane lifts off the runway."),
    ("The kitchen has white cabinets and a steel refrigerator.",
     "White cupboards and a stainless steel fridge fill the kitchen."),
    ("A person is surfing a large wave.", "Someone rides a big wave on a surfboard."),
    ("The sign says the shop is closed.", "According to the sign, the store is closed."),
    ("A bowl of soup sits next to a slice of bread.",
     "Next to a piece of bread there is a bowl of soup."),
    ("Several people wait at a bus stop.", "A group of people is waiting at the bus stop."),
    ("The astronaut wears an orange spacesuit.", "The astronaut is dressed in an orange suit."),
    ("A bicycle is leaning against a brick wall.", "A bike rests against a wall of bricks."),
    ("The giraffe is eating leaves from a tall tree.",
     "A giraffe feeds on the leaves of a tall tree."),
    ("The photo shows a busy market with fruit stalls.",
     "The picture shows a crowded market full of fruit stands."),
    ("A laptop and a cup of coffee are on the desk.",
     "On the desk there is a laptop next to a coffee cup."),
    ("The baby is smiling at the camera.", "The infant smiles toward the camera."),
    ("A train crosses a bridge over a river.", "A train goes over a bridge above a river."),
    ("The cake has five candles on it.", "There are five candles on the cake."),
    ("A fire truck is parked in front of the station.",
     "In front of the fire station stands a fire engine."),
    ("Two zebras are standing in the grass.", "A pair of zebras stands on the grassland."),
    ("The street is wet after the rain.", "After the rain, the road is wet."),
    ("The man in the blue shirt is cooking on a grill.",
     "A man wearing a blue shirt grills food on a barbecue."),
    ("The vase on the windowsill holds yellow flowers.",
     "Yellow flowers stand in a vase on the window sill."),
)

#: Two responses on the same kind of image or question that say different things.
DIFFERENT_PAIRS: tuple[tuple[str, str], ...] = (
    ("A red double-decker bus drives down a city street.",
     "A blue delivery van is parked on a quiet street."),
    ("A cat is sleeping on a wooden table.", "A dog is barking at the door."),
    ("Two children are playing football in a park.",
     "An old man is reading a newspaper on a park bench."),
    ("There are three apples in the bowl.", "There are seven oranges on the table."),
    ("The man is riding a horse along the beach.",
     "A woman is walking her dog through the forest."),
    ("A plate of pasta with tomato sauce and basil.",
     "A bowl of rice with grilled chicken and vegetables."),
    ("The woman is holding a black umbrella in the rain.",
     "The woman is wearing sunglasses on a sunny day."),
    ("A dog catches a frisbee in mid-air.", "A cat chases a mouse across the kitchen."),
    ("Yes, the traffic light is green.", "No, the car is not moving."),
    ("No, there is nobody in the room.", "Yes, two people are sitting on the sofa."),
    ("A snowy mountain rises behind a calm lake.",
     "A sandy desert stretches under a clear sky."),
    ("The clock on the tower shows ten past four.",
     "The tower is built of grey stone and has a pointed roof."),
    ("A young boy is eating an ice cream cone.", "A girl is drinking orange juice."),
    ("An airplane is taking off from the runway.",
     "A helicopter is landing on the roof of a hospital."),
    ("The kitchen has white cabinets and a steel refrigerator.",
     "The bedroom has a large bed and green curtains."),
    ("A person is surfing a large wave.", "A person is skiing down a steep slope."),
    ("The sign says the shop is closed.", "The sign points to the train station."),
    ("A bowl of soup sits next to a slice of bread.",
     "A glass of red wine stands beside a cheese board."),
    ("Several people wait at a bus stop.", "A crowd cheers at a football match."),
    ("The astronaut wears an orange spacesuit.",
     "A model of the space shuttle stands behind her."),
    ("A bicycle is leaning against a brick wall.", "A motorcycle speeds along the highway."),
    ("The giraffe is eating leaves from a tall tree.", "An elephant is bathing in a river."),
    ("The photo shows a busy market with fruit stalls.",
     "The photo shows an empty parking lot at night."),
    ("A laptop and a cup of coffee are on the desk.",
     "A stack of books and a lamp are on the shelf."),
    ("The baby is smiling at the camera.", "The baby is crying in its crib."),
    ("A train crosses a bridge over a river.", "A boat sails under a bridge at sunset."),
    ("The cake has five candles on it.", "The cake is covered with chocolate icing."),
    ("A fire truck is parked in front of the station.",
     "A police car is chasing a speeding vehicle."),
    ("Two zebras are standing in the grass.", "A lion is resting under a tree."),
    ("The street is wet after the rain.", "The street is decorated with lights for a festival."),
    ("The man in the blue shirt is cooking on a grill.",
     "The man in the blue shirt is fixing a car engine."),
    ("The vase on the windowsill holds yellow flowers.",
     "A potted cactus stands on the kitchen counter."),
)

#: Radius (cosine distance) calibrated on the pairs above, per encoder id (lower case). Measured
#: with ``metrics/response_diversity/calibrate.py``; see the card for the figures.
CALIBRATED_EPS: dict[str, float] = {
    "all-minilm-l6-v2": 0.4343,
    # the same pairs through SentenceEncoder's faster variants (benchmarks/bench_encoders.py;
    # fidelity of their clusters on real answers: benchmarks/README.md, "Sentence encoders")
    "all-minilm-l6-v2:int8": 0.4341,
    "minilm-static": 0.3608,
}


def best_threshold(pos: Sequence[float], neg: Sequence[float]) -> dict:
    """The cosine threshold that best separates ``pos`` (same meaning) from ``neg``.

    Balanced accuracy ``(TPR + TNR) / 2`` is maximised over all cut points between sorted
    values; among ties the midpoint of the widest gap wins.

    Returns
    -------
    dict
        ``threshold``, ``balanced_accuracy``, ``pos_min``, ``neg_max``, ``pos_median``,
        ``neg_median``.

    Examples
    --------
    >>> r = best_threshold([0.9, 0.8, 0.85], [0.2, 0.4, 0.5])
    >>> round(r["threshold"], 2), r["balanced_accuracy"]
    (0.65, 1.0)
    """
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    if not len(pos) or not len(neg):
        raise ValueError("calibration needs at least one pair of each kind")
    vals = np.unique(np.concatenate([pos, neg]))
    cuts = np.concatenate([[vals[0] - 1e-6], (vals[:-1] + vals[1:]) / 2, [vals[-1] + 1e-6]])
    gaps = np.concatenate([[0.0], np.diff(vals), [0.0]])
    tpr = (pos[None, :] >= cuts[:, None]).mean(axis=1)
    tnr = (neg[None, :] < cuts[:, None]).mean(axis=1)
    bacc = (tpr + tnr) / 2
    best = np.flatnonzero(np.isclose(bacc, bacc.max()))
    k = best[np.argmax(gaps[best])]
    return {"threshold": float(cuts[k]), "balanced_accuracy": float(bacc[k]),
            "pos_min": float(pos.min()), "neg_max": float(neg.max()),
            "pos_median": float(np.median(pos)), "neg_median": float(np.median(neg))}


def _perturb(text: str, rng: random.Random) -> str:
    """A same-meaning variant for the automatic procedure: drop ~1 in 6 words (never the
    first) and swap one adjacent pair; a mild paraphrase that keeps content words mostly."""
    words = text.split()
    if len(words) < 4:
        return text.lower()
    keep = [w for i, w in enumerate(words) if i == 0 or rng.random() > 1 / 6]
    if len(keep) > 3:
        j = rng.randrange(1, len(keep) - 1)
        keep[j], keep[j + 1] = keep[j + 1], keep[j]
    return " ".join(keep)


def calibrate_eps(encoder, paraphrase_pairs: Sequence[tuple[str, str]] | None = None,
                  different_pairs: Sequence[tuple[str, str]] | None = None, *,
                  responses: Sequence[str] | None = None, n_auto: int = 200,
                  seed: int = 0) -> dict:
    """Calibrate the ``response_diversity`` radius for ``encoder``.

    Parameters
    ----------
    encoder : object with ``encode(texts) -> (n, d) array``
        E.g. :class:`vlitq.models.text.SentenceEncoder`.
    paraphrase_pairs, different_pairs : sequences of (str, str), optional
        Your own pairs (same meaning / different meaning). Default: the packaged
        :data:`PARAPHRASE_PAIRS` and :data:`DIFFERENT_PAIRS`, plus unrelated pairs made by
        crossing different pairs.
    responses : sequence of str, optional
        The automatic procedure, for data unlike the packaged pairs: up to ``n_auto``
        responses are each paired with a perturbed copy (words dropped, two swapped) as
        paraphrases and with a random other response as the different pair; added to the
        pairs above.
    seed : int

    Returns
    -------
    dict
        ``eps`` (= 1 − threshold), the threshold figures of :func:`best_threshold`, and the
        number of pairs of each kind.
    """
    rng = random.Random(seed)
    pos = list(paraphrase_pairs if paraphrase_pairs is not None else PARAPHRASE_PAIRS)
    neg = list(different_pairs if different_pairs is not None else DIFFERENT_PAIRS)
    if different_pairs is None:
        # unrelated pairs: first sentence of one pair with the second of another
        firsts = [a for a, _ in DIFFERENT_PAIRS]
        seconds = [b for _, b in DIFFERENT_PAIRS]
        for i in range(len(firsts)):
            neg.append((firsts[i], seconds[(i + 7) % len(seconds)]))
    if responses:
        resp = [r for r in dict.fromkeys(responses) if r and r.strip()]
        rng.shuffle(resp)
        resp = resp[:n_auto]
        for i, r in enumerate(resp):
            pos.append((r, _perturb(r, rng)))
            if len(resp) > 1:
                neg.append((r, resp[(i + 1 + rng.randrange(len(resp) - 1)) % len(resp)]))
    texts = list(dict.fromkeys([t for p in pos + neg for t in p]))
    emb = np.asarray(encoder.encode(texts), dtype=np.float64)
    emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    row = {t: i for i, t in enumerate(texts)}

    def cos(pairs):
        return [float(emb[row[a]] @ emb[row[b]]) for a, b in pairs if a != b]

    res = best_threshold(cos(pos), cos(neg))
    res["eps"] = round(1.0 - res["threshold"], 4)
    res["n_paraphrase_pairs"] = len(pos)
    res["n_different_pairs"] = len(neg)
    return res
