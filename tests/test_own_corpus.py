"""A reader's own text: "Run all" trains on it instead of stopping at the shipped checkpoints' vocabulary, and
every cell runs on it, the examples and templates taken from that text when Shakespeare's do not fit."""
import json
import os
import re

import pytest

from conftest import NOTEBOOK, ROOT

CELLS = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
PARAMS = next("".join(c["source"]) for c in CELLS if "parameters" in c.get("metadata", {}).get("tags", []))
TRAIN_OR_LOAD = next("".join(c["source"]) for c in CELLS if "def train_or_load" in "".join(c["source"]))


@pytest.fixture
def ns(nb, monkeypatch):
    import torch
    monkeypatch.setenv("DIFFUSION_PRESET", "smoke")
    ns = dict(vars(nb))
    exec(PARAMS, ns)
    text = "the quick brown fox jumps over the lazy dog\n" * 400          # another, smaller vocabulary
    vocab = nb.Vocab.from_text(text)
    data = torch.tensor(vocab.encode(text))
    ns.update(text=text, vocab=vocab, train_data=data[:15000], val_data=data[15000:], graph_name="absorbing",
              shipped_dir=str(ROOT / "assets"), load_pretrained=True, strict_load=False,
              P=dict(ns["P"], max_iters=2, eval_interval=1, eval_batches=1))
    return ns


def test_default_run_all_trains_when_the_shipped_models_do_not_fit(nb, ns, capsys):
    exec(TRAIN_OR_LOAD, ns)
    out = capsys.readouterr().out
    assert "not loading the shipped absorbing model" in out and "another vocabulary" in out
    assert ns["loaded"] == {"absorbing": False} and ns["model"].cfg.n_tokens == len(ns["vocab"])
    assert os.path.exists(os.path.join(ns["ckpt_dir"], "smoke-absorbing.pt"))


def test_explicit_load_insists(nb, ns):
    ns["strict_load"] = True
    with pytest.raises(nb.CheckpointMismatch, match="another vocabulary"):
        exec(TRAIN_OR_LOAD, ns)


# ---- Run all on two other texts ---------------------------------------------------------------------------------

SHAKESPEARE = ROOT / "data" / "input.txt"
CYRILLIC = str.maketrans({**{chr(ord("a") + i): chr(ord("а") + i) for i in range(26)},      # a..z -> а..щ
                          **{chr(ord("A") + i): chr(ord("А") + i) for i in range(26)}})     # A..Z -> А..Щ


def build_corpus(kind, folder, n_chars=300_000):
    """Two texts made from Tiny Shakespeare, written to `folder`; nothing is downloaded or committed.
    "lower": lower-cased, with Gutenberg-style _italics_ (so the placeholder `_` is a character of the text);
    "cyrillic": every Latin letter mapped to a Cyrillic one, case kept, punctuation and line breaks as they are."""
    source = SHAKESPEARE.read_text(encoding="utf-8")[:n_chars]
    text = {"lower": lambda: re.sub(r"\blord\b", "_lord_", source.lower()),
            "cyrillic": lambda: source.translate(CYRILLIC)}[kind]()
    path = folder / f"{kind}.txt"
    path.write_text(text, encoding="utf-8")
    return path


# appended to the notebook: Part 9's words exist in any script, and are mostly real words in real text
WORDS_CHECK = """
words, lexicon = words_of(val_text), set(words_of(text[:len(train_data)]))
share = sum(w in lexicon for w in words) / max(1, len(words))
assert len(words) > len(val_text) / 10 and share > 0.8, (len(words), share)
print(f"words check: {len(words)} words, {share:.0%} real; hole {vocab.hole!r}")
"""


def stdout_of(cell):
    return "".join("".join(o["text"]) for o in cell.get("outputs", []) if o.get("name") == "stdout")


def the_cell(nb, needle):
    hits = [c for c in nb["cells"] if c["cell_type"] == "code" and needle in "".join(c["source"])]
    assert len(hits) == 1, (needle, len(hits))
    return hits[0]


RUN = """
import json, sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
nb.cells.append(nbformat.v4.new_code_cell(sys.argv[3]))
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[4]}}).execute()
nbformat.write(nb, sys.argv[2])
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Run all on both texts, smoke preset, as two processes at once with a thread each (half the wall time of one
    after the other on two cores): kind -> the executed notebook."""
    import nbformat
    import subprocess
    import sys
    folder, procs = tmp_path_factory.mktemp("own"), {}
    for kind in ("lower", "cyrillic"):
        env = {k: v for k, v in os.environ.items() if k not in ("DIFFUSION_LOAD", "DIFFUSION_EVAL", "DIFFUSION_GRAPH")}
        env.update(DIFFUSION_PRESET="smoke", DIFFUSION_DATA=str(build_corpus(kind, folder)), OMP_NUM_THREADS="1")
        procs[kind] = subprocess.Popen([sys.executable, "-c", RUN, str(NOTEBOOK), str(folder / f"{kind}.ipynb"),
                                        WORDS_CHECK, str(ROOT)], env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
    out = {}
    for kind, proc in procs.items():
        log = proc.communicate(timeout=900)[0]
        assert proc.returncode == 0, log[-3000:]
        out[kind] = nbformat.read(str(folder / f"{kind}.ipynb"), as_version=4)
    return out


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="data/input.txt is not there: the corpora are made from it")
@pytest.mark.parametrize("kind", ["lower", "cyrillic"])
def test_run_all_on_your_own_text(kind, executed):
    """The whole notebook, smoke preset, on a lower-case-only text and on a text in another script."""
    nb = executed[kind]
    data_cell = stdout_of(the_cell(nb, "vocab = Vocab.from_text(text)"))
    assert "300," in data_cell and "✔ encode/decode round trip" in data_cell
    line = stdout_of(the_cell(nb, "But, soft! what light through yonder window breaks?"))
    clean = [row for row in line.split("\n") if row.startswith("t=0.1 ")][1]       # uniform graph, σ̄ ≈ 0
    assert line.count("t=0.") == 10 and sum(c.isalpha() for c in clean) >= 30, line   # a line of words, not ':!?'
    fills = stdout_of(the_cell(nb, "It is the east, and Juliet is the sun."))
    assert len(fills.strip().split("\n")) >= 3
    skeleton = stdout_of(the_cell(nb, "KING RICHARD II:"))
    assert len(skeleton) > 150
    edit = stdout_of(the_cell(nb, "edit_template")).strip().split("\n")
    assert len(edit) == 5 and all(" | " in row for row in edit)     # original, 3 fills, AR
    words = stdout_of(nb.cells[-1])
    assert "words check" in words
    if kind == "lower":                                      # the text has `_`: templates and masks use another mark
        assert "hole '█'" in words and "romeo:" in line and fills.count("but, soft! what light through ") == 3
        assert skeleton.startswith("king richard ii:\n")
    else:                                                    # nothing of Shakespeare's spelling: passages of its own
        assert "hole '_'" in words and "your text cannot spell 'ROMEO:'" in line + fills
        assert "your text cannot spell 'KING RICHARD II:'" in skeleton
