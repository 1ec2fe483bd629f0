"""Evaluation sets kept as a question file and answer files joined on an id.

The layout of LLaVA-Bench and of the Vicuna/LLaVA evaluation tables: a questions file (JSON
Lines or a JSON array) with ``{"question_id", "image", "text", "category"}`` records, and one
answer file per model with ``{"question_id", "text", "model_id", ...}`` records.

**One sample per (question, answer file)**: a model's answer is the response, the question the
instruction; the ``model`` column names the model (the answers' ``model_id``, else the answer
file's name without extension), ``sample_id`` is ``<question_id>@<model>``. A question an
answer file does not answer is still a sample of that model, with response null and a
``read_warning``; an answer whose ``question_id`` is not among the questions is an error row.
Without answer files, each question is one sample (id = its ``question_id``).

Answer files are the ``answers=`` option (a path or a list), or found beside the questions
file: ``*answer*.jsonl`` / ``*answer*.json`` in its folder and every ``.jsonl`` in an
``answer/`` or ``answers/`` folder next to it. Reading a folder reads the ``*question*`` file
in it. Fields: ``id=`` (default ``question_id``), ``question=`` (default the first of ``text``,
``question``, ``prompt``, ``instruction``), ``answer=`` (``text``, ``answer``, ``response``,
``output``).

Write-back writes the questions kept and, beside them under the same relative names, each
answer file with the answers kept, every record from its source text.
"""
from __future__ import annotations

import glob
import json
import os

from vlitq.data.dataset import Dataset, make_sample
from vlitq.data.formats import register_format
from vlitq.data.formats._common import (
    dump_json_records,
    error_sample,
    fix_surrogates,
    format_error,
    is_jsonl,
    iter_json_records,
    stem,
)

QUESTION_FIELDS = ("text", "question", "prompt", "instruction")
ANSWER_FIELDS = ("text", "answer", "response", "output")


def find_answers(qpath: str) -> list[str]:
    """Answer files beside a questions file (see the module docstring), sorted."""
    d = os.path.dirname(os.path.abspath(qpath))
    found = set()
    for pat in ("*answer*.jsonl", "*answer*.json", "answer/*.jsonl", "answers/*.jsonl",
                "answer/*.json", "answers/*.json"):
        found.update(glob.glob(os.path.join(glob.escape(d), pat)))
    me = os.path.abspath(qpath)
    return sorted(p for p in found if os.path.isfile(p) and os.path.abspath(p) != me)


def _questions_file(folder: str) -> str | None:
    cands = sorted(p for p in glob.glob(os.path.join(glob.escape(folder), "*question*.json*"))
                   if os.path.isfile(p))
    return cands[0] if cands else None


def _field(rec: dict, given: str | None, names: tuple) -> str | None:
    if given is not None:
        return given
    return next((n for n in names if n in rec), None)


def _text(v, what: str, warns: list):
    if v is None or isinstance(v, str):
        return v
    warns.append(f"{what} is a {type(v).__name__}: coerced to text")
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v)


def _images(v) -> list[str]:
    if v is None or v == "":
        return []
    if isinstance(v, list):
        return [str(x) for x in v if x is not None]
    return [str(v)]


def _load(path: str, kind: str, id_field: str, errors: list) -> list[tuple]:
    """``(key, record, raw, index)`` of the well-formed records of a file; others to errors."""
    out = []
    for index, rec, raw, err in iter_json_records(path):
        if err is None and not isinstance(rec, dict):
            err = f"{kind} record is a {type(rec).__name__}, not an object"
        elif err is None and rec.get(id_field) is None:
            err = f"{kind} record has no {id_field!r}"
        if err:
            errors.append(error_sample("qa", path, index, raw, err))
            continue
        out.append((str(rec[id_field]), rec, raw, index))
    return out


