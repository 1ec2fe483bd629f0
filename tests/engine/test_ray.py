import json
import os

import pytest

import vlitq

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def test_ray_matches_local(tmp_path, ray_local):
    recs = [{"id": f"s{i}", "image": "missing.jpg" if i % 5 == 0 else None,
             "conversations": [{"from": "human", "value": f"Question {i % 4}?"},
                               {"from": "gpt", "value": "" if i == 3 else "answer " * (i % 6)}]}
            for i in range(40)]
    for r in recs:
        if r["image"] is None:
            del r["image"]
    p = tmp_path / "d.json"
    p.write_text(json.dumps(recs))
    names = ["text_stats", "image_check", "duplicates"]
    local = vlitq.score(str(p), names, cache=False, progress=False)
    out = tmp_path / "ray_out"
    rr = vlitq.score(str(p), names, cache=str(tmp_path / "c"), progress=False, engine="ray",
                     num_actors=1, output_dir=str(out), chunk_size=16)
    assert rr.samples.equals(local.samples)
    assert rr.indicators.equals(local.indicators)
    assert rr.errors.sort("sample_id", "scorer").equals(local.errors.sort("sample_id", "scorer"))
    assert list(out.glob("*.parquet")), "scores were not written as Parquet"
    assert rr.info["engine"] == "ray"


def _records(n, start=0, ids=True):
    recs = []
    for i in range(start, start + n):
        r = {"conversations": [{"from": "human", "value": f"<image>\nQuestion {i % 7}?"},
                               {"from": "gpt", "value": "answer " * (1 + i % 5)}],
             "image": "missing.jpg" if i % 4 == 0 else f"img{i % 3}.png"}
        if ids:
            r["id"] = f"s{i}"
        recs.append(r)
    return recs


def _write_shards(folder, recs, split):
    """Two JSON Lines shards (records before / from ``split``) in ``folder``."""
    folder.mkdir()
    for j, part in enumerate((recs[:split], recs[split:])):
        with open(folder / f"part-{j}.jsonl", "w") as fh:
            fh.write("\n".join(json.dumps(r) for r in part) + "\n")
    return folder


def test_ray_reads_files_with_ray_tasks_and_matches_local(tmp_path, ray_local):
    from PIL import Image

    for k in range(3):
        Image.new("RGB", (24, 16), (80 * k, 20, 200)).save(tmp_path / f"img{k}.png")
    # two JSON Lines shards in a folder, and the same records in one file for the local engine
    shards = _write_shards(tmp_path / "shards", _records(30), 12)
    with open(shards / "part-1.jsonl", "a") as fh:
        fh.write("{not json\n")  # a broken line: an error row in both engines
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join((shards / f"part-{j}.jsonl").read_text() for j in range(2)))
    names = ["text_stats", "image_check", "duplicates"]
    local = vlitq.score(str(whole), names, cache=False, progress=False,
                        image_root=str(tmp_path))
    out = tmp_path / "ray_out"
    rr = vlitq.score(str(shards), names, cache=False, progress=False, engine="ray",
                     num_actors=2, output_dir=str(out), image_root=str(tmp_path), chunk_size=8,
                     batch_size=8)  # small bundles: both actors get rows
    assert rr.info["engine"] == "ray"
    cols = [c for c in local.samples.columns]
    # ids of records without one differ by file stem (part-1:13 vs whole:31): compare the rest
    key = [c for c in cols if c != "sample_id"]
    assert rr.samples.height == local.samples.height == 31
    assert rr.samples.select(key).equals(local.samples.select(key))
    assert rr.samples["sample_id"].to_list()[:30] == [f"s{i}" for i in range(30)]
    assert rr.indicators.drop("details").equals(local.indicators.drop("details"))
    assert rr.error_counts() == local.error_counts()
    written = list(out.glob("*.parquet"))
    assert written
    import polars as pl

    back = pl.read_parquet(out / "*.parquet")
    assert "original" not in back.columns and {"turns", "images"} <= set(back.columns)


