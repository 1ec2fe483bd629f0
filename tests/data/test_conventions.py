"""Today's conversation conventions: detection, reading and read → write → read round trips.

Every record here is written by the test in the shape of the convention's own documentation
(LLaMA-Factory ``data/README.md`` and its v1 demo, InternVL / InternLM-XComposer fine-tuning
docs, Qwen-VL's fine-tuning README, LLaVA-OneVision / ShareGPT4V releases, LLaVA-Bench's
question and answer files).
"""
import json
import os

import polars as pl
import pytest
from PIL import Image

import vlitq
from vlitq.data import Dataset, make_sample
from vlitq.data.dataset import UniqueIds
from vlitq.data.formats import FormatError, detect, read, write


def _img(root, name):
    os.makedirs(os.path.dirname(os.path.join(root, name)) or root, exist_ok=True)
    Image.new("RGB", (32, 24), (200, 20, 20)).save(os.path.join(root, name))
    return name


def _dump(path, recs, jsonl):
    with open(path, "w", encoding="utf-8") as fh:
        if jsonl:
            for r in recs:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        else:
            json.dump(recs, fh, ensure_ascii=False, indent=2)
    return str(path)


def _content(ds):
    return ds.frame.select("sample_id", "images", "turns", "task", "read_error",
                           "read_warning").to_dicts()


def round_trip(ds, out):
    write(ds, out)
    back = read(out, format=ds.format, image_root=ds.image_root)
    assert _content(back) == _content(ds)
    return back


# ----------------------------------------------------------------------------- LLaMA-Factory
LF_SHAREGPT = [
    {"messages": [{"content": "<image>Who are they?", "role": "user"},
                  {"content": "Two footballers.", "role": "assistant"},
                  {"content": "What are they doing?<image>", "role": "user"},
                  {"content": "Celebrating on the pitch.", "role": "assistant"}],
     "images": ["demo/1.jpg", "demo/1.jpg"]},
    {"messages": [{"role": "system", "content": "Answer briefly."},
                  {"role": "user", "content": "<image>他是谁？"},
                  {"role": "assistant", "content": "一名足球运动员。"}],
     "images": ["demo/2.jpg"]},
]
LF_PARTS = [  # v1 demo: parts carry 'value'; OpenAI style: image_url.url and 'text'
    {"messages": [{"role": "user", "content": [
        {"type": "image_url", "value": "demo/1.jpg"}, {"type": "text", "value": "Who are they?"}]},
        {"role": "assistant", "content": [{"type": "text", "value": "Two footballers."}]}]},
    {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "demo/2.jpg"}},
        {"type": "text", "text": "Describe the image."}]},
        {"role": "assistant", "content": "A man on grass."}]},
]
LF_ALPACA = [{"instruction": "Describe the picture.", "input": "Be brief.", "output": "A dog.",
              "images": ["demo/1.jpg"], "history": [["Hi", "Hello!"]]},
             {"instruction": "Name three colours.", "input": "", "output": "Red, green, blue."}]


@pytest.mark.parametrize("jsonl", [False, True])
def test_llamafactory_sharegpt(tmp_path, jsonl):
    _img(tmp_path, "demo/1.jpg"), _img(tmp_path, "demo/2.jpg")
    p = _dump(tmp_path / ("d.jsonl" if jsonl else "d.json"), LF_SHAREGPT, jsonl)
    assert detect(p) == "llamafactory"
    ds = read(p)
    assert ds.frame["turns"].to_list() == [
        [{"instruction": "Who are they?", "response": "Two footballers."},
         {"instruction": "What are they doing?", "response": "Celebrating on the pitch."}],
        [{"instruction": "他是谁？", "response": "一名足球运动员。"}]]
    assert ds.frame["images"].to_list() == [["demo/1.jpg", "demo/1.jpg"], ["demo/2.jpg"]]
    assert ds.frame["read_error"].null_count() == 2 and ds.frame["read_warning"].null_count() == 2
    round_trip(ds, str(tmp_path / ("o.jsonl" if jsonl else "o.json")))
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [True, True]


