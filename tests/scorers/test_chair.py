"""CHAIR: mention finding, annotation sources, per-sample and pooled figures."""
import json

import pytest

import vlitq
from vlitq.data.dataset import Dataset, make_sample
from vlitq.scorers._coco_objects import COCO_CLASSES, find_mentions, normalise_objects
from vlitq.scorers.chair import Chair, load_annotations


def test_every_coco_class_and_its_plural_is_found():
    assert len(COCO_CLASSES) == 80
    for cls in COCO_CLASSES:
        assert [c for _, c in find_mentions(f"there is a {cls} here")] == [cls], cls
    assert [c for _, c in find_mentions("three giraffes, two knives and many people")] == [
        "giraffe", "knife", "person"]


@pytest.mark.parametrize("text,expected", [
    ("A woman rides a bike.", ["person", "bicycle"]),
    ("The motorbike is parked by the television.", ["motorcycle", "tv"]),
    ("A hot dog and a teddy bear.", ["hot dog", "teddy bear"]),
    ("People wait at the bus stop near the train station.", ["person"]),
    ("Kids play with puppies and kittens on the sofa.", ["person", "dog", "cat", "couch"]),
    ("A cell phone lies beside the laptop and a wine glass.", ["cell phone", "laptop",
                                                               "wine glass"]),
    ("The sky is blue and the grass is green.", []),
])
def test_synonyms(text, expected):
    assert [c for _, c in find_mentions(text)] == expected


def _ds(tmp_path=None):
    turns = lambda r: [("Describe the image.", r)]
    recs = [
        make_sample("ok", turns("A man walks his dog."), ["a/000000000001.jpg"],
                    objects=["person", "dog"]),
        make_sample("halluc", turns("A man with a dog and a frisbee. The dog runs."),
                    ["a/000000000002.jpg"], objects=["person", "dog"]),
        make_sample("nomention", turns("It is sunny."), ["a/000000000003.jpg"],
                    objects=["person"]),
        make_sample("noann", turns("A cat on a couch."), ["a/000000000004.jpg"], objects=None),
    ]
    return Dataset.from_records(recs)


def test_objects_column_and_pooled_indicator():
    rep = vlitq.score(_ds(), ["chair", "chair_i"], cache=False, progress=False)
    rows = {r["sample_id"]: r for r in rep.samples.iter_rows(named=True)}
    assert rows["ok"]["chair"] is False and rows["ok"]["chair_i"] == 0.0
    assert rows["halluc"]["chair"] is True
    assert rows["halluc"]["chair_hallucinated"] == ["frisbee"]
    assert rows["halluc"]["chair_i"] == pytest.approx(100 / 3, abs=1e-3)  # person, dog, frisbee
    assert rows["nomention"]["chair"] is False and rows["nomention"]["chair_i"] is None
    assert rows["noann"]["chair"] is None and rows["noann"]["chair_annotated"] is False
    assert rows["noann"]["chair_error"] is None and rep.errors.height == 0
    ind = {r["indicator"]: r for r in rep.indicators.iter_rows(named=True)}
    assert ind["chair"]["value"] == pytest.approx(100 / 3)  # CHAIR_s over 3 annotated samples
    assert ind["chair_i"]["value"] == pytest.approx(100 * 1 / 5)  # pooled: 1 of 5 objects
    details = json.loads(ind["chair_i"]["details"])
    assert details["n_unannotated"] == 1 and details["top_hallucinated"] == {"frisbee": 1}


def test_count_mentions():
    rep = vlitq.score(_ds(), [Chair(count="mentions")], cache=False, progress=False)
    row = rep.samples.filter(rep.samples["sample_id"] == "halluc").row(0, named=True)
    assert row["chair_n_mentioned"] == 4 and row["chair_n_hallucinated"] == 1


def test_annotation_mapping_and_coco_file(tmp_path):
    ds = _ds()
    ds = ds.with_frame(ds.frame.drop("objects"))
    mapping = {"000000000001.jpg": ["person", "dog"], "2": ["person"]}
    rows = Chair(annotations=mapping)(ds.to_batch())
    assert rows["chair"] == [False, True, None, None]  # id 2 via the digits in the name
    assert rows["chair_hallucinated"][1] == ["dog", "frisbee"]
    coco = {"images": [{"id": 1, "file_name": "COCO_train2014_000000000001.jpg"},
                       {"id": 4, "file_name": "000000000004.jpg"}],
            "categories": [{"id": 17, "name": "cat"}, {"id": 1, "name": "person"}],
            "annotations": [{"image_id": 1, "category_id": 1},
                            {"image_id": 4, "category_id": 17}]}
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    assert sorted(load_annotations(str(path))[4]) == ["cat"]
    rows = Chair(annotations=str(path))(ds.to_batch())
    assert rows["chair"] == [True, None, None, True]  # dog not annotated; couch not annotated
    assert rows["chair_hallucinated"][3] == ["couch"]


def test_objects_as_text_and_synonym_annotations():
    batch = {"sample_id": ["a", "b"], "images": [[], []],
             "objects": ['["people", "Bikes"]', "person, bicycle"],
             "turns": [[{"instruction": "", "response": "A man on a bicycle."}]] * 2}
    assert Chair()(batch)["chair"] == [False, False]
    assert normalise_objects(["Motorbikes"]) == {"motorcycle"}
    bad = Chair(count="all")(batch)
    assert "count must be" in bad["chair_error"][0]