def test_cli_engine_ray_reads_in_ray_tasks_not_on_the_driver(tmp_path, ray_local, monkeypatch):
    """`vlitq score PATH --engine ray` hands PATH to Ray tasks: the driver never parses it."""
    from click.testing import CliRunner

    import vlitq.data.formats as formats
    from vlitq.cli import main

    shards = _write_shards(tmp_path / "shards", _records(20), 9)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join((shards / f"part-{j}.jsonl").read_text() for j in range(2)))
    names = ["text_stats", "duplicates"]
    local = vlitq.score(str(whole), names, cache=False, progress=False)

    def no_driver_read(*a, **k):  # Ray workers are other processes: unaffected
        raise AssertionError("the driver parsed the input")

    monkeypatch.setattr(formats, "read", no_driver_read)
    monkeypatch.setattr(formats, "iter_samples", no_driver_read)
    out, rep_dir = tmp_path / "parquet", tmp_path / "rep"
    res = CliRunner().invoke(main, ["score", str(shards), "--scorers", ",".join(names),
                                    "--engine", "ray", "--num-actors", "1", "--output-dir",
                                    str(out), "--no-cache", "--quiet", "--out", str(rep_dir)])
    assert res.exit_code == 0, res.output
    assert list(out.glob("*.parquet"))
    saved = vlitq.Report.load(str(rep_dir))
    assert saved.samples.height == 20
    assert saved.samples["text_stats"].to_list() == local.samples["text_stats"].to_list()
    # a Ray option without --engine ray is a usage error, not silently ignored
    res = CliRunner().invoke(main, ["score", str(whole), "--num-actors", "2", "--no-cache"])
    assert res.exit_code == 2 and "--engine ray" in res.output


@pytest.mark.timeout(300)
def test_many_scorers_on_two_cpus_do_not_deadlock_and_are_timed(tmp_path, ray_local,
                                                                 monkeypatch):
    """Five per-sample scorers × two actors on a 2-CPU cluster: one actor pool runs them all
    (a pool per scorer needed 10 CPU slots and never started), same result as local, and each
    scorer's seconds are measured in the actors, not an even split of the elapsed time."""
    from PIL import Image

    for k in range(3):
        Image.new("RGB", (24, 16), (80 * k, 20, 200)).save(tmp_path / f"img{k}.png")
    shards = _write_shards(tmp_path / "shards", _records(60), 25)
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join((shards / f"part-{j}.jsonl").read_text() for j in range(2)))
    names = ["text_stats", "image_check", "language", "instruction_type", "elements",
             "duplicates", "balance"]
    local = vlitq.score(str(whole), names, cache=False, progress=False,
                        image_root=str(tmp_path))
    rr = vlitq.score(str(shards), names, cache=str(tmp_path / "c"), progress=False,
                     engine="ray", num_actors=2, image_root=str(tmp_path), chunk_size=16)
    key = [c for c in local.samples.columns if c != "sample_id"]
    assert rr.samples.select(key).equals(local.samples.select(key))
    assert rr.indicators.drop("details").equals(local.indicators.drop("details"))
    comp = rr.info["components"]
    per_sample = ["text_stats", "image_check", "language", "instruction_type", "elements"]
    cpu = {k: comp[k]["cpu_seconds"] for k in per_sample}
    assert all(v > 0 for v in cpu.values()), cpu
    assert cpu["elements"] > cpu["text_stats"], cpu  # spaCy parsing costs more than counting
    assert all(comp[k]["peak_rss_mib"] > 50 for k in per_sample), comp  # the actors' peak
    # warm: every result from the cache, still through the actors (without text_stats: the
    # same scorers again would be served whole, with no Ray); the driver merges each store's
    # parts once before they start (here above 1 part; else every actor would)
    import vlitq.cache as vc

    cache_dir = tmp_path / "c"
    many = {d: len(os.listdir(cache_dir / d / h)) for d in ("elements", "language")
            for h in os.listdir(cache_dir / d)}
    assert all(n > 2 for n in many.values()), many
    monkeypatch.setattr(vc, "COMPACT_AT", 1)  # merge any store of more than one part
    warm = vlitq.score(str(shards), names[1:], cache=str(tmp_path / "c"), progress=False,
                       engine="ray", num_actors=2, image_root=str(tmp_path), chunk_size=16)
    assert warm.info["ray"]["served_from_cache"] is False
    wkey = [c for c in warm.samples.columns if c != "sample_id"]
    assert not any(c.startswith("text_stats") for c in wkey)
    assert warm.samples.select(wkey).equals(local.samples.select(wkey))
    for d in ("elements", "language", "image_check", "instruction_type", "image_hashes"):
        for h in os.listdir(cache_dir / d):
            assert len([f for f in os.listdir(cache_dir / d / h) if f.startswith("part-")]) == 1


