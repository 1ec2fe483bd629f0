"""The cache module: integrity (checksums, quarantine), keys without execution parameters,
incremental embeddings, concurrency, and warm re-runs that compute nothing."""
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from PIL import Image

import vlitq
from vlitq.cache import Cache, CacheIntegrityWarning, result_params
from vlitq.data.dataset import Dataset, make_sample
from vlitq.registry import register, unregister
from vlitq.scorers.base import Scorer, component_error

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def counting():
    """A cacheable scorer with an execution parameter, counting the samples it scores."""
    calls = {"n": 0, "loads": 0}

    @register
    class _Counted(Scorer):
        name = "_counted"

        def __init__(self, *, factor: float = 1.0, batch_size: int = 2, fail_load: bool = False):
            self.factor = factor
            self.batch_size = batch_size
            self.fail_load = fail_load

        def load(self):
            calls["loads"] += 1
            if self.fail_load:
                raise OSError("no model here")

        def score_batch(self, batch):
            calls["n"] += len(batch["sample_id"])
            vals, errs = [], []
            for turns in batch["turns"]:
                r = turns[0]["response"]
                if not r.strip():
                    vals.append(None)
                    errs.append("empty response")  # a defect of the content: cached
                else:
                    vals.append(len(r) * self.factor)
                    errs.append(None)
            return {"_counted": vals, "_counted_error": errs}

    yield calls
    unregister("_counted")


def _ds(responses):
    return Dataset.from_records(
        [make_sample(f"s{i}", [("Q?", r)]) for i, r in enumerate(responses)])


def _parts(root):
    out = []
    for d, _, files in os.walk(root):
        if "quarantine" in d:
            continue
        out += [os.path.join(d, f) for f in files if f.startswith("part-")]
    return sorted(out)


def _flip_bit(path, offset=None):
    data = bytearray(open(path, "rb").read())
    i = len(data) // 2 if offset is None else offset
    data[i] ^= 0x01
    open(path, "wb").write(bytes(data))


# ----------------------------------------------------------------------------- integrity
def test_store_flipped_bit_is_quarantined(tmp_path):
    c = Cache(str(tmp_path))
    c.store("x", {"p": 1}).put_many_json({"k": {"v": 1.5}})
    (part,) = _parts(tmp_path)
    _flip_bit(part)
    with pytest.warns(CacheIntegrityWarning, match="checksum mismatch"):
        got = Cache(str(tmp_path)).store("x", {"p": 1}).get_many_json(["k"])
    assert got == {}  # never a silently changed value
    assert not os.path.exists(part)
    assert os.listdir(tmp_path / "quarantine" / "x")


def test_store_truncated_part_and_garbage(tmp_path):
    c = Cache(str(tmp_path))
    s = c.store("x")
    s.put_many_json({"a": {"v": 1}})
    s.put_many_json({"b": {"v": 2}})
    p1, p2 = _parts(tmp_path)
    with open(p1, "r+b") as fh:
        fh.truncate(10)
    with pytest.warns(CacheIntegrityWarning):
        got = Cache(str(tmp_path)).store("x").get_many_json(["a", "b"])
    assert len(got) == 1  # the whole part survives, the truncated one is gone


def test_store_bad_json_value_is_recomputed_not_a_crash(tmp_path):
    c = Cache(str(tmp_path))
    c.store("x").put_many_bytes({"k": b"{not json", "ok": b'{"v": 1}'})
    s = Cache(str(tmp_path)).store("x")
    with pytest.warns(CacheIntegrityWarning, match="invalid JSON"):
        got = s.get_many_json(["k", "ok"])
    assert got == {"ok": {"v": 1}}
    assert s.misses == 1 and s.hits == 1


def test_store_wrong_length_vector_dropped(tmp_path):
    s = Cache(str(tmp_path)).store("emb")
    s.put_many_bytes({"a": np.ones(4, np.float32).tobytes(), "b": b"abc"})
    with pytest.warns(CacheIntegrityWarning):
        got = Cache(str(tmp_path)).store("emb").get_many_arrays(["a", "b"])
    assert list(got) == ["a"]


