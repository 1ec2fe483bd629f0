import subprocess
import sys


def test_import_is_light():
    code = (
        "import sys, vlitq; vlitq.components(); "
        "heavy = [m for m in ('torch', 'transformers', 'open_clip', 'ray', 'hanlp', "
        "'sentence_transformers', 'spacy') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_component_has_a_card():
    import os

    import vlitq

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "metrics")
    missing = [n for n in vlitq.components() if not n.startswith("_")
               and not os.path.isfile(os.path.join(root, n, "README.md"))]
    assert not missing, f"components without a card in metrics/: {missing}"
