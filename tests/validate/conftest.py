"""Tiny LLaVA and BLIP-2 checkpoints built from configs (random weights), saved and reloaded the
way users load real ones, plus a small SEED-Bench-style benchmark with generated images."""
import json

import numpy as np
import pytest

CORPUS = [
    "USER: What colour is the square? ASSISTANT: The square is red.",
    "Question: what is shown in the picture? Answer: a blue circle on a white background",
    "Describe the image in detail. There are two green triangles and one yellow star.",
    "How many objects are there? three objects, left, right, top, bottom, yes, no",
]
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]


def make_tokenizer(image_token=True):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 5, trainer)
    extra = {"extra_special_tokens": {"image_token": "<image>"}} if image_token else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                   eos_token="</s>", pad_token="<pad>", **extra)


def build_llava(path):
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tok = make_tokenizer()
    image_id = tok.convert_tokens_to_ids("<image>")
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                       num_attention_heads=2, image_size=32, patch_size=8,
                                       projection_dim=32),
        text_config=LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                                num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                                max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                                bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        image_token_index=image_id, image_seq_length=16, vision_feature_layer=-2)
    model = LlavaForConditionalGeneration(cfg)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=8,
                          vision_feature_select_strategy="default",
                          num_additional_image_tokens=1)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


def build_blip2(path):
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        Blip2Processor,
        Blip2QFormerConfig,
        Blip2VisionConfig,
        BlipImageProcessor,
        OPTConfig,
    )

    torch.manual_seed(0)
    # Blip2Processor adds the <image> token itself, as with the real OPT tokenizer.
    proc = Blip2Processor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                          tokenizer=make_tokenizer(image_token=False), num_query_tokens=4)
    tok = proc.tokenizer
    image_id = tok.convert_tokens_to_ids("<image>")
    cfg = Blip2Config(
        vision_config=Blip2VisionConfig(hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=2,
                                        image_size=32, patch_size=8),
        qformer_config=Blip2QFormerConfig(hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64,
                                          encoder_hidden_size=32, vocab_size=len(tok)),
        text_config=OPTConfig(vocab_size=len(tok), hidden_size=64, ffn_dim=128,
                              num_hidden_layers=2, num_attention_heads=4, word_embed_proj_dim=64,
                              max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                              bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id),
        num_query_tokens=4, image_token_index=image_id)
    model = Blip2ForConditionalGeneration(cfg)
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory):
    return str(build_llava(tmp_path_factory.mktemp("tiny-llava")))


@pytest.fixture(scope="session")
def tiny_blip2(tmp_path_factory):
    return str(build_blip2(tmp_path_factory.mktemp("tiny-blip2")))


COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220), "green": (30, 200, 30)}


def write_images(folder, n=6, seed=0):
    from PIL import Image

    rng = np.random.default_rng(seed)
    names = []
    for i in range(n):
        colour = list(COLOURS)[i % 3]
        arr = np.clip(np.array(COLOURS[colour]) + rng.integers(-20, 20, (32, 32, 3)), 0, 255)
        name = f"img{i}_{colour}.png"
        Image.fromarray(arr.astype(np.uint8)).save(folder / name)
        names.append((name, colour))
    return names


@pytest.fixture()
def seed_bench(tmp_path):
    """A SEED-Bench-shaped file: 2 dimensions, choice_a..d, letter answers, question_type_id."""
    imgs = write_images(tmp_path)
    questions = []
    for i, (name, colour) in enumerate(imgs):
        opts = ["red", "blue", "green", "yellow"]
        questions.append({"question_id": str(i), "data_id": name, "question":
                          "What colour is the square?",
                          **{f"choice_{c}": o for c, o in zip("abcd", opts)},
                          "answer": "ABCD"[opts.index(colour)],
                          "question_type_id": 1 if i % 2 else 2})
    questions.append({"question_id": "video", "data_type": "video", "data_id": "v.mp4",
                      "question": "?", "choice_a": "x", "choice_b": "y", "answer": "A",
                      "question_type_id": 10})
    questions.append({"question_id": "broken", "data_id": "missing.png", "question": "?",
                      "choice_a": "x", "choice_b": "y", "answer": "A", "question_type_id": 1})
    path = tmp_path / "seed.json"
    path.write_text(json.dumps({"questions": questions,
                                "question_type": {"Instance Attributes": 1, "Scene": 2}}))
    return path


@pytest.fixture()
def colour_subset(tmp_path):
    """A vlitq Dataset of 4 samples (one two-turn) with small images, plus one without an image."""
    from vlitq.data.dataset import Dataset, make_sample

    folder = tmp_path / "subset"
    folder.mkdir()
    imgs = write_images(folder, n=4, seed=1)
    recs = [make_sample(f"s{i}", [("What colour is the square?", f"The square is {c}.")],
                        [name]) for i, (name, c) in enumerate(imgs)]
    recs[0]["turns"].append({"instruction": "Is it a circle?", "response": "no"})
    recs.append(make_sample("text-only", [("Say yes.", "yes")], []))
    return Dataset.from_records(recs, image_root=str(folder))