def test_flipped_bit_in_a_run_warns_and_gives_the_cold_results(counting, tmp_path):
    ds = _ds(["a", "bb", "ccc", "dddd", " "])
    cold = vlitq.score(ds, ["_counted", "duplicates"], cache=str(tmp_path), progress=False)
    for part in _parts(tmp_path):
        _flip_bit(part)
    n0 = counting["n"]
    with pytest.warns(CacheIntegrityWarning):
        warm = vlitq.score(ds, ["_counted", "duplicates"], cache=str(tmp_path), progress=False)
    assert counting["n"] == n0 + 5  # every damaged row recomputed
    assert warm.samples.equals(cold.samples)
    assert warm.indicators.equals(cold.indicators)
    assert any("damaged part" in w for w in warm.info["warnings"])
    # and the run after that is clean and warm again
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        again = vlitq.score(ds, ["_counted", "duplicates"], cache=str(tmp_path), progress=False)
    assert counting["n"] == n0 + 5
    assert again.samples.equals(cold.samples)


# ----------------------------------------------------------------------------- keys
def test_execution_params_stay_out_of_the_key():
    from vlitq.scorers.elements import ElementsScorer
    from vlitq.indicators.response_diversity import ResponseDiversity

    assert result_params(ElementsScorer(batch_size=8)) == result_params(ElementsScorer(batch_size=512))
    assert result_params(ResponseDiversity(batch_size=8, device="cpu", max_chunk_mb=16)) == \
        result_params(ResponseDiversity())
    assert result_params(ResponseDiversity(eps=0.2)) != result_params(ResponseDiversity())


def test_changing_batch_size_recomputes_nothing(counting, tmp_path):
    ds = _ds(["a", "bb", "ccc", "dddd", "e"])
    r1 = vlitq.score(ds, ["_counted"], cache=str(tmp_path), progress=False)
    assert counting["n"] == 5
    r2 = vlitq.score(ds, ["_counted"], config={"_counted": {"batch_size": 4}},
                     cache=str(tmp_path), progress=False)
    assert counting["n"] == 5
    assert r2.samples["_counted"].to_list() == r1.samples["_counted"].to_list()
    vlitq.score(ds, ["_counted"], config={"_counted": {"factor": 2.0}}, cache=str(tmp_path),
                progress=False)
    assert counting["n"] == 10  # a parameter that changes results does recompute


def test_content_errors_cached_component_failures_not(counting, tmp_path):
    ds = _ds(["fine", " "])
    r1 = vlitq.score(ds, ["_counted"], cache=str(tmp_path), progress=False)
    assert r1.samples["_counted_error"].to_list() == [None, "empty response"]
    vlitq.score(ds, ["_counted"], cache=str(tmp_path), progress=False)
    assert counting["n"] == 2  # the empty response's error came from the cache
    # a model that cannot load: every sample "not evaluated", and nothing of it cached
    cfg = {"_counted": {"fail_load": True}}
    r3 = vlitq.score(ds, ["_counted"], config=cfg, cache=str(tmp_path), progress=False)
    assert all(e.startswith(component_error("")) for e in r3.samples["_counted_error"])
    loads = counting["loads"]
    vlitq.score(ds, ["_counted"], config=cfg, cache=str(tmp_path), progress=False)
    assert counting["loads"] == loads + 1  # tried again, not served from the cache


# ----------------------------------------------------------------------------- images
def _image_ds(tmp_path, n=4, broken=True):
    d = tmp_path / "imgs"
    d.mkdir(exist_ok=True)
    recs = []
    for i in range(n):
        Image.new("RGB", (32, 24), (i * 40, 10, 10)).save(d / f"{i}.png")
        recs.append(make_sample(f"s{i}", [("What is it?", f"A square number {i}.")],
                                images=[f"{i}.png"]))
    if broken:
        (d / "bad.jpg").write_bytes(b"not an image at all")
        recs.append(make_sample("bad", [("What?", "Nothing.")], images=["bad.jpg"]))
    return Dataset.from_records(recs, image_root=str(d)), d