def test_read_task_streams_a_file_in_blocks(tmp_path, monkeypatch):
    """A read task turns ``rows_per_block`` records at a time into a block: it never holds the
    frame of a whole file, and positions and ids run on across its blocks."""
    import vlitq.data.dataset as dataset_mod
    from vlitq.engine.ray import _read_file

    p = tmp_path / "d.jsonl"
    recs = _records(23, ids=False)
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n{broken\n")
    sizes = []
    real = dataset_mod.records_to_frame

    def spy(records, **kw):
        sizes.append(len(records))
        return real(records, **kw)

    monkeypatch.setattr(dataset_mod, "records_to_frame", spy)
    gen = _read_file({"_file": [0], "path": [str(p)]}, fmt="llava", options={},
                     image_root=str(tmp_path), allow_outside_root=False, rows_per_block=5)
    first = next(gen)
    assert first.num_rows == 5 and sizes == [5]  # the first block before the rest is read
    import pyarrow as pa
    import polars as pl

    got = pl.from_arrow(pa.concat_tables([first] + list(gen), promote_options="default"))
    assert max(sizes) == 5 and got.height == 24
    assert got["_pos"].to_list() == list(range(24))
    whole = vlitq.read(str(p))
    assert got["sample_id"].to_list() == whole.frame["sample_id"].to_list()
    assert got["read_error"].null_count() == 23  # the broken line is an error row, not lost



def test_light_table_is_light_frame_in_arrow(tmp_path):
    """The actors drop ``original`` and hash inline images in Arrow; the result is the local
    engine's ``light_frame``."""
    import base64
    import io

    from PIL import Image

    from vlitq.engine.ray import _light_table
    from vlitq.engine.stream import light_frame

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buf, format="PNG")
    inline = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    recs = _records(6)
    recs[1]["image"] = inline
    p = tmp_path / "d.json"
    p.write_text(json.dumps(recs))
    frame = vlitq.read(str(p)).frame
    assert "original" in frame.columns
    import polars as pl

    for f in (frame, frame.filter(pl.col("sample_id") != "s1")):  # with and without inline
        got = pl.from_arrow(_light_table(f.to_arrow()))
        assert got.equals(light_frame(f))
    assert any(r.startswith("inline:") for rs in pl.from_arrow(
        _light_table(frame.to_arrow()))["images"].to_list() for r in rs)


def test_a_repeated_run_is_served_whole_without_ray_and_kept_honest(tmp_path, ray_local,
                                                                    monkeypatch):
    """The same run again (same files, scorers, images) is read back from the cache on the
    driver: Ray is not touched, the report is the cold one's. An edited image, an edited input
    file or a damaged kept file each make it run on Ray again (and give the new result)."""
    import warnings

    from PIL import Image

    import vlitq.engine.ray as vr

    for k in range(3):
        Image.new("RGB", (24, 16), (80 * k, 20, 200)).save(tmp_path / f"img{k}.png")
    shards = _write_shards(tmp_path / "shards", _records(40), 15)
    names = ["text_stats", "image_check", "instruction_type", "duplicates"]
    kw = dict(cache=str(tmp_path / "c"), progress=False, engine="ray", num_actors=2,
              image_root=str(tmp_path), chunk_size=16)
    cold = vlitq.score(str(shards), names, **kw)
    assert cold.info["ray"]["served_from_cache"] is False
    kept = os.listdir(tmp_path / "c" / "ray_runs")
    assert len(kept) == 1

    def no_ray(*a, **k):
        raise AssertionError("Ray was started for a run the cache holds whole")

    with monkeypatch.context() as m:
        m.setattr(vr, "import_optional", no_ray)
        warm = vlitq.score(str(shards), names, output_dir=str(tmp_path / "out"), **kw)
    assert warm.info["ray"]["served_from_cache"] is True
    assert warm.samples.equals(cold.samples) and warm.indicators.equals(cold.indicators)
    assert warm.errors.equals(cold.errors)
    assert list((tmp_path / "out").glob("*.parquet"))  # the result where it was asked for

    # an image changes (content and size): image_check must see it, so Ray runs again
    Image.new("RGB", (30, 30), (0, 0, 0)).save(tmp_path / "img1.png")
    os.utime(tmp_path / "img1.png", ns=(1, 1))
    after = vlitq.score(str(shards), names, **kw)
    assert after.info["ray"]["served_from_cache"] is False
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join((shards / f"part-{j}.jsonl").read_text() for j in range(2)))
    local = vlitq.score(str(whole), names, cache=False, progress=False,
                        image_root=str(tmp_path))
    assert after.samples.equals(local.samples)
    assert not after.samples["image_check_min_side"].equals(cold.samples["image_check_min_side"])

    # an input file changes: another key, Ray runs
    with open(shards / "part-1.jsonl", "a") as fh:
        fh.write(json.dumps(_records(1, start=99)[0]) + "\n")
    more = vlitq.score(str(shards), names, **kw)
    assert more.info["ray"]["served_from_cache"] is False and more.samples.height == 41

    # a damaged kept file: warned, dropped, recomputed
    entry = [d for d in (tmp_path / "c" / "ray_runs").iterdir() if d.name != kept[0]][0]
    part = sorted(entry.glob("*.parquet"))[0]
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = vlitq.score(str(shards), names, **kw)
    assert again.info["ray"]["served_from_cache"] is False
    assert any("not used" in w for w in again.info["warnings"])
    assert again.samples.equals(more.samples)


