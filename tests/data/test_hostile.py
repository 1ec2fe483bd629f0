"""Every reader over the hostile corpus of ``tests/data/hostile.py``: no crash, no hang, bounded
memory, every record accounted for; every image reader refuses hostile references before
reading them."""
import importlib.util
import os
import resource

import pytest

import vlitq
from vlitq.data.formats import FormatError, formats, read
from vlitq.data.images import ImageError, read_image_bytes

_spec = importlib.util.spec_from_file_location(
    "vlitq_test_hostile", os.path.join(os.path.dirname(__file__), "hostile.py"))
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("hostile"))
    files, images = hostile.generate(root)
    return root, files, images


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _on_disk_kib(root) -> float:
    total = 0
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                total += os.stat(p).st_blocks * 512
    return total / 1024


def test_corpus_is_small_on_disk(corpus):
    root, files, images = corpus
    assert len(files) >= 35 and len(images) >= 20
    assert _on_disk_kib(root) < 8 * 1024  # the 1 GiB .jpg is sparse


@pytest.mark.timeout(300)
def test_intended_reader_accounts_for_every_record(corpus):
    root, files, _ = corpus
    for case in files:
        opts = dict(case["options"])
        if case["records"] is None:  # not a dataset: detection refuses it; a forced reader
            with pytest.raises(FormatError):  # refuses it too, or finds no record at all
                read(case["path"], **opts)
            try:
                assert len(read(case["path"], format=case["format"], **opts)) == 0, case["name"]
            except FormatError:
                pass
            continue
        ds = read(case["path"], format=case["format"], image_root=root, **opts)
        assert len(ds) == case["records"], case["name"]
        assert ds["sample_id"].n_unique() == len(ds), case["name"]
        errs, warns = ds["read_error"].to_list(), ds["read_warning"].to_list()
        for pos, what in case["expect"].items():
            if what == "ok":
                assert errs[pos] is None and warns[pos] is None, (case["name"], pos, errs[pos],
                                                                  warns[pos])
            elif what.startswith("warn:"):
                assert errs[pos] is None and warns[pos] and what[5:] in warns[pos], \
                    (case["name"], pos, warns[pos])
            else:
                assert errs[pos] and what in errs[pos], (case["name"], pos, errs[pos])
        # a row that was read never has empty turns: not understood means read_error
        for e, turns in zip(errs, ds["turns"].to_list()):
            assert e is not None or turns, case["name"]


@pytest.mark.timeout(300)
def test_every_reader_over_every_file_never_crashes(corpus):
    """Each registered format forced on each file: a dataset or one FormatError, nothing else."""
    root, files, _ = corpus
    before = _rss_mib()
    outcomes = {}
    for case in files:
        for fmt in formats():
            try:
                ds = read(case["path"], format=fmt, image_root=root)
            except FormatError:
                outcomes[fmt, case["name"]] = "FormatError"
                continue
            # every row is a record or an error row; nothing is read as empty turns
            for e, turns in zip(ds["read_error"].to_list(), ds["turns"].to_list()):
                assert e is not None or turns is not None, (fmt, case["name"])
            outcomes[fmt, case["name"]] = len(ds)
    assert len(outcomes) == len(files) * len(formats())
    assert _rss_mib() - before < 600  # no reader loads a 1 GiB image or balloons on a file


@pytest.mark.timeout(120)
def test_hostile_image_references_are_refused_without_reading(corpus):
    root, _, images = corpus
    before = _rss_mib()
    for case in images:
        kw = {"max_bytes": case["max_bytes"]} if "max_bytes" in case else {}
        if case["expect"] is None:
            assert read_image_bytes(case["ref"], case["root"], case["allow_outside_root"], **kw)
            continue
        from vlitq.data.images import open_image

        with pytest.raises(ImageError, match=None) as exc:
            open_image(case["ref"], case["root"], case["allow_outside_root"]) if not kw else \
                read_image_bytes(case["ref"], case["root"], case["allow_outside_root"], **kw)
        assert case["expect"] in str(exc.value), (case["name"], str(exc.value))
    assert _rss_mib() - before < 200  # the 1 GiB file was refused, not read