def test_image_hashes_memoised_across_runs(tmp_path, monkeypatch):
    import vlitq.engine.local as local

    ds, d = _image_ds(tmp_path)
    cache = str(tmp_path / "c")
    calls = []
    real = local.image_content_hash
    monkeypatch.setattr(local, "image_content_hash", lambda *a: calls.append(a) or real(*a))
    r1 = vlitq.score(ds, ["image_check", "duplicates"], cache=cache, progress=False)
    assert calls
    assert r1.samples.filter(r1.samples["sample_id"] == "bad")["image_check_error"][0]
    calls.clear()
    r2 = vlitq.score(ds, ["image_check", "duplicates"], cache=cache, progress=False)
    # good images: hash memoised; the broken one is re-hashed but its error is cached
    assert [c[0] for c in calls] == ["bad.jpg"] * len(calls)
    assert r2.samples.equals(r1.samples)
    # a changed file is hashed again and re-checked
    calls.clear()
    Image.new("RGB", (8, 300), (0, 0, 0)).save(d / "1.png")
    r3 = vlitq.score(ds, ["image_check"], cache=cache, progress=False)
    assert "1.png" in [c[0] for c in calls]
    assert r3.samples["image_check_min_side"].to_list() != r1.samples["image_check_min_side"].to_list()


def test_a_warm_run_reads_the_image_hashes_once_a_batch(tmp_path, monkeypatch):
    """The image-hash memo is asked once a batch (all its images in one lookup), not once an
    image; the hashes it serves are the ones the cold run computed."""
    from vlitq.cache import Store

    ds, d = _image_ds(tmp_path)
    cache = str(tmp_path / "c")
    r1 = vlitq.score(ds, ["image_check"], cache=cache, progress=False)
    asked = []
    real = Store.get_many_bytes

    def counted(self, keys):
        keys = list(keys)
        if self.path and "image_hashes" in self.path:
            asked.append(len(keys))
        return real(self, keys)

    monkeypatch.setattr(Store, "get_many_bytes", counted)
    r2 = vlitq.score(ds, ["image_check"], cache=cache, progress=False)
    assert asked == [len(os.listdir(d))], asked  # one batch: every image in one lookup
    assert r2.samples.equals(r1.samples)


# ----------------------------------------------------------------------------- indicators
def test_indicator_result_cached_by_input_content(tmp_path, monkeypatch):
    from vlitq.indicators.duplicates import Duplicates

    calls = {"n": 0}
    real = Duplicates.compute

    def counted(self, ctx):
        calls["n"] += 1
        return real(self, ctx)

    monkeypatch.setattr(Duplicates, "compute", counted)
    ds = _ds(["a", "a", "b"])
    r1 = vlitq.score(ds, ["duplicates"], cache=str(tmp_path), progress=False)
    r2 = vlitq.score(ds, ["duplicates"], cache=str(tmp_path), progress=False)
    assert calls["n"] == 1
    assert r2.indicators.equals(r1.indicators) and r2.samples.equals(r1.samples)
    vlitq.score(_ds(["a", "c", "b"]), ["duplicates"], cache=str(tmp_path), progress=False)
    assert calls["n"] == 2  # other content, computed again


