import pytest
import torch


@pytest.fixture(scope="module")
def setup(nb):
    torch.manual_seed(0)
    vocab = nb.Vocab.from_text("the quick brown fox jumps over the lazy dog\n,.")
    cfg = nb.ModelConfig(n_tokens=len(vocab), graph="absorbing", block_size=48, n_layer=1, n_head=2,
                         n_embd=16, cond_dim=8)
    model = nb.DiffusionGPT(cfg).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.3)
    return vocab, model


@pytest.mark.parametrize("graph,noise", [("absorbing", "loglinear"), ("uniform", "geometric")])
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_fixed_characters_never_change(nb, setup, graph, noise, method):
    vocab, _ = setup
    cfg = nb.ModelConfig(n_tokens=len(vocab), graph=graph, noise=noise, block_size=48, n_layer=1, n_head=2,
                         n_embd=16, cond_dim=8)
    torch.manual_seed(1)
    model = nb.DiffusionGPT(cfg).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.3)
    template = "the quick ________ fox ____ over the lazy dog"
    outs = nb.infill(model, vocab, template, n_samples=5, steps=16, method=method,
                     generator=torch.Generator().manual_seed(0))
    assert len(outs) == 5
    for out in outs:
        assert len(out) == len(template)
        assert all(o == t for o, t in zip(out, template, strict=True) if t != "_")
        assert "_" not in out                                  # every hole is filled with a real character


def test_explicit_mask_marks_holes_too(nb, setup):
    vocab, model = setup
    text = "the lazy dog"
    mask = [False] * 4 + [True] * 4 + [False] * 4
    fixed = nb.template_to_fixed(vocab, text, 48, mask=mask, pad=False)
    assert fixed.tolist()[4:8] == [-1] * 4 and fixed.tolist()[:4] == vocab.encode("the ")
    out = nb.infill(model, vocab, text, mask=mask, steps=8)[0]
    assert out[:4] == "the " and out[8:] == " dog"


def test_padding_to_the_context(nb, setup):
    vocab, _ = setup
    fixed = nb.template_to_fixed(vocab, "the __g", 48)
    assert fixed.shape == (48,) and (fixed[7:] == -1).all()


@pytest.mark.parametrize("template,kwargs,message", [
    ("the CAT sat on ___ mat", {}, r"template has characters the model does not know: \['A', 'C', 'T'\]"),
    ("the quick ___ fox é", {}, r"does not know: \['é'\]"),
    ("x" * 10 + "_" * 50, {}, r"has 60 characters but the model's context is 48; shorten it by 12"),
    ("the quick brown fox", {}, r"nothing to fill"),
    ("the quick eeee fox", {"placeholder": "e"}, r"placeholder 'e' must be one character outside the vocabulary"),
    ("the quick ## fox", {"placeholder": "##"}, r"must be one character"),
    ("the dog", {"mask": [True, False]}, r"the mask has 2 entries but the template has 7 characters"),
])
def test_bad_templates_are_clear_errors(nb, setup, template, kwargs, message):
    vocab, _ = setup
    with pytest.raises(ValueError, match=message):
        nb.template_to_fixed(vocab, template, 48, **kwargs)


def test_autoregressive_model_refuses_to_infill(nb, setup):
    vocab, _ = setup
    cfg = nb.ModelConfig(n_tokens=len(vocab), graph="autoregressive", noise="none", block_size=48, n_layer=1,
                         n_head=2, n_embd=16, cond_dim=8)
    with pytest.raises(ValueError, match="only continue a prefix"):
        nb.infill(nb.DiffusionGPT(cfg), vocab, "the __g")


def test_exact_conditional_law_with_exact_scores(nb):
    """Absorbing graph + exact score + imposed characters = the exact conditional law (three tokens)."""
    G, sched = nb.AbsorbingGraph(3), nb.LogLinearNoise()
    g = torch.Generator().manual_seed(5)
    p0 = torch.rand(3, 3, 3, generator=g, dtype=torch.float64) ** 3
    p0 /= p0.sum()
    fixed = torch.tensor([-1, 1, -1])                         # condition on the middle character
    x = nb.sample_given(nb.sample, nb.exact_denoiser(p0, G), G, sched, fixed, 40_000, 64, generator=g,
                        progress=False)
    assert (x[:, 1] == 1).all()
    cond = p0[:, 1, :] / p0[:, 1, :].sum()
    emp = torch.zeros(3, 3, dtype=torch.float64)
    emp.index_put_((x[:, 0], x[:, 2]), torch.ones(len(x), dtype=torch.float64), accumulate=True)
    assert 0.5 * (emp / len(x) - cond).abs().sum() < 0.02
