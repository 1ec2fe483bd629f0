"""Build the bundled example dataset from real photos that ship in PyPI packages.

Photos: scikit-image's data module (astronaut, coffee, chelsea, rocket, camera, horse, coins,
moon, hubble_deep_field, stereo_motorcycle, retina, immunohistochemistry, page, text) and
scikit-learn's ``china.jpg`` / ``flower.jpg``, saved as small JPEGs. The conversations were
written by hand for these images. A few samples are bad on purpose (see BAD below), so the
example shows what vlitq reports.

Outputs (deterministic; re-running rewrites the same files)::

    examples/data/llava/images/*.jpg      the photos (longest side 320 px)
    examples/data/llava/llava.json        LLaVA conversations, one JSON array
    examples/data/llava/llava.jsonl       the same as JSON Lines, plus one malformed line
    examples/data/m3it/examples.jsonl     the same samples in M3IT layout (base64 images;
                                          multi-turn conversations keep their first turn)

Run: ``python examples/data/make_example_data.py``
"""
from __future__ import annotations

import base64
import io
import json
import os

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
LLAVA = os.path.join(HERE, "llava")
IMAGES = os.path.join(LLAVA, "images")
M3IT = os.path.join(HERE, "m3it")
MAX_SIDE = 320
QUALITY = 75


def _photos() -> dict[str, np.ndarray]:
    import skimage.data as d
    from sklearn.datasets import load_sample_image

    horse = d.horse()  # bool silhouette: True = background
    return {
        "astronaut": d.astronaut(),
        "coffee": d.coffee(),
        "chelsea": d.chelsea(),
        "rocket": d.rocket(),
        "camera": d.camera(),
        "horse": np.where(horse, 255, 0).astype(np.uint8),
        "coins": d.coins(),
        "moon": d.moon(),
        "hubble_deep_field": d.hubble_deep_field(),
        "motorcycle": d.stereo_motorcycle()[0],
        "retina": d.retina(),
        "immunohistochemistry": d.immunohistochemistry(),
        "page": d.page(),
        "china": load_sample_image("china.jpg"),
        "flower": load_sample_image("flower.jpg"),
    }


def _jpeg(arr: np.ndarray) -> bytes:
    im = Image.fromarray(arr)
    im = im.convert("RGB") if im.mode not in ("RGB", "L") else im
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=QUALITY, optimize=True)
    return buf.getvalue()


def H(text):  # a human turn
    return {"from": "human", "value": text}


def G(text):  # an assistant turn
    return {"from": "gpt", "value": text}


