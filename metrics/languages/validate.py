"""A planted multilingual dataset: the indicator must count its languages and report each.

70 English, 20 Chinese and 10 French samples plus one German sample: with the default
``min_share=1`` % the German stray (1/101 ≈ 0.99 %) is reported but not counted; per-language figures must carry the planted difference (Chinese instructions are given more
elements). Also checks the agreement with the data's own (declared) languages, where a planted
mislabel must lower it.
"""
import vlitq
from vlitq.data.dataset import Dataset, make_sample

EN = ("What is the man holding in his hand?", "He is holding a black umbrella.")
ZH = ("站在红色汽车旁边的女人左手拿着什么东西？", "她拿着一个蓝色的杯子。")
FR = ("Que tient l'homme dans sa main ?", "Il tient un parapluie noir.")
DE = ("Was hält der Mann in seiner Hand?", "Er hält einen schwarzen Regenschirm.")


def main():
    recs = []
    for lang, pair, n in (("en", EN, 70), ("zh", ZH, 20), ("fr", FR, 10), ("de", DE, 1)):
        for k in range(n):
            declared = lang if not (lang == "fr" and k == 0) else "en"  # one planted mislabel
            recs.append(make_sample(f"{lang}{k}", [pair], language=declared))
    ds = Dataset.from_records(recs)
    rep = vlitq.score(ds, ["language", "elements", "languages"], cache=False, progress=False,
                      config={"languages": {"source": "detected"}})
    d = rep.details("languages")
    print("languages:", rep.indicator("languages"), "counts:", d["counts"])
    print("agreement with declared languages (%):", d["agreement"])
    for lang, row in d["per_language"].items():
        print(f"  {lang}: n={row['n']} elements={row['elements']}")
    assert d["counts"] == {"en": 70, "zh": 20, "fr": 10, "de": 1}, d["counts"]
    assert rep.indicator("languages") == 3.0  # de holds 0.99 % < min_share
    assert abs(d["agreement"] - 100 * 100 / 101) < 1e-3
    assert d["per_language"]["zh"]["elements"] > d["per_language"]["en"]["elements"]
    print("languages: claims hold")


if __name__ == "__main__":
    main()