# ----------------------------------------------------------------------------- resume inside
def test_killed_inside_embedding_resumes_inside(tmp_path, monkeypatch):
    """A run killed while response_diversity encodes keeps the finished pieces: the resumed
    run encodes only the texts that were not encoded."""
    from vlitq.models.text import SentenceEncoder

    encoded: list[str] = []
    state = {"kill_at": 2, "calls": 0}

    def fake_load(self):
        self._backend, self.max_words = "fake", 200

    def fake_raw(self, texts):
        state["calls"] += 1
        if state["calls"] == state["kill_at"]:
            raise KeyboardInterrupt  # like a kill: nothing catches it
        encoded.extend(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(8) for t in texts]
        return np.asarray(rng, np.float32)

    monkeypatch.setattr(SentenceEncoder, "_load", fake_load)
    monkeypatch.setattr(SentenceEncoder, "_encode_raw", fake_raw)
    responses = [f"response number {i} about thing {i % 7}" for i in range(700)]
    ds = _ds(responses)
    cfg = {"response_diversity": {"batch_size": 16}}  # pieces of 256 texts
    with pytest.raises(KeyboardInterrupt):
        vlitq.score(ds, ["response_diversity"], config=cfg, cache=str(tmp_path), progress=False)
    assert len(encoded) == 256
    first = set(encoded)
    encoded.clear()
    state["kill_at"] = -1
    vlitq.score(ds, ["response_diversity"], config=cfg, cache=str(tmp_path), progress=False)
    assert len(encoded) == 700 - 256 and not first & set(encoded)


# ----------------------------------------------------------------------------- concurrency
WRITER = textwrap.dedent("""
    import sys
    from vlitq.cache import Cache
    root, who = sys.argv[1], int(sys.argv[2])
    s = Cache(root).store("shared", {"p": 1})
    for b in range(40):
        # overlapping keys: both writers write rows 0..399, each its own value for who-keys
        s.put_many_json({f"k{(b * 10 + j) % 400}": {"v": (b * 10 + j) % 400} for j in range(10)})
        s.put_many_json({f"w{who}-{b}": {"who": who}})
""")


def test_two_processes_writing_one_store(tmp_path):
    env = {**os.environ, "PYTHONPATH": REPO}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), str(w)], env=env)
             for w in (1, 2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheIntegrityWarning)
        s = Cache(str(tmp_path)).store("shared", {"p": 1})
        got = s.get_many_json([f"k{i}" for i in range(400)])
        who = s.get_many_json([f"w{w}-{b}" for w in (1, 2) for b in range(40)])
    assert got == {f"k{i}": {"v": i} for i in range(400)}
    assert len(who) == 80
    assert not [f for f in os.listdir(tmp_path / "shared" / os.listdir(tmp_path / "shared")[0])
                if f.startswith(".tmp-")]


SCORER_RUN = textwrap.dedent("""
    import json, sys, vlitq
    rep = vlitq.score(sys.argv[1], ["image_check", "language", "duplicates"],
                      cache=sys.argv[2], progress=False, image_root=sys.argv[3])
    print(json.dumps(rep.samples.to_dicts(), default=str))
""")


