import dataclasses
import os

import pytest
import torch


@pytest.fixture
def setup(nb, tmp_path):
    torch.manual_seed(0)
    vocab = nb.Vocab.from_text("hello world, said the sea")
    cfg = nb.ModelConfig(n_tokens=len(vocab), graph="uniform", noise="geometric", block_size=16, n_layer=1,
                         n_head=2, n_embd=16, cond_dim=8)
    model = nb.DiffusionGPT(cfg).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.1)
    path = str(tmp_path / "m.pt")
    # metrics may hold non-plain objects such as torch.__version__; they must not break weights_only loading
    nb.save_checkpoint(path, model, vocab, step=7, metrics={"val_bpc": [1.5], "torch": torch.__version__})
    return vocab, cfg, model, path


def test_round_trip(nb, setup):
    vocab, cfg, model, path = setup
    loaded, blob = nb.load_checkpoint(path, cfg, vocab)
    assert blob["step"] == 7 and blob["metrics"]["val_bpc"] == [1.5]
    assert blob["metrics"]["torch"] == str(torch.__version__)
    x = torch.randint(cfg.n_tokens, (2, 16))
    s = torch.rand(2, 1)
    assert torch.equal(model(x, s), loaded(x, s))


def test_half_precision_round_trip(nb, setup, tmp_path):
    vocab, cfg, model, _ = setup
    path = str(tmp_path / "half.pt")
    nb.save_checkpoint(path, model, vocab, step=1, metrics={}, half=True)
    loaded, _ = nb.load_checkpoint(path, cfg, vocab)
    x = torch.randint(cfg.n_tokens, (2, 16))
    assert torch.allclose(model(x, torch.ones(2, 1)), loaded(x, torch.ones(2, 1)), atol=1e-2)


def test_config_mismatch_names_the_fields(nb, setup):
    vocab, cfg, _, path = setup
    other = dataclasses.replace(cfg, n_embd=32, n_layer=2)
    with pytest.raises(nb.CheckpointMismatch,
                       match=r"n_layer: checkpoint 1, notebook 2.*n_embd: checkpoint 16, notebook 32"):
        nb.load_checkpoint(path, other, vocab)


def test_vocabulary_mismatch_names_the_characters(nb, setup):
    _, cfg, _, path = setup
    other_vocab = nb.Vocab.from_text("hello world, sid the sky")
    with pytest.raises(nb.CheckpointMismatch,
                       match=r"another vocabulary.*only in checkpoint: \['a'\].*only in notebook: \['k', 'y'\]"):
        nb.load_checkpoint(path, cfg, other_vocab)


def test_missing_and_corrupt_files(nb, setup, tmp_path):
    vocab, cfg, _, _ = setup
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        nb.load_checkpoint(str(tmp_path / "nope.pt"), cfg, vocab)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(nb.CheckpointMismatch, match="not a checkpoint written by this notebook"):
        nb.load_checkpoint(str(bad), cfg, vocab)


def test_interrupted_write_leaves_nothing_behind(nb, setup, tmp_path):
    vocab, cfg, model, path = setup
    before = open(path, "rb").read()

    def boom(f):
        f.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        nb.atomic_write(path, boom)
    assert open(path, "rb").read() == before                # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["m.pt"]          # and no temporary file is left