# (id, image, task, conversation). The first human turn gets the <image> token.
SAMPLES = [
    ("astronaut_caption", "astronaut", "caption", [
        H("Describe this image in one sentence."),
        G("A smiling astronaut with short brown hair poses in an orange spacesuit in front of "
          "an American flag, with a model of the space shuttle behind her and her helmet "
          "beside her.")]),
    ("astronaut_yesno", "astronaut", "yes_no", [
        H("Is the person in the photo wearing a helmet?"),
        G("No. Her helmet is not on her head; it rests beside her in the lower right corner.")]),
    ("astronaut_conversation", "astronaut", "conversation", [
        H("What is the person wearing?"),
        G("An orange pressure suit of the kind shuttle crews wore for launch and landing, with "
          "mission patches on the chest."),
        H("What is behind her on the right?"),
        G("A model of the space shuttle stacked on its external tank and boosters."),
        H("And on the left?"),
        G("Part of an American flag.")]),
    ("coffee_caption", "coffee", "caption", [
        H("Write a short caption for this picture."),
        G("A cup of coffee in a red cup on a matching saucer, with a spoon, on a wooden "
          "table.")]),
    ("coffee_vqa", "coffee", "short_vqa", [
        H("What color is the cup?"),
        G("Red.")]),
    ("coffee_mc", "coffee", "multiple_choice", [
        H("What is on the saucer next to the cup?\nA. a fork\nB. a spoon\nC. a biscuit\n"
          "D. nothing\nAnswer with the letter."),
        G("B")]),
    ("chelsea_caption", "chelsea", "caption", [
        H("Describe the image."),
        G("A close-up of a tabby cat's face with striped brown fur, green-yellow eyes and a "
          "pink nose, looking slightly to the side.")]),
    ("chelsea_vqa", "chelsea", "short_vqa", [
        H("What animal is this?"),
        G("A cat.")]),
    ("rocket_caption", "rocket", "caption", [
        H("What does this photo show?"),
        G("A rocket standing on its launch pad at dusk, framed by tall towers, with bright "
          "lights along the ground and a deep blue sky.")]),
    ("rocket_reasoning", "rocket", "reasoning", [
        H("Why are there several tall towers around the rocket?"),
        G("They are most likely lightning protection towers: a launch pad is an exposed, flat "
          "site, and the towers draw lightning strikes away from the fuelled rocket.")]),
    ("camera_caption", "camera", "caption", [
        H("Give a one-sentence description of this black-and-white photo."),
        G("A man in a dark coat looks through a camera mounted on a tripod in a grassy field, "
          "with buildings in the distance.")]),
    ("camera_yesno", "camera", "yes_no", [
        H("Is this a color photograph?"),
        G("No, it is a grayscale image.")]),
    ("horse_vqa", "horse", "short_vqa", [
        H("What animal does the silhouette show?"),
        G("A horse.")]),
    ("horse_mc", "horse", "multiple_choice", [
        H("Which way is the horse facing?\nA. left\nB. right\nC. towards the viewer\n"
          "Answer with the letter."),
        G("B")]),
    ("coins_count", "coins", "short_vqa", [
        H("How many coins are in the image?"),
        G("24, arranged in four rows of six.")]),
    ("coins_reasoning", "coins", "reasoning", [
        H("Do these coins look modern? Explain."),
        G("No. They are worn, irregular in shape and stamped with profile heads and figures "
          "rather than crisp modern lettering, which suggests ancient coins.")]),
    ("moon_caption", "moon", "caption", [
        H("Describe this image."),
        G("A low-contrast grayscale view of the surface of the moon, with a few small craters "
          "and darker patches.")]),
    ("moon_yesno", "moon", "yes_no", [
        H("Are there any people in this picture?"),
        G("No. It shows only the lunar surface.")]),
    ("hubble_caption", "hubble_deep_field", "caption", [
        H("What is shown in this picture?"),
        G("A deep-field telescope image: hundreds of small galaxies of different colors, "
          "shapes and sizes scattered over a black sky.")]),
    ("hubble_reasoning", "hubble_deep_field", "reasoning", [
        H("Why do many of the objects look so small and faint?"),
        G("Most of them are very distant galaxies, so little of their light reaches us and they "
          "cover only a tiny patch of sky, even in a long telescope exposure.")]),
    ("motorcycle_caption", "motorcycle", "caption", [
        H("Describe the scene."),
        G("A red motorcycle parked on a concrete floor inside a garage, with shelves, boxes "
          "and a wooden chair in the background.")]),
    ("motorcycle_conversation", "motorcycle", "conversation", [
        H("What vehicle is in the picture?"),
        G("A motorcycle."),
        H("What color is its fuel tank?"),
        G("Red."),
        H("Is it outdoors?"),
        G("No, it is parked indoors, in what looks like a garage or storage room.")]),
    ("retina_caption", "retina", "caption", [
        H("What kind of image is this?"),
        G("A color fundus photograph of a human retina: an orange-red circular field with "
          "blood vessels branching out from the bright optic disc near the left edge.")]),
    ("retina_mc", "retina", "multiple_choice", [
        H("Which part of the body does this image show?\nA. the skin\nB. the inside of the "
          "eye\nC. a lung\nD. a leaf\nAnswer with the letter."),
        G("B")]),
    ("ihc_caption", "immunohistochemistry", "caption", [
        H("Describe this microscope image."),
        G("A stained tissue section under a microscope: gland-like structures colored brown "
          "stand out against tissue with small blue-stained nuclei.")]),
    ("page_ocr", "page", "short_vqa", [
        H("What is the heading of the text on this page?"),
        G("Region-based segmentation")]),
    ("page_yesno", "page", "yes_no", [
        H("Does this image contain printed text?"),
        G("Yes, it is a scanned page of printed text.")]),
    ("china_caption", "china", "caption", [
        H("Write a caption for this photo."),
        G("A tall multi-storey Chinese pagoda with red pillars and dark tiled roofs rises above "
          "green trees, with a lake and hazy sky behind it.")]),
    ("china_mc", "china", "multiple_choice", [
        H("What kind of building is in the photo?\nA. a skyscraper\nB. a pagoda\n"
          "C. a lighthouse\nD. a barn\nAnswer with the letter."),
        G("B")]),
    ("flower_caption", "flower", "caption", [
        H("Describe the image briefly."),
        G("A close-up of an orange dahlia in full bloom against a blurred dark green "
          "background.")]),
    ("flower_conversation", "flower", "conversation", [
        H("What is the main subject of this photo?"),
        G("A single orange flower, a dahlia."),
        H("Is the background in focus?"),
        G("No, it is blurred, which makes the flower stand out.")]),
    ("text_only_reasoning", None, "reasoning", [
        H("A photo shows a shadow that is much longer than the object that casts it. What can "
          "you say about the time of day?"),
        G("The sun is low in the sky, so it was taken early in the morning or late in the "
          "afternoon.")]),
]