def test_a_run_with_errors_to_retry_is_not_kept():
    import polars as pl

    from vlitq.engine.ray import _retry_needed
    from vlitq.registry import create

    s = create("text_stats", {})
    ok = pl.DataFrame({"text_stats_error": [None, "empty response"]})
    bad = pl.DataFrame({"text_stats_error": [None, "not evaluated: text_stats: could not load"]})
    assert not _retry_needed(ok, [s]) and _retry_needed(bad, [s])


def test_one_file_is_scored_in_many_blocks_and_in_order(tmp_path, ray_local):
    """Ray coalesced a file's rows up to its 128 MiB block target: a file below that was one
    block, which one actor scored while the others waited. The engine's block target
    (``block_bytes``: ~16 blocks per actor, 1-16 MiB) splits a 4 MB file into several blocks,
    and the rows come back in file order, equal to the local engine."""
    from vlitq.engine.ray import block_bytes

    recs = [{"id": f"s{i}", "conversations": [
        {"from": "human", "value": f"Describe picture {i}. " + "Be precise. " * 20},
        {"from": "gpt", "value": f"Picture {i} shows " + "a long answer " * 40}]}
        for i in range(3000)]
    p = tmp_path / "one.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert block_bytes(os.path.getsize(p), 2) == 1 << 20
    local = vlitq.score(str(p), ["text_stats"], cache=False, progress=False)
    out = tmp_path / "ray_out"
    before = ray.data.DataContext.get_current().target_max_block_size
    rr = vlitq.score(str(p), ["text_stats"], cache=False, progress=False, engine="ray",
                     num_actors=2, output_dir=str(out))
    assert len(list(out.glob("*.parquet"))) >= 4
    assert rr.samples.equals(local.samples)
    assert ray.data.DataContext.get_current().target_max_block_size == before  # restored


def test_gather_reads_parts_in_row_order_without_a_copy(tmp_path):
    """Ray names the parts in the order blocks finish; each holds a contiguous run of rows.
    Read sorted by their first row, the rows come back in file order (no gather); parts whose
    rows interleave still come back in order (gathered)."""
    from types import SimpleNamespace

    import polars as pl

    from vlitq.engine.ray import _gather, _parts_in_row_order

    class Fake:
        name = "fake"

        def output_columns(self):
            return ["fake", "fake_error"]

    def part(name, file_no, pos):
        pl.DataFrame({"sample_id": [f"f{file_no}-{p}" for p in pos],
                      "turns": [[{"instruction": f"q{p}", "response": "r"}] for p in pos],
                      "_file": [file_no] * len(pos), "_pos": pos,
                      "image_root": ["."] * len(pos), "allow_outside_root": [False] * len(pos),
                      "__timing": [None] * len(pos),
                      "__fake": [json.dumps({"fake": p, "fake_error": None}) for p in pos]}
                     ).write_parquet(tmp_path / name)
        return str(tmp_path / name)

    # contiguous runs, named out of order (as Ray finishes them)
    parts = [part("a.parquet", 1, [0, 1]), part("b.parquet", 0, [3, 4, 5]),
             part("c.parquet", 0, [0, 1, 2])]
    assert [os.path.basename(p) for p in _parts_in_row_order(parts)] == \
        ["c.parquet", "b.parquet", "a.parquet"]
    ds = SimpleNamespace(_gathered=None)
    scored = _gather(parts, ds, [Fake()], True, None)
    want = [f"f0-{p}" for p in range(6)] + ["f1-0", "f1-1"]
    assert ds._gathered["sample_id"].to_list() == want
    assert scored["fake"].to_list() == [0, 1, 2, 3, 4, 5, 0, 1]
    # interleaved runs: gathered into order all the same
    parts2 = [part("d.parquet", 0, [0, 2, 4]), part("e.parquet", 0, [1, 3, 5])]
    ds2 = SimpleNamespace(_gathered=None)
    scored2 = _gather(parts2, ds2, [Fake()], True, None)
    assert ds2._gathered["sample_id"].to_list() == [f"f0-{p}" for p in range(6)]
    assert scored2["fake"].to_list() == list(range(6))