def test_two_runs_on_one_cache_at_once(tmp_path):
    ds, d = _image_ds(tmp_path, n=30)
    path = str(tmp_path / "data.json")
    ds.write(path, format="llava")
    env = {**os.environ, "PYTHONPATH": REPO}
    cache = str(tmp_path / "c")

    def launch(c):
        return subprocess.Popen([sys.executable, "-c", SCORER_RUN, path, c, str(d)], env=env,
                                stdout=subprocess.PIPE, text=True)

    procs = [launch(cache), launch(cache)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    alone = launch(str(tmp_path / "alone")).communicate(timeout=600)[0]
    a, b, ref = (json.loads(o.strip().splitlines()[-1]) for o in (*outs, alone))
    assert a == ref and b == ref
    warm = launch(cache).communicate(timeout=600)[0]
    assert json.loads(warm.strip().splitlines()[-1]) == ref


# ----------------------------------------------------------------------------- warm = free
WARM_RUN = textwrap.dedent("""
    import json, sys
    import vlitq
    names = ["text_stats", "image_check", "language", "instruction_type", "elements",
             "duplicates", "tasks", "task_diversity", "balance", "instruction_diversity",
             "response_diversity"]
    rep = vlitq.score(sys.argv[1], names, cache=sys.argv[2], progress=False,
                      image_root=sys.argv[3], stream=True)
    heavy = sorted(m for m in ("torch", "transformers", "spacy", "sentence_transformers",
                               "open_clip", "sklearn", "py3langid", "jieba", "hanlp")
                   if m in sys.modules)
    print(json.dumps({"heavy": heavy, "samples": rep.samples.to_dicts(),
                      "indicators": rep.indicators.to_dicts()}, default=str))
""")


def test_warm_run_imports_no_model_library(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("spacy")
    ds, d = _image_ds(tmp_path, n=12)
    path = str(tmp_path / "data.json")
    ds.write(path, format="llava")
    env = {**os.environ, "PYTHONPATH": REPO}
    cache = str(tmp_path / "c")

    def run():
        out = subprocess.run([sys.executable, "-c", WARM_RUN, path, cache, str(d)], env=env,
                             capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    cold = run()
    assert cold["heavy"]  # the cold run did load models
    warm = run()
    assert warm["heavy"] == [], f"a warm run imported {warm['heavy']}"
    assert warm["samples"] == cold["samples"]
    assert warm["indicators"] == cold["indicators"]


def test_many_parts_compacted_on_open(tmp_path, monkeypatch):
    import vlitq.cache as vc

    monkeypatch.setattr(vc, "COMPACT_AT", 5)
    s = Cache(str(tmp_path)).store("x")
    for i in range(8):
        s.put_many_json({f"k{i}": {"v": i}})
    assert len(_parts(tmp_path)) == 8
    s2 = Cache(str(tmp_path)).store("x")
    assert s2.get_many_json([f"k{i}" for i in range(8)]) == {f"k{i}": {"v": i} for i in range(8)}
    assert len(_parts(tmp_path)) == 1
    assert Cache(str(tmp_path)).store("x").get_many_json(["k7"]) == {"k7": {"v": 7}}


def _where(s, keys):
    """The part name each key's value is in (None: nowhere)."""
    pids, _ = s._where.find(list(keys))
    return [s._where.names[p] if p >= 0 else None for p in pids.tolist()]


def test_written_values_are_not_kept_in_memory(tmp_path):
    """A store keeps, for what it wrote, only where each value is (16 bytes a key): a long run
    does not hold every result it computed. A repeated lookup reads the value back."""
    s = Cache(str(tmp_path)).store("x")
    s.keep_written_bytes = 0  # no recent values kept either (see the next test)
    for b in range(6):  # six batches, one part each
        s.put_many_json({f"k{b}-{i}": {"v": [b, i], "pad": "x" * 200} for i in range(50)})
    assert not s._index  # no value bytes, no key strings
    keys = [f"k{b}-{i}" for b in range(6) for i in range(50)]
    assert len(set(_where(s, keys))) == 6 and len(s) == 300
    got = s.get_many_json([f"k{b}-{i}" for b in (5, 0, 3) for i in (0, 49)] + ["missing"])
    assert got == {f"k{b}-{i}": {"v": [b, i], "pad": "x" * 200} for b in (5, 0, 3) for i in (0, 49)}
    assert s.group_reads == 3 and (s.hits, s.misses) == (6, 1)
    # compaction merges the parts on disk; the store then reads from the merged one
    s.compact()
    assert len(_parts(tmp_path)) == 1 and not s._index and len(s) == 300
    assert set(_where(s, keys)) == {os.path.basename(_parts(tmp_path)[0])}
    fresh = Cache(str(tmp_path)).store("x")
    assert fresh.get_many_json(["k4-7"]) == {"k4-7": {"v": [4, 7], "pad": "x" * 200}}
    assert s.get_many_json(["k2-3"]) == {"k2-3": {"v": [2, 3], "pad": "x" * 200}}


def test_the_most_recent_written_values_stay_within_a_budget(tmp_path):
    """Reading a value back costs a row-group read: the newest ``keep_written_bytes`` of
    written values stay in memory (a shared image's result is looked up again soon and often),
    older ones are read from their part; every value reads back the same either way."""
    s = Cache(str(tmp_path)).store("x")
    one = len(json.dumps({"v": [0, 0], "pad": "x" * 200}, separators=(",", ":")))
    s.keep_written_bytes = 3 * 50 * (one + 2 + s.ENTRY_BYTES)  # about three batches
    for b in range(6):
        s.put_many_json({f"k{b}-{i}": {"v": [b, i], "pad": "x" * 200} for i in range(50)})
    kinds = {b: {type(s._index.get(f"k{b}-{i}")) for i in range(50)} for b in range(6)}
    assert kinds[0] == kinds[1] == {type(None)} and kinds[5] == kinds[4] == {bytes}, kinds
    away = _where(s, [f"k{b}-{i}" for b in (0, 1) for i in range(50)])
    assert None not in away and len(set(away)) == 2
    assert s._written_bytes <= s.keep_written_bytes
    want = {f"k{b}-{i}": {"v": [b, i], "pad": "x" * 200} for b in range(6) for i in range(50)}
    assert s.get_many_json(list(want)) == want
    s.compact()
    assert s.get_many_json(list(want)) == want and len(_parts(tmp_path)) == 1
    assert Cache(str(tmp_path)).store("x").get_many_json(list(want)) == want


def test_a_written_part_removed_meanwhile_is_a_miss_not_an_error(tmp_path):
    s = Cache(str(tmp_path)).store("x")
    s.keep_written_bytes = 0  # values only in their parts
    s.put_many_json({"a": {"v": 1}})
    s.put_many_json({"b": {"v": 2}})
    part_a, = _where(s, ["a"])
    os.remove(os.path.join(s.path, part_a))  # e.g. compacted away by another process
    assert s.get_many_json(["a", "b"]) == {"b": {"v": 2}}
    assert "a" not in s._index and _where(s, ["a"]) == [None] and s.misses == 1
    assert len(s) == 1


def test_opening_a_store_reads_where_values_are_not_the_values(tmp_path, monkeypatch):
    """A store of many rows opens holding 16 bytes a key and no value; a lookup reads only the
    row groups holding the keys asked for, each once when keys come in the order they were
    written, and keeps at most ``groups_kept_bytes`` of them decoded."""
    from vlitq.cache import Store

    monkeypatch.setattr(Store, "GROUP_BYTES", 1 << 20)  # 1024 rows of 1 KiB a row group
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((20_000, 256)).astype(np.float32)
    keys = [f"t{i}" for i in range(20_000)]
    w = Cache(str(tmp_path)).store("emb")
    for a in range(0, 20_000, 5_000):  # four parts of five row groups each
        w.put_many_arrays(dict(zip(keys[a:a + 5_000], vecs[a:a + 5_000])))
    assert [st.tolist() for st in w._where.starts] == [[0, 1024, 2048, 3072, 4096]] * 4
    s = Cache(str(tmp_path)).store("emb")
    assert len(s) == 20_000 and s._index == {} and s.group_reads == 0
    assert [st.tolist() for st in s._where.starts] == [[0, 1024, 2048, 3072, 4096]] * 4
    h, p, r = s._where._arr
    assert h.nbytes + p.nbytes + r.nbytes == 16 * 20_000
    got = s.get_many_arrays(keys[7_000:7_010], 256)
    assert s.group_reads == 1 and np.array_equal(np.stack([got[k] for k in keys[7_000:7_010]]),
                                                   vecs[7_000:7_010])
    s.groups_kept_bytes = 3 << 20
    out = np.empty_like(vecs)
    for a in range(0, 20_000, 512):  # as a warm run asks: slices in the written order
        got = s.get_many_arrays(keys[a:a + 512], 256)
        out[a:a + 512] = np.stack([got[k] for k in keys[a:a + 512]])
        assert s._groups_bytes <= s.groups_kept_bytes + (2 << 20)
    assert np.array_equal(out, vecs)
    assert s.group_reads == 1 + 4 * 5  # every row group once (the first one read twice)
    assert s.hits == 20_010 and s.misses == 0


def test_part_names_sort_in_the_order_they_were_written(tmp_path):
    """Name order is write order, so a merged part keeps the rows in the order a run wrote
    them (and a warm run asking in that order reads each row group once)."""
    s = Cache(str(tmp_path)).store("x")
    for b in range(5):
        s.put_many_json({f"k{b}": {"v": b}})
    assert sorted(s._where.names) == s._where.names


def test_a_part_damaged_after_it_was_opened_is_quarantined_and_recomputed(tmp_path):
    """Parts are verified whole when a store opens; a row group read later that no longer
    decodes (its page checksum) moves the part aside and its rows are misses, never garbage."""
    w = Cache(str(tmp_path)).store("x")
    w.put_many_bytes({f"k{i}": bytes([i % 251]) * 2000 for i in range(200)})
    s = Cache(str(tmp_path)).store("x")
    assert len(s) == 200
    (part,) = _parts(tmp_path)
    size = os.path.getsize(part)
    with open(part, "r+b") as fh:  # inside the value pages, far from the footer
        fh.seek(size // 2)
        c = fh.read(1)
        fh.seek(size // 2)
        fh.write(bytes([c[0] ^ 0xFF]))
    with pytest.warns(CacheIntegrityWarning, match="unreadable row group"):
        assert s.get_many_bytes(["k1", "k150"]) == {}
    assert s.misses == 2 and s.quarantined == 1 and _parts(tmp_path) == [] and len(s) == 0


def test_compact_on_disk_merges_parts_like_loading_them(tmp_path):
    """The driver-side merge (Arrow, nothing loaded into the store): one part whose content is
    what loading every part gives (the first part in name order wins a repeated key); a
    damaged part is quarantined and left out, not merged."""
    import shutil

    root = tmp_path / "c"
    s = Cache(str(root)).store("x")
    for b in range(7):
        s.put_many_json({**{f"k{b}-{i}": {"v": [b, i]} for i in range(20)}, "dup": {"b": b}})
    broken = sorted(_parts(root))[3]
    with open(broken, "r+b") as fh:  # flip a byte: checksum mismatch
        fh.seek(40)
        c = fh.read(1)
        fh.seek(40)
        fh.write(bytes([c[0] ^ 0xFF]))
    shutil.copytree(root, tmp_path / "copy")
    keys = [f"k{b}-{i}" for b in range(7) for i in range(20)] + ["dup"]
    with pytest.warns(CacheIntegrityWarning, match="checksum"):
        want = Cache(str(tmp_path / "copy")).store("x").get_many_bytes(keys)  # loading
    assert len(want) == 6 * 20 + 1
    fresh = Cache(str(root)).store("x")
    assert fresh.n_parts() == 7
    with pytest.warns(CacheIntegrityWarning, match="checksum"):
        assert fresh.compact_on_disk()
    assert fresh._index is None  # nothing was loaded into the store
    assert len(_parts(root)) == 1 and fresh.n_parts() == 1
    assert Cache(str(root)).store("x").get_many_bytes(keys) == want
    assert not Cache(str(root)).store("x").compact_on_disk()  # one part: nothing to do


def test_locations_merge_serve_and_forget(tmp_path, monkeypatch):
    """Where values are is held as 64-bit hashes beside a part number and a row (16 bytes a
    key once merged): across several merges, with re-puts and discards, every value reads back
    as written, and a hash pointing at a row of another key is a miss, never a wrong value."""
    from vlitq.cache import _Locations

    monkeypatch.setattr(_Locations, "MERGE_AT", 64)
    s = Cache(str(tmp_path)).store("x")
    s.keep_written_bytes = 0
    want = {}
    for b in range(20):
        batch = {f"k{b}-{i}": {"v": [b, i]} for i in range(30)}
        if b % 5 == 4:  # a repeated key written again by a later batch, value unchanged
            batch["k0-0"] = {"v": [0, 0]}
        s.put_many_json(batch)
        want.update(batch)
    assert not s._index and len(s) == len(want) == 600
    h, p, r = s._where._arr
    assert h.size == 600 - len(s._where._new) and h.nbytes + p.nbytes + r.nbytes == 16 * h.size
    assert s.get_many_json(list(want)) == want
    # a discarded value is forgotten (recomputed), not served again from its part
    with pytest.warns(CacheIntegrityWarning, match="damaged value"):
        s.discard(["k3-3"], "test")
    assert "k3-3" not in s.get_many_json(["k3-3"]) and len(s) == 599
    # a hash that points at another key's row: a miss; that key is still served
    pid, = s._where.find(["k1-0"])[0].tolist()
    s._where.add(["not-written"], pid)  # row 0 of k1-0's part
    assert s.get_many_json(["not-written"]) == {}
    assert s.get_many_json(["k1-0"]) == {"k1-0": {"v": [1, 0]}}
    # compaction merges every part and leaves the discarded value out
    s.compact()
    assert len(_parts(tmp_path)) == 1
    del want["k3-3"]
    assert s.get_many_json(list(want)) == want
    assert Cache(str(tmp_path)).store("x").get_many_json(list(want) + ["k3-3"]) == want


def test_a_damaged_value_is_never_served_and_a_merge_keeps_its_recomputed_copy(tmp_path):
    """A value that fails to decode is dropped (warning) and recomputed; the first part wins a
    key, so another store opening the parts meets the damaged copy first and drops it too, and
    the store that recomputed it keeps the new copy when it merges the parts."""
    s = Cache(str(tmp_path)).store("x")
    s.put_many_bytes({"a": b"not json", "b": b'{"v":2}'})
    s2 = Cache(str(tmp_path)).store("x")
    with pytest.warns(CacheIntegrityWarning, match="invalid JSON"):
        assert s2.get_many_json(["a", "b"]) == {"b": {"v": 2}}
    s2.put_many_json({"a": {"v": 1}})  # recomputed
    assert s2.get_many_json(["a"]) == {"a": {"v": 1}}
    with pytest.warns(CacheIntegrityWarning, match="invalid JSON"):
        assert Cache(str(tmp_path)).store("x").get_many_json(["a", "b"]) == {"b": {"v": 2}}
    s2.compact()
    assert len(_parts(tmp_path)) == 1
    assert Cache(str(tmp_path)).store("x").get_many_json(["a", "b"]) == {"a": {"v": 1}, "b": {"v": 2}}


def test_keys_asked_again_and_again_are_read_once(tmp_path, monkeypatch):
    """A few keys asked for in every batch, lying far from the rest of it (a templated
    instruction's row, written once), cost a row-group read once, not in every batch: the
    values read are kept, least recently used out first, within ``hot_bytes``."""
    from vlitq.cache import Store

    monkeypatch.setattr(Store, "GROUP_BYTES", 64 << 10)  # 1024 rows of ~60 bytes a group
    w = Cache(str(tmp_path)).store("rows")
    keys = [f"r{i:06d}" for i in range(40_960)]
    w.put_many_bytes({k: k.encode() * 6 for k in keys})  # one part of 40 row groups
    s = Cache(str(tmp_path)).store("rows")
    s.groups_kept_bytes = 1  # one decoded row group at a time
    hot = keys[::2048]  # 20 keys, each in another row group
    for a in range(0, 40_960, 1024):
        got = s.get_many_bytes(keys[a:a + 1024] + hot)
        assert set(got) == set(keys[a:a + 1024] + hot) and got[hot[3]] == hot[3].encode() * 6
    assert s.group_reads <= 40 + 20  # each group once, each hot key's group once more at most
    s.hot_bytes = 0  # without the kept values every batch reads every hot key's group again
    s._hot.clear()
    s._hot_bytes = 0
    before = s.group_reads
    for a in range(0, 8 * 1024, 1024):
        s.get_many_bytes(keys[a:a + 1024] + hot)
    assert s.group_reads - before > 8 * 15