def test_llamafactory_content_parts_are_read_not_emptied(tmp_path):
    _img(tmp_path, "demo/1.jpg"), _img(tmp_path, "demo/2.jpg")
    p = _dump(tmp_path / "v1.jsonl", LF_PARTS, True)
    assert detect(p) == "llamafactory"
    ds = read(p)
    assert ds.frame["turns"].to_list() == [
        [{"instruction": "Who are they?", "response": "Two footballers."}],
        [{"instruction": "Describe the image.", "response": "A man on grass."}]]
    assert ds.frame["images"].to_list() == [["demo/1.jpg"], ["demo/2.jpg"]]
    round_trip(ds, str(tmp_path / "o.jsonl"))
    rep = vlitq.score(ds, ["image_check", "text_stats"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [True, True]
    assert rep.errors.height == 0


def test_llamafactory_alpaca(tmp_path):
    p = _dump(tmp_path / "alpaca.json", LF_ALPACA, False)
    assert detect(p) == "llamafactory"
    ds = read(p)
    assert ds.frame["turns"].to_list()[0] == [
        {"instruction": "Hi", "response": "Hello!"},
        {"instruction": "Describe the picture.\nBe brief.", "response": "A dog."}]
    assert ds.frame["turns"].to_list()[1] == [{"instruction": "Name three colours.",
                                               "response": "Red, green, blue."}]
    round_trip(ds, str(tmp_path / "o.json"))


def test_llamafactory_dataset_info_columns_and_tags(tmp_path):
    """Custom column and role names, declared in dataset_info.json beside the file."""
    recs = [{"dialog": [{"speaker": "customer", "text": "<image>What is it?"},
                        {"speaker": "agent", "text": "A square."}], "pics": ["a.jpg"]}]
    p = _dump(tmp_path / "custom.json", recs, False)
    alp = _dump(tmp_path / "alp.json", [{"q": "Say hi.", "ctx": "", "a": "Hi."}], False)
    _dump(tmp_path / "dataset_info.json", {
        "custom": {"file_name": "custom.json", "formatting": "sharegpt",
                   "columns": {"messages": "dialog", "images": "pics"},
                   "tags": {"role_tag": "speaker", "content_tag": "text",
                            "user_tag": "customer", "assistant_tag": "agent"}},
        "alp": {"file_name": "alp.json", "columns": {"prompt": "q", "query": "ctx",
                                                     "response": "a"}}}, False)
    assert detect(p) == "llamafactory"
    ds = read(p)
    assert ds["turns"][0].to_list() == [{"instruction": "What is it?", "response": "A square."}]
    assert ds["images"][0].to_list() == ["a.jpg"] and ds["read_warning"][0] is None
    out = str(tmp_path / "o.json")  # a file the dataset_info does not name: name the entry
    write(ds, out)
    back = read(out, format="llamafactory", dataset_info=str(tmp_path / "dataset_info.json"),
                dataset="custom")
    assert _content(back) == _content(ds)
    ds2 = read(alp, format="llamafactory", dataset="alp")
    assert ds2["turns"][0].to_list() == [{"instruction": "Say hi.", "response": "Hi."}]
    with pytest.raises(FormatError, match="dataset='nope' is not in"):
        read(p, format="llamafactory", dataset="nope")


def test_unknown_content_part_is_an_error_row_naming_it(tmp_path):
    recs = LF_PARTS + [{"messages": [{"role": "user", "content": [
        {"type": "hologram", "value": "x"}]}, {"role": "assistant", "content": "?"}]}]
    ds = read(_dump(tmp_path / "v1.jsonl", recs, True))
    errs = ds.frame["read_error"].to_list()
    assert errs[:2] == [None, None]
    assert "content part 0 has an unknown type 'hologram'" in errs[2]


@pytest.mark.parametrize("rec, what", [
    ({"conversations": []}, "empty list"),
    ({"conversations": [{"from": "human"}]}, "has no 'value' or 'content'"),
    ({"conversations": [{"value": "hi"}]}, "has no 'from' or 'role'"),
    ({"conversations": [{"from": "narrator", "value": "hi"}]}, "unknown role 'narrator'"),
    ({"conversations": "What?"}, "not a list"),
    ({"image": 5, "conversations": [{"from": "human", "value": "hi"}]}, "'image' is a int"),
    ({"text": "no conversation at all"}, "no 'conversations'/'messages'"),
])
def test_shapes_not_understood_are_error_rows(tmp_path, rec, what):
    good = {"id": "g", "conversations": [{"from": "human", "value": "Q?"},
                                         {"from": "gpt", "value": "A."}]}
    ds = read(_dump(tmp_path / "d.jsonl", [good, rec], True), format="llava")
    assert len(ds) == 2 and ds.frame["read_error"][0] is None
    assert what in ds.frame["read_error"][1]
    assert ds.frame["turns"][1].to_list() == []


def test_non_string_values_are_coerced_and_flagged(tmp_path):
    rec = {"id": "c", "conversations": [{"from": "human", "value": {"q": "What?"}},
                                        {"from": "gpt", "value": 42}]}
    ds = read(_dump(tmp_path / "d.jsonl", [rec], True))
    assert ds.frame["turns"][0].to_list() == [{"instruction": '{"q": "What?"}',
                                               "response": "42"}]
    warn = ds.frame["read_warning"][0]
    assert "message 0 'value' is a dict: coerced to JSON text" in warn
    assert "message 1 'value' is a int: coerced to text" in warn


def test_read_warnings_reach_the_report(tmp_path):
    rec = {"id": "c", "conversations": [{"from": "human", "value": {"q": "What?"}},
                                        {"from": "gpt", "value": "A."}]}
    rep = vlitq.score(_dump(tmp_path / "d.jsonl", [rec], True), ["text_stats"], cache=False,
                      progress=False)
    assert "coerced to JSON text" in rep.samples["read_warning"][0]
    assert any("1 samples were read with a read_warning" in w for w in rep.info["warnings"])


def test_image_tokens_and_images_that_do_not_match_are_flagged(tmp_path):
    rec = {"messages": [{"role": "user", "content": "<image><image>Compare."},
                        {"role": "assistant", "content": "Same."}], "images": ["a.jpg"]}
    ds = read(_dump(tmp_path / "d.json", [rec], False))
    assert ds.frame["read_warning"][0] == "2 image token(s) in the text but 1 image(s) in 'images'"
    assert ds.frame["turns"][0][0]["instruction"] == "Compare."


def test_alpaca_preference_record_scores_chosen(tmp_path):
    rec = {"instruction": "Describe it.", "input": "", "chosen": "A red square.",
           "rejected": "A dog.", "images": ["a.jpg"]}
    p = _dump(tmp_path / "dpo.json", [rec], False)
    assert detect(p) == "llamafactory"
    ds = read(p)
    assert ds.frame["turns"][0].to_list() == [{"instruction": "Describe it.",
                                               "response": "A red square."}]
    assert "'rejected' is not" in ds.frame["read_warning"][0]


def test_ranking_record_scores_chosen(tmp_path):
    rec = {"conversations": [{"from": "human", "value": "<image>Is it red?"}],
           "chosen": {"from": "gpt", "value": "Yes."}, "rejected": {"from": "gpt", "value": "No."},
           "images": ["a.jpg"]}
    ds = read(_dump(tmp_path / "d.json", [rec], False), format="llamafactory")
    assert ds.frame["turns"][0].to_list() == [{"instruction": "Is it red?", "response": "Yes."}]
    assert "'rejected' is not" in ds.frame["read_warning"][0]


# ----------------------------------------------------------------------------- InternVL / XComposer
XCOMPOSER = [
    {"id": "0", "image": ["imgs/a.jpg", "imgs/b.jpg"], "conversations": [
        {"from": "user", "value": "Image1 <ImageHere>; Image2 <ImageHere>; What differs?"},
        {"from": "bot", "value": "The colour."}]},
    {"id": "1", "image": ["imgs/a.jpg"], "conversations": [
        {"from": "user", "value": "<ImageHere>图中是什么？"},
        {"from": "bot", "value": "一个红色方块。"},
        {"from": "user", "value": "多大？"}, {"from": "bot", "value": "很小。"}]},
]
INTERNVL = [{"id": 0, "image": ["imgs/a.jpg", "imgs/b.jpg"], "width": [8, 8], "height": [6, 6],
             "conversations": [{"from": "human", "value": "Image-1: <image>\nImage-2: <image>\n"
                                "Are they the same?"}, {"from": "gpt", "value": "Yes."}]}]


def test_xcomposer(tmp_path):
    _img(tmp_path, "imgs/a.jpg"), _img(tmp_path, "imgs/b.jpg")
    p = _dump(tmp_path / "x.json", XCOMPOSER, False)
    assert detect(p) == "internvl"
    ds = read(p)
    t = ds.frame["turns"].to_list()
    assert t[0] == [{"instruction": "Image1 ; Image2 ; What differs?", "response": "The colour."}]
    assert t[1][1] == {"instruction": "多大？", "response": "很小。"}
    assert ds.frame["images"].to_list() == [["imgs/a.jpg", "imgs/b.jpg"], ["imgs/a.jpg"]]
    assert ds.frame["read_warning"].null_count() == 2
    round_trip(ds, str(tmp_path / "o.jsonl"))
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [True, True]


def test_internvl_multi_image(tmp_path):
    p = _dump(tmp_path / "i.jsonl", INTERNVL, True)
    assert detect(p) == "internvl"
    ds = read(p)
    assert ds.frame["sample_id"].to_list() == ["0"]
    assert ds.frame["turns"][0][0]["instruction"] == "Image-1:\nImage-2:\nAre they the same?"
    assert ds.frame["read_warning"][0] is None  # two tokens, two images
    round_trip(ds, str(tmp_path / "o.jsonl"))


# ----------------------------------------------------------------------------- Qwen-VL
QWEN = [
    {"id": "identity_0", "conversations": [
        {"from": "user", "value": "Picture 1: <img>imgs/a.jpg</img>\nWhat is in the picture?"},
        {"from": "assistant", "value": "A red square."}]},
    {"id": "identity_1", "conversations": [
        {"from": "user", "value": "Picture 1: <img>imgs/a.jpg</img>\nPicture 2: <img>imgs/b.jpg"
                                  "</img>\nCompare them."},
        {"from": "assistant", "value": "They are alike."},
        {"from": "user", "value": "Thanks."}, {"from": "assistant", "value": "You're welcome."}]},
    {"id": "identity_2", "conversations": [{"from": "user", "value": "你好"},
                                           {"from": "assistant", "value": "我是Qwen-VL。"}]},
]


def test_qwenvl_images_from_tags(tmp_path):
    _img(tmp_path, "imgs/a.jpg"), _img(tmp_path, "imgs/b.jpg")
    p = _dump(tmp_path / "q.json", QWEN, False)
    assert detect(p) == "qwenvl"
    ds = read(p)
    assert ds.frame["images"].to_list() == [["imgs/a.jpg"], ["imgs/a.jpg", "imgs/b.jpg"], []]
    t = ds.frame["turns"].to_list()
    assert t[0] == [{"instruction": "What is in the picture?", "response": "A red square."}]
    assert t[1][0]["instruction"] == "Compare them."
    round_trip(ds, str(tmp_path / "o.json"))
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list()[:2] == [True, True]


# ----------------------------------------------------------------------------- LLaVA family
ONEVISION = [
    {"id": "ov-1", "image": "ov/a.jpg", "data_source": "sharegpt4v", "conversations": [
        {"from": "human", "value": "<image>\nDescribe it in detail."},
        {"from": "gpt", "value": "A red square on nothing."}]},
    {"id": "ov-2", "image": ["ov/a.jpg", "ov/b.jpg"], "conversations": [
        {"from": "human", "value": "<image>\n<image>\nWhich is larger?"},
        {"from": "gpt", "value": "Neither."}]},
    {"id": "ov-3", "video": "ov/clip.mp4", "conversations": [
        {"from": "human", "value": "<video>\nWhat happens?"},
        {"from": "gpt", "value": "Nothing."}]},
]
SHAREGPT4V = [{"id": "000000000009", "image": "coco/train2017/000000000009.jpg",
               "conversations": [{"from": "human", "value": "What do you see happening in this "
                                                             "image?\n<image>"},
                                 {"from": "gpt", "value": "A meal laid out in containers."}]}]


def test_llava_onevision_and_sharegpt4v(tmp_path):
    p = _dump(tmp_path / "ov.json", ONEVISION, False)
    assert detect(p) == "llava"
    ds = read(p)
    assert ds.frame["images"].to_list() == [["ov/a.jpg"], ["ov/a.jpg", "ov/b.jpg"], []]
    assert ds.frame["videos"].to_list() == [None, None, ["ov/clip.mp4"]]
    assert ds.frame["turns"][2][0]["instruction"] == "What happens?"
    round_trip(ds, str(tmp_path / "o.json"))
    p2 = _dump(tmp_path / "s4v.jsonl", SHAREGPT4V, True)
    ds2 = read(p2)
    assert ds2.format == "llava"
    assert ds2.frame["turns"][0][0]["instruction"] == "What do you see happening in this image?"
    round_trip(ds2, str(tmp_path / "o.jsonl"))


# ----------------------------------------------------------------------------- question + answers
QUESTIONS = [{"question_id": 0, "image": "q/a.jpg", "text": "What colour is it?",
              "category": "conv"},
             {"question_id": 1, "image": "q/a.jpg", "text": "Describe it.", "category": "detail"}]
ANSWERS = {"answers_gpt4.jsonl": [{"question_id": 0, "text": "Red."},
                                  {"question_id": 1, "text": "A small red square."}],
           "answers/model-a.jsonl": [{"question_id": 1, "text": "A square.", "model_id": "m-a",
                                      "answer_id": "x1"},
                                     {"question_id": 7, "text": "Stray.", "model_id": "m-a"}]}


def _qa(tmp_path):
    os.makedirs(tmp_path / "answers", exist_ok=True)
    q = _dump(tmp_path / "questions.jsonl", QUESTIONS, True)
    for name, recs in ANSWERS.items():
        _dump(tmp_path / name, recs, True)
    return q


def test_question_and_answer_files(tmp_path):
    q = _qa(tmp_path)
    assert detect(q) == "qa" and detect(str(tmp_path)) == "qa"
    ds = read(q)
    rows = ds.frame.select("sample_id", "model", "turns", "task", "read_error",
                           "read_warning").to_dicts()
    ids = [r["sample_id"] for r in rows]
    assert ids == ["0@m-a", "0@answers_gpt4", "1@m-a", "1@answers_gpt4", "7@m-a"]
    by = {r["sample_id"]: r for r in rows}
    assert by["0@answers_gpt4"]["turns"] == [{"instruction": "What colour is it?",
                                              "response": "Red."}]
    assert by["0@m-a"]["turns"][0]["response"] is None
    assert by["0@m-a"]["read_warning"] == "no answer in model-a.jsonl"
    assert by["1@m-a"]["model"] == "m-a" and by["1@m-a"]["task"] == "detail"
    assert "unknown question_id '7'" in by["7@m-a"]["read_error"]
    # every record accounted for: 2 questions x 2 answer files + 1 stray answer
    out = tmp_path / "out" / "questions.jsonl"
    back = round_trip(ds.subset([i for i in ids if i != "7@m-a"]), str(out))
    assert sorted(os.listdir(tmp_path / "out")) == ["answers", "answers_gpt4.jsonl",
                                                    "questions.jsonl"]
    assert len(back) == 4


def test_question_file_with_explicit_answers_and_no_answers(tmp_path):
    q = _qa(tmp_path)
    ds = read(q, answers=[str(tmp_path / "answers_gpt4.jsonl")])
    assert ds.frame["sample_id"].to_list() == ["0@answers_gpt4", "1@answers_gpt4"]
    alone = tmp_path / "alone"
    alone.mkdir()
    q2 = _dump(alone / "questions.jsonl", QUESTIONS, True)
    ds2 = read(q2)
    assert ds2.frame["sample_id"].to_list() == ["0", "1"]
    assert ds2.frame["turns"][0].to_list() == [{"instruction": "What colour is it?",
                                                "response": None}]
    with pytest.raises(FormatError, match="no such file"):
        read(q, answers=str(tmp_path / "nope.jsonl"))


# ----------------------------------------------------------------------------- flat with a mapping
def test_flat_jsonl_json_csv_read_when_a_mapping_is_passed(tmp_path):
    recs = [{"q": "What is it?", "a": "A cat.", "pic": "c.jpg"}, {"q": "Colour?", "a": "Red."}]
    for name in ("t.jsonl", "t.json"):
        p = _dump(tmp_path / name, recs, name.endswith("l"))
        with pytest.raises(FormatError, match="--format NAME.*--read-option instruction=COL"):
            read(p)
        ds = read(p, instruction="q", response="a", image="pic")
        assert ds.format == "flat"
        assert ds.frame["turns"].to_list() == [[{"instruction": "What is it?",
                                                 "response": "A cat."}],
                                               [{"instruction": "Colour?", "response": "Red."}]]
        assert ds.frame["images"].to_list() == [["c.jpg"], []]
        out = str(tmp_path / ("o_" + name))
        write(ds, out)
        assert read(out, instruction="q", response="a", image="pic")["sample_id"].to_list() == \
            ds["sample_id"].to_list()
    (tmp_path / "t.csv").write_text("q,a\nWhat?,That.\n")
    ds = read(str(tmp_path / "t.csv"), instruction="q", response="a")
    assert ds.frame["turns"][0].to_list() == [{"instruction": "What?", "response": "That."}]


def test_flat_mapping_streams_too(tmp_path):
    p = _dump(tmp_path / "t.jsonl", [{"q": f"Q{i}?", "a": "A."} for i in range(5)], True)
    rep = vlitq.score(p, ["text_stats"], stream=True, read_options={"instruction": "q",
                                                                    "response": "a"},
                      cache=False, progress=False)
    assert rep.samples.height == 5 and rep.errors.height == 0


def test_flat_record_without_the_mapped_fields_is_an_error_row(tmp_path):
    p = _dump(tmp_path / "t.jsonl", [{"q": "Q?", "a": "A."}, {"other": 1}, {"q": "Only q"}], True)
    ds = read(p, instruction="q", response="a")
    assert ds.frame["read_error"][0] is None
    assert "neither the instruction field 'q' nor the response field 'a'" in \
        ds.frame["read_error"][1]
    assert ds.frame["read_warning"][2] == "record has no 'a' field"


def test_cli_error_names_format_and_read_option(tmp_path):
    from click.testing import CliRunner

    from vlitq.cli import main

    p = _dump(tmp_path / "t.jsonl", [{"q": "Q?", "a": "A."}], True)
    res = CliRunner().invoke(main, ["score", p, "--scorers", "text_stats"])
    assert res.exit_code != 0
    assert "--format" in res.output and "--read-option" in res.output
    out = str(tmp_path / "report")
    res = CliRunner().invoke(main, ["score", p, "--scorers", "text_stats", "--read-option",
                                    "instruction=q", "--read-option", "response=a", "--out", out,
                                    "--no-cache"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["formats"])
    assert all(f in res.output for f in ("llamafactory", "internvl", "qwenvl", "qa"))


# ----------------------------------------------------------------------------- ids
def test_unique_ids_never_collide():
    u = UniqueIds()
    assert [u(i) for i in ["x", "x", "x#1"]] == ["x", "x#1", "x#1#1"]
    ds = Dataset.from_records([make_sample(i) for i in ["x", "x", "x#1", "x#1", "x"]])
    assert ds["sample_id"].n_unique() == 5
    # the same ids whole or chunk by chunk (streaming)
    chunked = Dataset.from_iter([make_sample(i) for i in ["x", "x", "x#1", "x#1", "x"]],
                                chunk_size=2)
    assert chunked["sample_id"].to_list() == ds["sample_id"].to_list()


def test_ids_without_an_id_survive_write_and_subset(tmp_path):
    recs = [{"conversations": [{"from": "human", "value": f"Q{i}?"},
                               {"from": "gpt", "value": f"A{i}."}]} for i in range(4)]
    p = _dump(tmp_path / "data.json", recs, False)
    ds = read(p)
    ids = ds["sample_id"].to_list()
    assert len(set(ids)) == 4 and all(i.startswith("rec:") for i in ids)
    keep = ids[1:3]
    out = str(tmp_path / "written.jsonl")  # another name, another layout
    ds.subset(keep).write(out)
    assert read(out)["sample_id"].to_list() == keep
    ds.write(str(tmp_path / "all.json"))
    assert read(str(tmp_path / "all.json"))["sample_id"].to_list() == ids


def test_duplicate_ids_in_a_file_become_unique_and_stay_so_after_write(tmp_path):
    recs = [{"id": i, "conversations": [{"from": "human", "value": "Q?"},
                                        {"from": "gpt", "value": "A."}]}
            for i in ["x", "x", "x#1"]]
    ds = read(_dump(tmp_path / "d.jsonl", recs, True))
    assert ds["sample_id"].to_list() == ["x", "x#1", "x#1#1"]
    ds.write(str(tmp_path / "o.jsonl"))
    assert read(str(tmp_path / "o.jsonl"))["sample_id"].to_list() == ["x", "x#1", "x#1#1"]


# ----------------------------------------------------------------------------- the Dataset object
def test_dataset_answers_like_a_frame():
    ds = Dataset.from_records([make_sample("a", [("Q?", "A.")], task="t"),
                               make_sample("b", [("Q2?", "A2.")])])
    assert "task" in ds.columns and "task" in ds and ds.shape == (2, len(ds.columns))
    assert ds["task"].to_list() == ["t", None]
    assert isinstance(ds[["sample_id", "task"]], pl.DataFrame)
    assert ds[0:1]["sample_id"].to_list() == ["a"]
    assert len(ds) == 2 and [r["sample_id"] for r in ds.iter_rows()] == ["a", "b"]
    pytest.importorskip("pandas")
    assert list(ds.to_pandas()["sample_id"]) == ["a", "b"]


def test_hf_dataset_with_content_parts(tmp_path):
    datasets = pytest.importorskip("datasets")
    _img(tmp_path, "imgs/a.jpg")
    rows = [{"messages": [
        {"role": "user", "content": [{"type": "image_url", "text": None,
                                      "image_url": {"url": "imgs/a.jpg"}},
                                     {"type": "text", "text": "What is it?", "image_url": None}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A red square.",
                                           "image_url": None}]}]}]
    ds = read(datasets.Dataset.from_list(rows), image_root=str(tmp_path))
    assert ds["turns"][0].to_list() == [{"instruction": "What is it?",
                                         "response": "A red square."}]
    assert ds["images"][0].to_list() == ["imgs/a.jpg"]


def test_hf_dataset_object_takes_image_root(tmp_path):
    datasets = pytest.importorskip("datasets")
    _img(tmp_path, "imgs/a.jpg")
    hfds = datasets.Dataset.from_dict({"question": ["Q?"], "answer": ["A."],
                                       "image": ["imgs/a.jpg"]})
    ds = read(hfds, image_root=str(tmp_path))
    assert ds.image_root == str(tmp_path)
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [True]
    rep = vlitq.score(hfds, ["image_check"], image_root=str(tmp_path), cache=False,
                      progress=False)
    assert rep.samples["image_check"].to_list() == [True]
    bare = vlitq.score(read(hfds), ["image_check"], cache=False, progress=False)
    assert "pass image_root=" in bare.errors["reason"][0]
