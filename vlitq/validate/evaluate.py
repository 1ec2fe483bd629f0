"""Multiple-choice evaluation by option likelihood (BLIP-2's "rank" method) on SEED-Bench-style
questions, with accuracy per dimension and MultiInstruct's Sensitivity.

Each option is scored by the log-likelihood of its text given the image and the question
(teacher forcing, one forward pass per question with all its options in a batch); the prediction
is the best-scoring option. Two scores are kept per option: ``sum`` (the raw log-likelihood) and
``mean`` (divided by the option's number of tokens). ``mean`` is the default because the raw sum
favours short options; SEED-Bench's own likelihood evaluation also compares per-token losses.
"""
from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from vlitq._dependencies import import_optional
from vlitq._utils import progress

logger = logging.getLogger("vlitq")

LETTERS = "ABCDEFGHIJ"


# ------------------------------------------------------------------------------- benchmark I/O
@dataclass
class Question:
    question_id: str
    question: str
    image: str
    options: list[str]
    answer: int  # index into options
    dimension: str


def _answer_index(ans, options: list[str]) -> int:
    if isinstance(ans, bool):
        raise ValueError(f"answer {ans!r} is not a letter, index or option")
    if isinstance(ans, int):
        if 0 <= ans < len(options):
            return ans
        raise ValueError(f"answer index {ans} out of range for {len(options)} options")
    s = str(ans).strip()
    if len(s) == 1 and s.upper() in LETTERS[:len(options)]:
        return LETTERS.index(s.upper())
    if s.startswith("(") and s.endswith(")") and len(s) == 3:
        return _answer_index(s[1], options)
    if s in options:
        return options.index(s)
    raise ValueError(f"answer {ans!r} is neither a letter, an index nor one of the options")


