"""Language of VLIT samples in eight languages (M3IT-style translated instructions).

Each sample is an instruction and a response in one language; the scorer must name it. Prints
accuracy overall, per language, and for instructions and responses on their own (short texts
are harder); asserts sample-level accuracy >= 0.9 and that every Chinese sample is "zh".
"""
from collections import defaultdict

import vlitq
from vlitq.data.dataset import Dataset, make_sample

DATA = {
    "en": [("What is the man holding in his hand?", "He is holding a black umbrella."),
           ("Describe the image in detail.", "A red bus waits at a stop on a busy street."),
           ("How many people are sitting on the bench?", "Three people are sitting there.")],
    "zh": [("图中的男人手里拿着什么？", "他拿着一把黑色的雨伞。"),
           ("请详细描述这张图片。", "一辆红色公交车停在繁忙街道的车站旁。"),
           ("长椅上坐着几个人？", "长椅上坐着三个人。")],
    "fr": [("Que tient l'homme dans sa main ?", "Il tient un parapluie noir."),
           ("Décrivez l'image en détail.", "Un bus rouge attend à un arrêt dans une rue animée."),
           ("Combien de personnes sont assises sur le banc ?", "Trois personnes y sont assises.")],
    "de": [("Was hält der Mann in seiner Hand?", "Er hält einen schwarzen Regenschirm."),
           ("Beschreiben Sie das Bild im Detail.", "Ein roter Bus wartet an einer Haltestelle."),
           ("Wie viele Personen sitzen auf der Bank?", "Drei Personen sitzen auf der Bank.")],
    "es": [("¿Qué sostiene el hombre en la mano?", "Sostiene un paraguas negro."),
           ("Describe la imagen en detalle.", "Un autobús rojo espera en una parada concurrida."),
           ("¿Cuántas personas están sentadas en el banco?", "Hay tres personas sentadas.")],
    "ja": [("男性は手に何を持っていますか？", "黒い傘を持っています。"),
           ("この画像を詳しく説明してください。", "赤いバスがにぎやかな通りの停留所で待っています。"),
           ("ベンチに何人座っていますか？", "三人が座っています。")],
    "ko": [("남자는 손에 무엇을 들고 있나요?", "검은 우산을 들고 있습니다."),
           ("이 이미지를 자세히 설명해 주세요.", "빨간 버스가 붐비는 거리의 정류장에서 기다리고 있습니다."),
           ("벤치에 몇 명이 앉아 있나요?", "세 명이 앉아 있습니다.")],
    "ru": [("Что мужчина держит в руке?", "Он держит чёрный зонт."),
           ("Опишите изображение подробно.", "Красный автобус ждёт на остановке на оживлённой улице."),
           ("Сколько человек сидит на скамейке?", "На скамейке сидят три человека.")],
}


def main():
    recs, gold = [], []
    for lang, pairs in DATA.items():
        for k, (i, r) in enumerate(pairs):
            recs.append(make_sample(f"{lang}{k}", [(i, r)]))
            gold.append(lang)
    rep = vlitq.score(Dataset.from_records(recs), ["language", "languages"], cache=False,
                      progress=False)
    s = rep.samples
    res = {}
    for col in ("language", "language_instruction", "language_response"):
        pred = s[col].to_list()
        res[col] = sum(p == g for p, g in zip(pred, gold)) / len(gold)
        print(f"{col:<22} accuracy {res[col]:.3f}  (n={len(gold)})")
    per = defaultdict(list)
    for p, g in zip(s["language"].to_list(), gold):
        per[g].append(p == g)
    print("per language:", {k: f"{sum(v)}/{len(v)}" for k, v in per.items()})
    misses = [(sid, g, p) for sid, g, p in zip(s["sample_id"], gold, s["language"]) if g != p]
    if misses:
        print("misses:", misses)
    print("languages indicator:", rep.indicator("languages"), rep.details("languages")["counts"])
    assert res["language"] >= 0.9, res
    assert all(per["zh"]), per["zh"]
    assert rep.indicator("languages") >= 7
    print("language: claims hold")


if __name__ == "__main__":
    main()
