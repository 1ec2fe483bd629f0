"""The 80 COCO object classes, their synonyms, and a mention finder for CHAIR.

Synonyms follow Rohrbach et al.'s CHAIR list (``synonyms.txt`` of "Object Hallucination in Image
Captioning", EMNLP 2018), trimmed of words that are mostly something else in instruction data
("bow", "meter", "container", "sub", "seat"). Plurals are generated (regular rules plus the
irregular ones below); multi-word names are matched before single words, so "hot dog" is not a
dog and "teddy bear" is not a bear.
"""
from __future__ import annotations

import re

# class -> synonyms (singular; the class name itself is added automatically)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "person": (
        "girl", "boy", "man", "woman", "kid", "child", "chef", "baker", "people", "adult",
        "rider", "baby", "worker", "passenger", "sister", "brother", "biker", "policeman",
        "policewoman", "cop", "officer", "lady", "cowboy", "bride", "groom", "male", "female",
        "guy", "traveler", "mother", "father", "gentleman", "pitcher", "player", "skier",
        "snowboarder", "skater", "skateboarder", "surfer", "toddler", "infant", "teenager",
        "teen", "student", "driver", "shopper", "tourist", "pedestrian", "soldier", "doctor",
        "nurse", "bicyclist", "cyclist", "batter", "catcher", "umpire", "spectator", "customer",
        "human", "individual", "someone", "daughter", "son", "husband", "wife", "crowd",
    ),
    "bicycle": ("bike", "unicycle", "minibike", "trike"),
    "car": ("automobile", "van", "minivan", "sedan", "suv", "hatchback", "cab", "jeep", "coupe",
            "taxicab", "limo", "limousine", "taxi"),
    "motorcycle": ("scooter", "motor bike", "motor cycle", "motorbike", "moped"),
    "airplane": ("jetliner", "plane", "air plane", "monoplane", "aircraft", "jet", "airbus",
                 "biplane", "seaplane", "airliner", "aeroplane"),
    "bus": ("minibus", "trolley", "double decker"),
    "train": ("locomotive", "tramway", "caboose", "tram"),
    "truck": ("pickup", "lorry", "hauler", "firetruck", "fire truck", "pickup truck"),
    "boat": ("ship", "liner", "sailboat", "motorboat", "dinghy", "powerboat", "speedboat",
             "canoe", "skiff", "yacht", "kayak", "catamaran", "pontoon", "houseboat", "vessel",
             "rowboat", "trawler", "ferryboat", "watercraft", "tugboat", "schooner", "barge",
             "ferry", "paddleboat", "lifeboat", "freighter", "steamboat", "riverboat",
             "battleship", "steamship"),
    "traffic light": ("street light", "traffic signal", "stop light", "streetlight",
                      "stoplight"),
    "fire hydrant": ("hydrant",),
    "stop sign": (),
    "parking meter": (),
    "bench": ("pew",),
    "bird": ("ostrich", "owl", "seagull", "goose", "duck", "parakeet", "falcon", "robin",
             "pelican", "waterfowl", "heron", "hummingbird", "mallard", "finch", "pigeon",
             "sparrow", "seabird", "osprey", "blackbird", "fowl", "shorebird", "woodpecker",
             "egret", "chickadee", "quail", "bluebird", "kingfisher", "buzzard", "gull", "swan",
             "bluejay", "flamingo", "cormorant", "parrot", "loon", "gosling", "pheasant",
             "rooster", "sandpiper", "crow", "raven", "oriole", "warbler", "magpie", "peacock",
             "cockatiel", "lorikeet", "puffin", "vulture", "condor", "macaw", "cockatoo",
             "songbird", "hen", "chicken"),
    "cat": ("kitten", "feline", "tabby", "kitty"),
    "dog": ("puppy", "beagle", "pup", "chihuahua", "schnauzer", "dachshund", "rottweiler",
            "canine", "pitbull", "collie", "pug", "terrier", "poodle", "labrador", "doggie",
            "doberman", "mutt", "doggy", "spaniel", "bulldog", "sheepdog", "corgi", "greyhound",
            "retriever", "hound", "whippet", "husky"),
    "horse": ("colt", "pony", "racehorse", "stallion", "equine", "mare", "foal", "palomino",
              "mustang", "clydesdale", "bronco"),
    "sheep": ("lamb", "ram", "goat", "ewe"),
    "cow": ("cattle", "ox", "calf", "holstein", "heifer", "buffalo", "bull", "bison", "steer"),
    "elephant": (),
    "bear": ("grizzly",),
    "zebra": (),
    "giraffe": (),
    "backpack": ("knapsack", "rucksack"),
    "umbrella": ("parasol",),
    "handbag": ("wallet", "purse", "briefcase", "hand bag"),
    "tie": ("necktie", "bow tie"),
    "suitcase": ("suit case", "luggage"),
    "frisbee": (),
    "skis": ("ski",),
    "snowboard": (),
    "sports ball": ("ball", "football", "soccer ball", "baseball", "basketball",
                    "tennis ball", "volleyball"),
    "kite": (),
    "baseball bat": ("bat",),
    "baseball glove": ("glove", "mitt"),
    "skateboard": (),
    "surfboard": ("longboard", "skimboard", "shortboard", "wakeboard"),
    "tennis racket": ("racket", "racquet"),
    "bottle": (),
    "wine glass": (),
    "cup": ("mug",),
    "fork": (),
    "knife": ("pocketknife",),
    "spoon": (),
    "bowl": (),
    "banana": (),
    "apple": (),
    "sandwich": ("burger", "cheeseburger", "hamburger", "sub sandwich", "panini"),
    "orange": (),
    "broccoli": (),
    "carrot": (),
    "hot dog": ("hotdog",),
    "pizza": (),
    "donut": ("doughnut", "bagel"),
    "cake": ("cheesecake", "cupcake", "shortcake", "coffeecake"),
    "chair": ("stool", "armchair"),
    "couch": ("sofa", "recliner", "futon", "loveseat", "settee"),
    "potted plant": ("houseplant", "house plant", "flowerpot", "plant pot"),
    "bed": (),
    "dining table": ("table", "desk"),
    "toilet": ("urinal", "commode", "lavatory", "potty", "toilet seat"),
    "tv": ("monitor", "television", "tv screen"),
    "laptop": ("computer", "laptop computer", "notebook computer", "netbook", "macbook"),
    "mouse": ("computer mouse",),
    "remote": ("remote control", "controller"),
    "keyboard": (),
    "cell phone": ("mobile phone", "phone", "cellphone", "telephone", "smartphone", "iphone"),
    "microwave": ("microwave oven",),
    "oven": ("stovetop", "stove", "stove top oven"),
    "toaster": (),
    "sink": (),
    "refrigerator": ("fridge", "freezer"),
    "book": ("novel",),
    "clock": (),
    "vase": (),
    "scissors": (),
    "teddy bear": ("teddybear", "teddy"),
    "hair drier": ("hairdryer", "hair dryer", "blow dryer", "blowdryer", "blow drier",
                   "hair drier"),
    "toothbrush": ("tooth brush",),
}