@pytest.mark.timeout(120)
def test_hostile_images_through_a_scoring_run(corpus):
    """The scorer path: each hostile reference is an image_check error row, the run finishes."""
    root, _, images = corpus
    from vlitq.data import Dataset, make_sample

    cases = [c for c in images if "max_bytes" not in c and c["expect"]]
    recs = [make_sample(c["name"], [("What is it?", "A thing.")], [c["ref"]]) for c in cases
            if "\udcff" not in c["ref"]]
    ds = Dataset.from_records(recs, image_root=root)
    rep = vlitq.score(ds, ["image_check"], cache=False, progress=False)
    assert rep.samples["image_check"].to_list() == [False] * len(recs)
    assert rep.errors.filter(rep.errors["scorer"] == "image_check").height == len(recs)


def test_a_line_over_the_cap_is_skipped_not_held(corpus, monkeypatch):
    root, files, _ = corpus
    import vlitq.data.formats._common as common

    monkeypatch.setattr(common, "MAX_LINE_BYTES", 64 * 1024)
    case = next(c for c in files if c["name"] == "big_response.jsonl")  # a 2 MB line
    ds = read(case["path"], image_root=root)
    assert ds["read_error"].to_list()[0] is None and ds["read_error"].to_list()[2] is None
    assert "exceeds the 65536-byte limit" in ds["read_error"][1]


def test_script_writes_the_corpus(tmp_path, capsys):
    hostile.main([str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert "1GiB_sparse_jpg" in out and "deep_value.jsonl" in out
    table = hostile.outcome_table(str(tmp_path / "t"))
    assert "| `deep_value.jsonl` | llava | 3 rows: 2 read (0 flagged), 1 error rows" in table
    assert "FIFO" in table and "Traceback" not in table


# ----------------------------------------------------------------------------- fuzzing
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_KEYS = ["id", "image", "images", "video", "conversations", "messages", "from", "role", "value",
         "content", "type", "text", "image_url", "url", "instruction", "input", "output",
         "history", "chosen", "rejected", "task", "question_id", "question", "answer"]
_TEXT = st.one_of(st.sampled_from(["human", "gpt", "user", "assistant", "bot", "system", "text",
                                   "image_url", "<image>", "<ImageHere>", "<img>a.jpg</img>",
                                   "img/ok.png", "\ud800", ""]),
                  st.text(max_size=12))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | _TEXT,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), kids,
                                                              max_size=5),
    max_leaves=25)


@pytest.mark.timeout(300)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(records=st.lists(_JSON, min_size=1, max_size=6))
def test_fuzzed_records_never_crash_a_reader(records, tmp_path_factory):
    """Random JSON values shaped like records: every JSON reader gives one row per line (a
    sample or an error row) or one FormatError — never another exception."""
    import json

    d = tmp_path_factory.mktemp("fuzz")
    path = d / "questions.jsonl"
    lines = [json.dumps(r, ensure_ascii=True) for r in records]
    path.write_text("\n".join(lines) + "\n")
    for fmt in ("llava", "llamafactory", "internvl", "qwenvl", "m3it", "multiinstruct", "flat",
                "qa"):
        try:
            ds = read(str(path), format=fmt, image_root=str(d))
        except FormatError:
            continue
        # one line holding an array is a JSON array file: one row per element
        expected = len(records[0]) if len(lines) == 1 and isinstance(records[0], list) \
            else len(lines)
        if fmt != "qa":  # qa rows are (question, answer file) pairs, checked in the corpus
            assert len(ds) == expected, fmt
        assert ds["sample_id"].n_unique() == len(ds), fmt
        for e, turns in zip(ds["read_error"].to_list(), ds["turns"].to_list()):
            assert e is not None or turns, fmt
