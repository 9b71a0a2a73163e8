"""A reader's own text: "Run all" trains on it instead of stopping at the shipped checkpoints' vocabulary."""
import json
import os

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