COCO_CLASSES: tuple[str, ...] = tuple(SYNONYMS)

# Phrases that contain an object word but name something else; they are consumed, not counted.
NOT_OBJECTS: tuple[str, ...] = (
    "bus stop", "bus station", "train station", "train track", "train tracks", "car park",
    "dog tag", "cat walk", "bird s eye", "bird eye", "tennis court", "baseball field",
    "baseball game", "baseball player", "baseball cap", "baseball uniform", "table tennis",
    "hot dog stand", "pizza place", "cake shop", "traffic jam", "phone number", "book store",
    "bookstore", "horse race", "ski slope", "ski lift", "ski resort", "ski pole",
    "ski poles", "bear in mind", "remote area", "remote location", "remote place",
)

ANIMALS = ("bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe")

_IRREGULAR = {"man": "men", "woman": "women", "child": "children", "person": "people",
              "mouse": "mice", "knife": "knives", "foot": "feet", "goose": "geese",
              "ox": "oxen", "policeman": "policemen", "policewoman": "policewomen",
              "gentleman": "gentlemen", "sheep": "sheep", "fish": "fish", "bison": "bison",
              "cattle": "cattle", "skis": "skis", "scissors": "scissors", "people": "peoples",
              "wife": "wives", "calf": "calves", "shelf": "shelves", "bus": "buses",
              "broccoli": "broccoli"}


def _plural(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if re.search(r"(s|x|z|ch|sh)$", word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


def _build_lexicon() -> dict[tuple[str, ...], str]:
    lex: dict[tuple[str, ...], str] = {}
    for cls, syns in SYNONYMS.items():
        for name in (cls, *syns):
            words = name.lower().split()
            forms = {tuple(words), tuple(words[:-1] + [_plural(words[-1])])}
            for f in forms:
                lex.setdefault(f, cls)
    # "baby elephant", "adult birds", "mother cat" are animals, not people (as in Rohrbach's code)
    for cls in ANIMALS:
        for name in (cls, *SYNONYMS[cls]):
            if " " in name:
                continue
            for mod in ("baby", "adult", "mother", "young", "little"):
                lex[(mod, name)] = cls
                lex[(mod, _plural(name))] = cls
    for phrase in NOT_OBJECTS:
        lex[tuple(phrase.split())] = ""
    return lex


LEXICON = _build_lexicon()
_MAX_LEN = max(len(k) for k in LEXICON)
_WORD = re.compile(r"[a-z]+")


def find_mentions(text: str) -> list[tuple[str, str]]:
    """COCO object mentions in ``text`` as ``(words, class)`` pairs, in order.

    Longest phrases win ("hot dog" is a hot dog, not a dog); phrases in :data:`NOT_OBJECTS`
    ("bus stop") are skipped.

    >>> find_mentions("Two men ride motorbikes past a hot dog stand and a bus stop.")
    [('men', 'person'), ('motorbikes', 'motorcycle')]
    >>> find_mentions("A teddy bear sits on the sofa next to a TV.")
    [('teddy bear', 'teddy bear'), ('sofa', 'couch'), ('tv', 'tv')]
    """
    words = _WORD.findall((text or "").lower().replace("'", " "))
    out = []
    i = 0
    while i < len(words):
        for n in range(min(_MAX_LEN, len(words) - i), 0, -1):
            key = tuple(words[i : i + n])
            cls = LEXICON.get(key)
            if cls is not None:
                if cls:
                    out.append((" ".join(key), cls))
                i += n
                break
        else:
            i += 1
    return out


def normalise_objects(names) -> set[str]:
    """Map annotation names (COCO class names, synonyms, plurals) to COCO classes.

    Unknown names are kept lower-cased as they are (they never match a mention).

    >>> sorted(normalise_objects(["person", "Dogs", "dining table", "motorbike"]))
    ['dining table', 'dog', 'motorcycle', 'person']
    """
    out = set()
    for n in names or ():
        if n is None:
            continue
        key = tuple(_WORD.findall(str(n).lower()))
        cls = LEXICON.get(key)
        out.add(cls if cls else str(n).strip().lower())
    return out
