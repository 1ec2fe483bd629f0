"""A JSON array file is read a window at a time (never whole): every element, raw text,
error message, line and column is what reading the whole text gives, with windows down to a
few characters cutting elements, strings, numbers, literals and multi-byte characters."""
import json
import random

import pytest

from vlitq.data.formats import FormatError
from vlitq.data.formats import _common as c


def _records(rng, n):
    out = []
    for i in range(n):
        rec = {"id": f"s{i}", "image": f"img/{i}.jpg", "n": rng.randint(-10**6, 10**6),
               "x": rng.random() * 1e3, "ok": rng.random() < 0.5, "none": None,
               "conversations": [{"from": "human", "value": "Wie viel kostet das? 猫 " * rng.randint(0, 3)},
                                 {"from": "gpt", "value": "é\n\"quoted\"\\ " + "word " * rng.randint(0, 40)}]}
        out.append(rec)
    return out


def _whole(path):
    text, bad = c.read_text(path)
    return _run(lambda: c.iter_json_array(str(path), text, bad))


def _run(make):
    try:
        return list(make()), None
    except FormatError as exc:
        return None, str(exc)


def _variants(rng):
    recs = _records(rng, 12)
    base = json.dumps(recs, ensure_ascii=False, indent=rng.choice([None, 1, 2]))
    yield base.encode()
    yield ("\ufeff" + base).encode()  # BOM
    yield (base + "\n\n  ").encode()
    yield (base + "\n{\"trailing\": 1}\n").encode()  # text after the array
    yield base[: len(base) // 2].encode()  # truncated
    yield base[: base.rfind("}") + 1].encode()  # truncated right after an element
    yield b"[]"
    yield b"  [ 1, 2 , 30000, true, null, \"s\" ]"
    yield b"[1, 2, 3"
    yield b""
    yield b"{\"not\": \"an array\"}"
    for _ in range(25):  # a few bytes deleted, replaced or inserted
        b = bytearray(base.encode())
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            op = rng.random()
            if op < 0.4:
                del b[i]
            elif op < 0.8:
                b[i] = rng.choice(b'{}[],:"x1\\\n\xff')
            else:
                b[i:i] = rng.choice([b"\xc3", b"\x80", b",", b"}", b"\"", b"\n"])
        yield bytes(b)


@pytest.mark.parametrize("chunk", [3, 7, 64, 1000, 1 << 20])
def test_windowed_reading_gives_what_whole_text_gives(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(c._Window, "CHUNK", chunk)
    rng = random.Random(chunk)
    for k, data in enumerate(_variants(rng)):
        path = tmp_path / f"v{k}.json"
        path.write_bytes(data)
        got = _run(lambda: c.iter_json_array_file(str(path)))
        assert got == _whole(path), (chunk, k, data[:300])


def test_a_big_file_is_never_held_whole(tmp_path, monkeypatch):
    """The window holds about two chunks, whatever the file's size (here 300 times that)."""
    monkeypatch.setattr(c._Window, "CHUNK", 4096)
    recs = _records(random.Random(0), 3000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(recs, ensure_ascii=False), encoding="utf-8")
    seen = []
    real = c._Window.fill

    def fill(self):
        out = real(self)
        seen.append(len(self.buf))
        return out

    monkeypatch.setattr(c._Window, "fill", fill)
    n = 0
    for index, rec, raw, err in c.iter_json_array_file(str(path)):
        assert err is None and rec == recs[index] and json.loads(raw) == rec
        n += 1
    assert n == 3000 and path.stat().st_size > 100 * 4096
    # 64 KiB are read first (how the first element starts), then about two chunks at a time
    assert max(seen) < (1 << 16) + 2 * 4096 and max(seen[-100:]) < 3 * 4096 + 2000