def read_benchmark(path: str | os.PathLike) -> list[Question]:
    """Questions of a SEED-Bench-style JSON / JSON Lines file.

    Accepted: a list of questions or ``{"questions": [...], "question_type": {name: id}}`` (the
    SEED-Bench file). Each question has ``question``; an image (``image``, ``image_path`` or
    SEED-Bench's ``data_id``); options as ``options``/``choices`` (a list) or ``choice_a``,
    ``choice_b`` ...; ``answer`` as a letter, a 0-based index or the option text; a dimension
    (``dimension``, ``question_type``, ``category``, ``task``, or ``question_type_id`` named
    through the file's ``question_type`` map); an id (``question_id``/``id``, else the position).
    Questions whose ``data_type`` is not ``image`` (SEED-Bench's video dimensions) are left out,
    with a warning.
    """
    path = os.fspath(path)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if text.lstrip().startswith(("[", "{")) and not path.endswith(".jsonl"):
        data = json.loads(text)
    else:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    names: dict[Any, str] = {}
    if isinstance(data, dict):
        names = {str(v): k for k, v in (data.get("question_type") or {}).items()}
        data = data.get("questions", data.get("data"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of questions or {{'questions': [...]}}")
    out, videos = [], 0
    for i, q in enumerate(data):
        if isinstance(q, dict) and q.get("data_type", "image") != "image":
            videos += 1  # SEED-Bench's video dimensions: not evaluated (image models)
            continue
        try:
            options = q.get("options", q.get("choices"))
            if options is None:
                options = [q[f"choice_{c}"] for c in "abcdefghij" if f"choice_{c}" in q]
            options = [str(o) for o in options]
            if len(options) < 2:
                raise ValueError("fewer than two options")
            dim = q.get("dimension", q.get("question_type", q.get("category", q.get("task"))))
            if dim is None and "question_type_id" in q:
                dim = names.get(str(q["question_type_id"]), str(q["question_type_id"]))
            image = q.get("image", q.get("image_path", q.get("data_id")))
            if not image:
                raise ValueError("no image")
            out.append(Question(str(q.get("question_id", q.get("id", i))), str(q["question"]),
                                str(image), options, _answer_index(q["answer"], options),
                                "all" if dim is None else str(dim)))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: question {i}: {exc}") from None
    if videos:
        logger.warning("%s: %d question(s) with data_type other than 'image' left out", path,
                       videos)
    return out


# ------------------------------------------------------------------------------------ scoring
def _format_prompt(template: str, q: Question, kind: str) -> str:
    opts = "\n".join(f"{LETTERS[i]}. {o}" for i, o in enumerate(q.options))
    text = template.replace("{question}", q.question).replace("{options}", opts)
    if kind == "llava" and "<image>" not in text:  # LLaVA needs the image placeholder
        text = "<image>\n" + text
    return text


def _to_list(x) -> list:
    return x.tolist() if hasattr(x, "tolist") else list(x)


def score_options(model, processor, image, prompt: str, options: Sequence[str], *,
                  device: str | None = None, separator: str = " ") -> tuple[list[float], list[int]]:
    """Log-likelihood of each option's tokens given ``image`` and ``prompt``.

    Returns ``(sums, counts)``: the summed log-probability of each option's tokens and their
    number. The option's tokens are those of ``prompt + separator + option`` beyond the common
    prefix with ``prompt`` alone, so tokenisers that merge a leading space are handled.
    """
    torch = import_optional("torch", purpose="likelihood scoring")
    texts = [prompt] + [prompt + separator + o for o in options]
    enc = processor(images=[image] * len(texts), text=texts, return_tensors="pt", padding=True)
    mask = enc["attention_mask"].bool()
    seqs = [_to_list(enc["input_ids"][i][mask[i]]) for i in range(len(texts))]
    prompt_ids = seqs[0]
    pad = getattr(processor.tokenizer, "pad_token_id", None) or 0
    width = max(len(s) for s in seqs[1:])
    ids = torch.full((len(options), width), pad, dtype=torch.long)
    att = torch.zeros((len(options), width), dtype=torch.long)
    target = torch.zeros((len(options), width), dtype=torch.bool)
    for j, s in enumerate(seqs[1:]):
        common = 0
        while common < min(len(s), len(prompt_ids)) and s[common] == prompt_ids[common]:
            common += 1
        if common == len(s):
            raise ValueError(f"option {options[j]!r} adds no tokens to the prompt")
        ids[j, :len(s)] = torch.tensor(s)
        att[j, :len(s)] = 1
        target[j, common:len(s)] = True
    device = device or str(next(model.parameters()).device)
    dtype = next(model.parameters()).dtype
    inputs = {"input_ids": ids.to(device), "attention_mask": att.to(device),
              "pixel_values": enc["pixel_values"][1:].to(device, dtype)}
    # only the positions that predict an option token need the vocabulary projection: ask
    # for those alone where the model can (transformers' ``logits_to_keep``)
    first = max(1, int(target.any(0).nonzero().min()))
    keep = width - first + 1
    try:
        import inspect

        can_keep = "logits_to_keep" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        can_keep = False
    with torch.no_grad():
        out = model(**inputs, logits_to_keep=keep) if can_keep else model(**inputs)
        logits = out.logits[:, -keep:].float()
    logp = torch.log_softmax(logits[:, :-1], dim=-1)
    tok = logp.gather(-1, inputs["input_ids"][:, first:, None]).squeeze(-1)
    tmask = target[:, first:].to(device)
    sums = (tok * tmask).sum(-1)
    counts = tmask.sum(-1)
    return [float(v) for v in sums.cpu()], [int(c) for c in counts.cpu()]


# ------------------------------------------------------------------------------------- results
@dataclass
class EvalResult:
    """What :func:`evaluate` returns.

    ``per_dimension``: ``dimension``, ``n``, ``correct``, ``accuracy`` (percent), per prompt
    template when several are given (``template`` column), averaged over templates otherwise;
    ``overall``: accuracy in percent over all answered questions (micro average);
    ``predictions``: one row per question (and template) with the option scores; ``errors``:
    questions that could not be scored and why; ``sensitivity``: with several templates, per
    dimension std/mean of accuracy across templates (MultiInstruct), and its mean.
    """

    per_dimension: pl.DataFrame
    overall: float
    predictions: pl.DataFrame
    errors: pl.DataFrame
    sensitivity: pl.DataFrame | None = None
    info: dict = field(default_factory=dict)

    @property
    def mean_sensitivity(self) -> float | None:
        if self.sensitivity is None or self.sensitivity.height == 0:
            return None
        return float(self.sensitivity["sensitivity"].mean())

    def to_performance_row(self, dataset: str, model: str) -> dict:
        """``{"dataset", "model", <dimension>: accuracy ...}``: one row of the performance table
        :func:`vlitq.correlate` takes."""
        acc = self.per_dimension.group_by("dimension", maintain_order=True).agg(
            pl.col("accuracy").mean())
        row = {"dataset": dataset, "model": model}
        row.update(dict(zip(acc["dimension"].to_list(), acc["accuracy"].to_list())))
        return row

    def summary(self) -> str:
        lines = [f"overall accuracy {self.overall:.2f}% over {self.predictions.height} "
                 f"predictions ({self.errors.height} errors)"]
        for r in self.per_dimension.iter_rows(named=True):
            t = f" [{r['template']}]" if "template" in r else ""
            lines.append(f"  {r['dimension']}{t}: {r['accuracy']:.2f}% ({r['correct']}/{r['n']})")
        if self.mean_sensitivity is not None:
            lines.append(f"  sensitivity (std/mean over templates): {self.mean_sensitivity:.4f}")
        return "\n".join(lines)


def sensitivity(per_template: pl.DataFrame) -> pl.DataFrame:
    """MultiInstruct's Sensitivity per dimension: std over templates / mean over templates.

    ``per_template`` has ``dimension``, ``template``, ``accuracy``. The standard deviation is the
    population one (ddof=0). A dimension with mean 0 gets NaN.

    >>> t = pl.DataFrame({"dimension": ["a", "a", "b", "b"], "template": [0, 1, 0, 1],
    ...                   "accuracy": [40.0, 60.0, 50.0, 50.0]})
    >>> sensitivity(t)["sensitivity"].to_list()
    [0.2, 0.0]
    """
    return (per_template.group_by("dimension", maintain_order=True)
            .agg(pl.col("accuracy").std(ddof=0).alias("std"),
                 pl.col("accuracy").mean().alias("mean"),
                 pl.col("template").n_unique().alias("n_templates"))
            .with_columns(pl.when(pl.col("mean") > 0).then(pl.col("std") / pl.col("mean"))
                          .otherwise(float("nan")).alias("sensitivity")))


def evaluate(model, benchmark, *, kind: str | None = None, processor=None,
             image_root: str | None = None, prompt: str | Sequence[str] | None = None,
             normalize: str = "mean", device: str | None = None, dtype=None,
             limit: int | None = None, progress_bar: bool = True,
             openflamingo: dict | None = None) -> EvalResult:
    """Evaluate a vision-language model on multiple-choice questions by option likelihood.

    Parameters
    ----------
    model : str, path or transformers model
        A checkpoint folder (e.g. ``vlitq tune`` output: full, LoRA or OpenFlamingo) or hub name
        (``llava-hf/llava-1.5-7b-hf``, ``Salesforce/blip2-opt-2.7b``), or a loaded
        ``LlavaForConditionalGeneration`` / ``Blip2ForConditionalGeneration`` (then pass
        ``processor``).
    benchmark : path or list of :class:`Question`
        SEED-Bench-style JSON / JSON Lines (see :func:`read_benchmark`).
    kind : {"llava", "blip2", "openflamingo"}, optional
        Model family; read from the checkpoint's config when omitted.
    processor : transformers processor, optional
        Needed when ``model`` is an object.
    image_root : str, optional
        Folder image paths are relative to (default: the benchmark file's folder).
    prompt : str or list of str, optional
        Template(s) with ``{question}`` (and optionally ``{options}``, the lettered list). Default:
        ``"USER: <image>\\n{question} ASSISTANT:"`` (LLaVA) or
        ``"Question: {question} Answer:"`` (BLIP-2). With several templates (different
        instruction wordings) every question is scored under each, accuracy is reported per
        template, and MultiInstruct's Sensitivity is computed.
    normalize : {"mean", "sum"}
        Rank options by mean per-token log-likelihood (length-normalised, default) or by the raw
        summed log-likelihood. Both are kept in ``predictions``.
    device, dtype : optional
        Default: CUDA with float16 when available, else CPU float32.
    limit : int, optional
        Evaluate only the first ``limit`` questions.
    openflamingo : dict, optional
        For OpenFlamingo (``kind="openflamingo"``, or a ``vlitq tune --model openflamingo``
        output folder): worker settings, e.g. ``{"python": "/path/of-env/bin/python"}``, and
        model settings overriding the tuning run's (``vision_encoder``, ``lang_encoder`` ...).
        Scoring runs in that Python as a subprocess (open_flamingo pins torch 2.0.1).

    Returns
    -------
    EvalResult
    """
    from vlitq.data.images import ImageError, open_image
    from vlitq.validate._models import DEFAULT_PROMPT, default_device, load_model

    if normalize not in ("mean", "sum"):
        raise ValueError(f"normalize must be 'mean' or 'sum', not {normalize!r}")
    if isinstance(benchmark, (str, os.PathLike)):
        if image_root is None:
            image_root = os.path.dirname(os.path.abspath(os.fspath(benchmark)))
        questions = read_benchmark(benchmark)
        bench_name = os.fspath(benchmark)
    else:
        questions, bench_name = list(benchmark), "<questions>"
    if limit is not None:
        questions = questions[:limit]
    from vlitq.validate.mini import is_mini, load_mini

    of_folder = isinstance(model, (str, os.PathLike)) and os.path.isfile(
        os.path.join(os.fspath(model), "openflamingo_config.json"))
    mini = is_mini(model)
    if mini:  # a miniature MLLM (vlitq.validate.mini): any of the three kinds, in-process
        model_name = os.fspath(model)
        model, processor = load_mini(model_name, device=device)
        kind = model.kind
    if (kind == "openflamingo" or of_folder) and not mini and isinstance(
            model, (str, os.PathLike)):
        kind = "openflamingo"
        templates = [prompt] if isinstance(prompt, str) else list(
            prompt or [DEFAULT_PROMPT["openflamingo"]])
        model_name = os.fspath(model)
        scored, errors = _score_openflamingo(model_name, questions, image_root, templates,
                                             dict(openflamingo or {}), device)
    else:
        if mini:
            pass
        elif isinstance(model, (str, os.PathLike)):
            model_name = os.fspath(model)
            model, processor, kind = load_model(model_name, kind, device=device, dtype=dtype)
        else:
            model_name = getattr(getattr(model, "config", None), "_name_or_path",
                                 type(model).__name__)
            if processor is None:
                raise ValueError("pass processor=... with a model object")
            if kind is None:
                mt = getattr(model.config, "model_type", "")
                kind = "llava" if mt.startswith("llava") else "blip2" if "blip" in mt else None
            model.eval()
        if kind not in ("llava", "blip2") and not (mini and kind == "openflamingo"):
            raise ValueError(f"kind must be 'llava', 'blip2' or 'openflamingo' (got {kind!r})")
        templates = [prompt] if isinstance(prompt, str) else list(
            prompt or [DEFAULT_PROMPT[kind]])
        device = device or str(next(model.parameters()).device) or default_device()
        scored, errors = {}, []
        for q in progress(questions, desc="evaluate", disable=not progress_bar or None):
            try:
                image = open_image(q.image, image_root, allow_outside_root=True)
            except ImageError as exc:
                errors.append({"question_id": q.question_id, "dimension": q.dimension,
                               "error": str(exc)})
                continue
            for t_i, tmpl in enumerate(templates):
                try:
                    scored[(q.question_id, t_i)] = score_options(
                        model, processor, image, _format_prompt(tmpl, q, kind), q.options,
                        device=device)
                except ValueError as exc:
                    errors.append({"question_id": q.question_id, "dimension": q.dimension,
                                   "error": str(exc)})
                    break

    preds = []
    for q in questions:
        for t_i in range(len(templates)):
            if (q.question_id, t_i) not in scored:
                continue
            sums, counts = scored[(q.question_id, t_i)]
            means = [s / c for s, c in zip(sums, counts)]
            ranked = means if normalize == "mean" else sums
            pred = int(np.argmax(ranked))
            preds.append({"question_id": q.question_id, "dimension": q.dimension,
                          "template": t_i, "answer": q.answer, "prediction": pred,
                          "correct": pred == q.answer, "loglik_sum": sums,
                          "loglik_mean": means, "n_tokens": counts})
    pred_schema = {"question_id": pl.Utf8, "dimension": pl.Utf8, "template": pl.Int64,
                   "answer": pl.Int64, "prediction": pl.Int64, "correct": pl.Boolean,
                   "loglik_sum": pl.List(pl.Float64), "loglik_mean": pl.List(pl.Float64),
                   "n_tokens": pl.List(pl.Int64)}
    predictions = pl.DataFrame(preds, schema=pred_schema)
    errs = pl.DataFrame(errors, schema={"question_id": pl.Utf8, "dimension": pl.Utf8,
                                        "error": pl.Utf8})
    per_t = (predictions.group_by("dimension", "template", maintain_order=True)
             .agg(pl.len().alias("n"), pl.col("correct").sum().alias("correct"))
             .with_columns((100.0 * pl.col("correct") / pl.col("n")).alias("accuracy"))
             .sort("dimension", "template"))
    if len(templates) > 1:
        per_dim, sens = per_t, sensitivity(per_t)
    else:
        per_dim, sens = per_t.drop("template"), None
    overall = 100.0 * float(predictions["correct"].mean()) if predictions.height else math.nan
    info = {"model": model_name, "kind": kind, "benchmark": bench_name, "templates": templates,
            "normalize": normalize, "n_questions": len(questions), "method": "option likelihood"}
    if errors:
        logger.warning("%d question(s) could not be scored; see result.errors", len(errors))
    return EvalResult(per_dim, overall, predictions, errs, sens, info)


def _score_openflamingo(model: str, questions, image_root, templates, settings: dict,
                        device) -> tuple[dict, list]:
    """Option log-likelihoods from the OpenFlamingo worker, run as a subprocess."""
    import subprocess
    import sys
    import tempfile

    from vlitq.data.images import ImageError, read_image_bytes, resolve_path
    from vlitq.validate.tune import DEFAULTS

    cfg_file = os.path.join(model, "openflamingo_config.json")
    if os.path.isfile(cfg_file):  # a vlitq tuning run: its model settings + its weights
        with open(cfg_file, encoding="utf-8") as fh:
            cfg = json.load(fh)
        cfg["tuned"] = os.path.join(model, "checkpoint.pt")
    else:
        cfg = {**DEFAULTS["openflamingo"], "base": model, "seed": 0}
    cfg.update(settings)
    if device:
        cfg["device"] = device
    errors, rows = [], []
    for q in questions:
        try:
            read_image_bytes(q.image, image_root, True)
        except ImageError as exc:
            errors.append({"question_id": q.question_id, "dimension": q.dimension,
                           "error": str(exc)})
            continue
        rows.append({"question_id": q.question_id, "options": q.options,
                     "image": resolve_path(q.image, image_root, True),
                     "prompts": ["<image>" + _format_prompt(t, q, "openflamingo").replace(
                         "<image>", "") for t in templates]})
    work = tempfile.mkdtemp(prefix="vlitq-of-eval-")
    cfg["questions"] = os.path.join(work, "questions.jsonl")
    cfg["predictions"] = os.path.join(work, "predictions.jsonl")
    with open(cfg["questions"], "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    run_cfg = os.path.join(work, "config.json")
    with open(run_cfg, "w", encoding="utf-8") as fh:
        json.dump(cfg, fh, default=str)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_openflamingo_train.py")
    python = cfg.get("python") or sys.executable
    env = dict(os.environ, **(cfg.get("env") or {}))
    proc = subprocess.run([python, worker, "--evaluate", run_cfg], check=False, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"OpenFlamingo evaluation failed (exit {proc.returncode}); is "
                           f"open_flamingo installed for {python}?")
    scored = {}
    dims = {q.question_id: q.dimension for q in questions}
    with open(cfg["predictions"], encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if "error" in r:
                errors.append({"question_id": r["question_id"],
                               "dimension": dims[r["question_id"]], "error": r["error"]})
            else:
                scored[(r["question_id"], r["template"])] = (r["sums"], r["counts"])
    return scored, errors
