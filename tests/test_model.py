import pytest
import torch


def tiny_config(nb, graph="absorbing", **kw):
    noise = {"absorbing": "loglinear", "uniform": "geometric"}.get(graph, "none")
    return nb.ModelConfig(n_tokens=11, graph=graph, noise=noise, block_size=16, n_layer=2, n_head=2,
                          n_embd=16, cond_dim=8, **kw)


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
def test_denoiser_shapes_and_current_entry_zero(nb, graph):
    torch.manual_seed(0)
    cfg = tiny_config(nb, graph)
    model = nb.DiffusionGPT(cfg)
    G = nb.make_graph(graph, 11)
    x = torch.randint(G.dim, (3, 16))
    out = nb.make_denoiser(model, G)(x, torch.rand(3, 1) + 0.01)
    assert out.shape == (3, 16, G.dim)
    assert (out.gather(-1, x[..., None]) == 0).all()


def test_denoiser_is_bidirectional_and_ar_is_causal(nb):
    torch.manual_seed(0)
    for graph, causal in (("absorbing", False), ("autoregressive", True)):
        model = nb.DiffusionGPT(tiny_config(nb, graph))
        for p in model.parameters():                    # leave the zero init so every path carries signal
            p.data.normal_(0, 0.2)
        x = torch.randint(11, (1, 16))
        y = x.clone(); y[0, -1] = (y[0, -1] + 1) % 11  # change only the last position
        a, b = model(x, torch.ones(1, 1)), model(y, torch.ones(1, 1))
        changed_early = not torch.allclose(a[0, :-1], b[0, :-1])
        assert changed_early != causal


def test_noise_conditioning_reaches_the_output_only_when_enabled(nb):
    torch.manual_seed(0)
    for cond in (True, False):
        model = nb.DiffusionGPT(tiny_config(nb, time_conditioning=cond))
        for p in model.parameters():
            p.data.normal_(0, 0.2)
        x = torch.randint(12, (1, 16))
        differs = not torch.allclose(model(x, torch.full((1, 1), 0.1)), model(x, torch.full((1, 1), 3.0)))
        assert differs == cond


def test_kv_cache_generation_matches_full_forward(nb, scale):
    torch.manual_seed(0)
    model = nb.DiffusionGPT(tiny_config(nb, "autoregressive")).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    x = nb.generate_ar(model, 4, 16, generator=torch.Generator().manual_seed(0), progress=False)
    assert x.shape == (4, 16) and x.max() < 11
    # the appendix's cached generation draws the same characters from the same generator
    cached = scale.generate_ar_cached(model, 4, 16, generator=torch.Generator().manual_seed(0), progress=False)
    assert torch.equal(cached, x)
    # replay with the cache and compare every step's logits with one full causal pass
    bos = torch.full((4, 1), 11)
    full = model(torch.cat([bos, x[:, :-1]], 1))
    cache = [dict() for _ in model.blocks]
    inp = bos
    for pos in range(16):
        step = scale.forward_cached(model, inp, cache, pos)[:, -1]
        assert torch.allclose(step, full[:, pos], atol=1e-5)
        inp = x[:, pos:pos + 1]


def test_block_size_is_enforced_with_a_clear_error(nb):
    model = nb.DiffusionGPT(tiny_config(nb))
    with pytest.raises(ValueError, match="block_size is 16"):
        model(torch.zeros(1, 17, dtype=torch.long), torch.ones(1, 1))


def test_training_reduces_the_loss_on_a_tiny_corpus(nb):
    """A few dozen steps on a repetitive text must beat the unigram plateau: the training loop learns."""
    torch.manual_seed(0)
    text = "abcdefghij" * 400
    vocab = nb.Vocab.from_text(text)
    data = torch.tensor(vocab.encode(text))
    cfg = nb.ModelConfig(n_tokens=len(vocab), graph="absorbing", block_size=16, n_layer=2, n_head=2,
                         n_embd=32, cond_dim=16)
    tc = nb.TrainConfig(max_iters=300, batch_size=16, lr=3e-3, warmup_iters=10, eval_interval=300, eval_batches=2)
    ema, hist = nb.train(nb.DiffusionGPT(cfg), data, data, tc)
    assert hist["val_bpc"][-1] < 0.5 * 3.32          # unigram entropy of this text is log2(10)


def test_rotary_turns_each_pair_and_its_gradient_turns_back(nb, scale):
    """Rotary rotates (x_k, x_{k+d/2}) by pos·θ_k; scores then depend on offsets only; the appendix's in-place
    kernel (scale.Rotary) equals Part 6's apply_rotary, and its custom backward agrees with autograd on the plain
    formula (gradcheck in float64)."""
    T, hs = 12, 8
    cos, sin = (r.double() for r in nb.rotary_tables(T, hs))
    x = torch.randn(2, T, 3, hs, dtype=torch.float64, requires_grad=True)
    c, s = cos[:, None], sin[:, None]
    y = nb.apply_rotary(x, c, s)
    x1, x2 = x[..., :hs // 2], x[..., hs // 2:]
    assert torch.allclose(y, torch.cat([x1 * c - x2 * s, x1 * s + x2 * c], -1))
    assert torch.allclose(scale.Rotary.apply(x, c, s), y)
    assert torch.autograd.gradcheck(lambda z: scale.Rotary.apply(z, c, s), (x,))
    g = torch.randn_like(y)
    assert torch.allclose(torch.autograd.grad(scale.Rotary.apply(x, c, s), x, g)[0],
                          torch.autograd.grad(nb.apply_rotary(x, c, s), x, g)[0])
    q, k = torch.randn(hs, dtype=torch.float64), torch.randn(hs, dtype=torch.float64)
    rot = lambda v, p: nb.apply_rotary(v[None], cos[p:p + 1], sin[p:p + 1])[0]
    assert torch.allclose(rot(q, 7) @ rot(k, 3), rot(q, 5) @ rot(k, 1))         # offset 4 both times


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
def test_the_network_compiles_into_one_graph(nb, graph):
    """torch.compile (on by default on CUDA) sees the whole network: no graph break, so nothing falls back to
    Python between kernels."""
    model = nb.DiffusionGPT(tiny_config(nb, graph, time_conditioning=graph == "uniform"))
    x = torch.randint(11, (2, 16))
    torch._dynamo.reset()
    explained = torch._dynamo.explain(model)(x, torch.rand(2, 1))
    assert explained.graph_break_count == 0, [str(b.reason)[:200] for b in explained.break_reasons]
