"""A run killed with SIGKILL mid-way resumes with no cached work redone and the same scores."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent('''
    import json, os, sys, time
    import vlitq
    from vlitq.registry import register
    from vlitq.scorers.base import Scorer

    LOG = sys.argv[2]

    @register
    class Slow(Scorer):
        name = "_slow"
        batch_size = 4

        def __init__(self, *, delay: float = 0.0):
            self.delay = delay

        def score_batch(self, batch):
            time.sleep(self.delay)
            with open(LOG, "a") as fh:  # one line per computed sample
                for sid in batch["sample_id"]:
                    fh.write(sid + "\\n")
            vals = [sum(map(ord, t[0]["response"])) % 97 / 7 for t in batch["turns"]]
            return {"_slow": vals, "_slow_error": [None] * len(vals)}

    rep = vlitq.score(sys.argv[1], ["_slow", "text_stats"], config={"_slow": {"delay": float(sys.argv[3])}},
                      cache=sys.argv[4], progress=False, chunk_size=8, stream=sys.argv[5] == "1")
    print(json.dumps(rep.samples.select("sample_id", "_slow").to_dicts()))
''')


def _run(script, data, log, delay, cache, stream, **kw):
    return subprocess.Popen([sys.executable, str(script), str(data), str(log), str(delay),
                             str(cache), "1" if stream else "0"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "VLITQ_DISABLE_PROGRESS_BARS": "1"},
                            **kw)


def _lines(p):
    return open(p).read().split() if os.path.exists(p) else []


def test_kill_and_resume(tmp_path):
    n = 80
    data = tmp_path / "data.jsonl"
    with open(data, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"id": f"s{i}", "conversations": [
                {"from": "human", "value": f"Q{i}"}, {"from": "gpt", "value": f"answer {i}"}]}) + "\n")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)

    # reference: one uninterrupted run in its own cache
    ref = _run(script, data, tmp_path / "ref.log", 0.0, tmp_path / "cache_ref", False)
    ref_out = json.loads(ref.communicate(timeout=120)[0])

    log = tmp_path / "killed.log"
    cache = tmp_path / "cache"
    p = _run(script, data, log, 0.15, cache, True)
    deadline = time.time() + 120
    while len(_lines(log)) < 24 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done_before = _lines(log)
    assert 24 <= len(done_before) < n, "the run was not killed mid-way"

    log2 = tmp_path / "resumed.log"
    p2 = _run(script, data, log2, 0.15, cache, True)  # same params → same cache entries
    out = json.loads(p2.communicate(timeout=120)[0])
    recomputed = _lines(log2)
    # Everything that reached the cache is served from it: at most the batch in flight at the
    # kill (4 samples) was computed twice, and every sample was computed at least once.
    assert set(done_before) | set(recomputed) == {f"s{i}" for i in range(n)}
    assert len(set(done_before) & set(recomputed)) <= 4
    assert out == ref_out