# Deliberately bad samples: what each should trigger is listed in examples/data/README.md.
BAD = [
    ("bad_wrong_caption", "coffee", "caption", [  # the caption of the horse, on the coffee
        H("Describe this image in one sentence."),
        G("A black silhouette of a horse standing on a white background.")]),
    ("bad_empty_response", "chelsea", "short_vqa", [
        H("What color are the cat's eyes?"),
        G("")]),
    ("bad_missing_image", "zebra", "caption", [  # images/zebra.jpg does not exist
        H("Describe the animal in this photo."),
        G("A zebra grazing on dry grass.")]),
    ("bad_corrupt_image", "broken", "short_vqa", [  # images/broken.jpg is a truncated JPEG
        H("What is in this picture?"),
        G("A cup of coffee.")]),
    ("bad_duplicate", "chelsea", "short_vqa", [  # same text as chelsea_vqa
        H("What animal is this?"),
        G("A cat.")]),
]


def _record(sid, image, task, conv):
    conv = [dict(m) for m in conv]
    rec = {"id": sid}
    if image is not None:
        rec["image"] = f"images/{image}.jpg"
        conv[0]["value"] = "<image>\n" + conv[0]["value"]
    rec["conversations"] = conv
    rec["task"] = task
    return rec


def main() -> None:
    os.makedirs(IMAGES, exist_ok=True)
    os.makedirs(M3IT, exist_ok=True)
    jpegs = {name: _jpeg(arr) for name, arr in _photos().items()}
    for name, data in jpegs.items():
        with open(os.path.join(IMAGES, f"{name}.jpg"), "wb") as fh:
            fh.write(data)
    broken = jpegs["coffee"][:600]  # a JPEG cut short: the header parses, the data does not
    with open(os.path.join(IMAGES, "broken.jpg"), "wb") as fh:
        fh.write(broken)

    records = [_record(*s) for s in SAMPLES + BAD]
    with open(os.path.join(LLAVA, "llava.json"), "w", encoding="utf-8") as fh:
        json.dump(records, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    with open(os.path.join(LLAVA, "llava.jsonl"), "w", encoding="utf-8") as fh:
        for k, r in enumerate(records):
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            if k == 9:  # one malformed line (a truncated record) on line 11
                fh.write('{"id": "bad_malformed_line", "image": "images/coffee.jpg", '
                         '"conversations": [{"from": "human", "value": "What is th\n')

    with open(os.path.join(M3IT, "examples.jsonl"), "w", encoding="utf-8") as fh:
        for sid, image, task, conv in SAMPLES + BAD:
            if image is None:
                images = []
            elif image == "zebra":  # M3IT holds images inline: "missing" = not base64 at all
                images = ["images/zebra.jpg"]
            elif image == "broken":
                images = [base64.b64encode(broken).decode("ascii")]
            else:
                images = [base64.b64encode(jpegs[image]).decode("ascii")]
            rec = {"instruction": conv[0]["value"], "inputs": "", "outputs": conv[1]["value"],
                   "image_base64_str": images, "meta": {"id": sid, "task": task}}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{len(records)} samples, {len(jpegs)} photos written under {HERE}")


if __name__ == "__main__":
    main()