def read(source, *, image_root=None, answers=None, id: str | None = None,
         question: str | None = None, answer: str | None = None) -> Dataset:
    path = os.fspath(source)
    if os.path.isdir(path):
        q = _questions_file(path)
        if q is None:
            raise format_error(f"{path}: no questions file (*question*.jsonl) in the folder")
        path = q
    id_field = id or "question_id"
    if answers is None:
        answer_files = find_answers(path)
    else:
        answer_files = [os.fspath(a) for a in ([answers] if isinstance(answers, (str, os.PathLike))
                                               else answers)]
        for a in answer_files:
            if not os.path.isfile(a):
                raise format_error(f"answers={a!r}: no such file")
    errors: list[dict] = []
    questions = _load(path, "question", id_field, errors)
    if not questions and not errors:
        raise format_error(f"{path}: no question records")
    if not questions:
        raise format_error(f"{path}: not a questions file (first problem: "
                           f"{errors[0]['read_error']})")
    qdir = os.path.dirname(os.path.abspath(path))
    by_file = []
    for a in answer_files:
        recs = _load(a, "answer", id_field, errors)
        table: dict[str, list] = {}
        for key, rec, raw, index in recs:
            table.setdefault(key, []).append((rec, raw, index))
        model = next((str(r["model_id"]) for _, r, _, _ in recs if r.get("model_id")), None)
        by_file.append((a, model or stem(a), table))
    qkeys = set()
    samples = []
    for key, rec, raw, index in questions:
        qkeys.add(key)
        base_warns: list[str] = []
        qf = _field(rec, question, QUESTION_FIELDS)
        if qf is None or qf not in rec:
            errors.append(error_sample("qa", path, index, raw, "question record has no text "
                                       f"field ({question or ', '.join(QUESTION_FIELDS)})", key))
            continue
        ins = _text(rec[qf], f"question {qf!r}", base_warns)
        common = dict(task=_text(rec.get("category"), "'category'", base_warns),
                      source={"format": "qa", "file": path, "index": index}, original=raw)
        imgs = _images(rec.get("image", rec.get("images")))
        if not by_file:
            s = make_sample(key, [(ins, None)], imgs, model=None, answer_file=None,
                            answer_original=None, **common)
            s["read_warning"] = "; ".join(base_warns) or None
            samples.append(fix_surrogates(s, raw))
            continue
        for a, model, table in by_file:
            hits = table.get(key) or [(None, None, None)]
            for arec, araw, _ in hits:
                warns = list(base_warns)
                res = None
                if arec is None:
                    warns.append(f"no answer in {os.path.basename(a)}")
                else:
                    af = _field(arec, answer, ANSWER_FIELDS)
                    if af is None or af not in arec:
                        warns.append(f"the answer in {os.path.basename(a)} has no text field")
                    else:
                        res = _text(arec[af], f"answer {af!r}", warns)
                    if len(hits) > 1:
                        warns.append(f"{len(hits)} answers to this question in "
                                     f"{os.path.basename(a)}")
                s = make_sample(f"{key}@{model}", [(ins, res)], imgs, model=model,
                                answer_file=os.path.relpath(os.path.abspath(a), qdir),
                                answer_original=araw, **common)
                s["read_warning"] = "; ".join(warns) or None
                samples.append(fix_surrogates(fix_surrogates(s, raw), araw))
    for a, model, table in by_file:
        for key, hits in table.items():
            if key not in qkeys:
                for arec, araw, index in hits:
                    errors.append(error_sample("qa", a, index, araw,
                                               f"answer to an unknown {id_field} {key!r}",
                                               f"{key}@{model}"))
    meta = {"questions_jsonl": is_jsonl(path), "id_field": id_field,
            "answer_files": [(os.path.relpath(os.path.abspath(a), qdir), is_jsonl(a))
                             for a in answer_files]}
    return Dataset.from_records(samples + errors, image_root=image_root, format="qa", meta=meta)


def iter_samples(path: str, **options):
    yield from read(path, **options).frame.iter_rows(named=True)


def sniff(path: str, head: str) -> bool:
    if os.path.isdir(path):
        return _questions_file(path) is not None
    name = os.path.basename(path).lower()
    return ("question" in name and '"question_id"' in head
            and '"conversations"' not in head and '"messages"' not in head)


def write(dataset, path: str):
    """Write the kept questions to ``path`` and the kept answers beside it (same names)."""
    frame = dataset.frame
    if "read_error" in frame.columns:
        frame = frame.filter(frame["read_error"].is_null())
    if dataset.format != "qa" or "answer_file" not in frame.columns:
        raise format_error("this dataset was not read as 'qa'; export it with format='llava'")
    path = os.fspath(path)
    out_dir = os.path.dirname(os.path.abspath(path))
    seen, questions = set(), []
    per_file: dict[str, list] = {a: [] for a, _ in dataset.meta.get("answer_files", [])}
    for src, orig, afile, aorig in zip(frame["source"].to_list(), frame["original"].to_list(),
                                       frame["answer_file"].to_list(),
                                       frame["answer_original"].to_list()):
        key = (src or {}).get("index")
        if key not in seen:
            seen.add(key)
            questions.append(orig)
        if afile is not None and aorig is not None:
            per_file.setdefault(afile, []).append(aorig)
    dump_json_records(questions, path, path.endswith(".jsonl")
                      or (not path.endswith(".json") and dataset.meta.get("questions_jsonl", True)))
    jsonl_of = dict(dataset.meta.get("answer_files", []))
    for afile, recs in per_file.items():
        # answers kept outside the questions' folder are written beside the questions
        dest = os.path.join(out_dir, os.path.basename(afile) if afile.startswith("..") else afile)
        dump_json_records(recs, dest, jsonl_of.get(afile, afile.endswith(".jsonl")))
    return path


register_format("qa", description="evaluation questions + answer files joined on question_id "
                "(LLaVA-Bench layout), one sample per (question, model)", sniff=sniff,
                iter_samples=iter_samples, write=write, read=read, priority=25)
