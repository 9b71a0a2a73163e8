"""Part 12, block diffusion: the bound against brute force at both ends and in between, the one pass over 2L
positions against a loop over the blocks (loss and gradients), and the sampler: exact on a toy law with exact
conditionals, and the same draws with its key/value cache as without."""
import itertools
import math
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

TINY = dict(block_size=16, n_layer=2, n_head=2, n_embd=32, cond_dim=16)


def net(nb, graph="absorbing", block_len=4, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = nb.ModelConfig(n_tokens=5, graph=graph, noise={"absorbing": "loglinear", "uniform": "geometric"}[graph],
                         time_conditioning=graph == "uniform", block_len=block_len, **dict(TINY, **kw))
    m = nb.DiffusionGPT(cfg)
    for p in m.parameters():                   # an arbitrary network: adaLN's zero start would hide the time input
        p.data.normal_(0, 0.2, generator=torch.Generator().manual_seed(seed))
    return m.eval()


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
def test_one_pass_equals_a_loop_over_the_blocks_in_loss_and_gradients(nb, graph):
    m = net(nb, graph).train(False)
    gr, nz = nb.graph_and_noise(m.cfg)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randint(5, (6, 16), generator=g)
    t = nb.block_times(6, 4, g).repeat_interleave(4, 1)                     # (B, L): a time per block
    sigma = nz.total_noise(t)
    x_t = gr.sample_transition(x0, sigma, g)
    assert (x_t != x0).any()
    loop = lambda x, s: gr.log_score(nb.naive_block_outputs(m, x, x0, s), x, s)
    results = []
    for den in (nb.block_denoiser(m, gr, x0), loop):
        m.zero_grad()
        loss = (nz.rate_noise(t) * gr.score_entropy(den(x_t, sigma), sigma, x_t, x0)).sum()
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in m.parameters()]))
    (a, ga), (b, gb) = results
    assert torch.allclose(a, b, rtol=1e-5), (a, b)
    # float32 sums in another order: each gradient equal to 1e-5 of its largest entry
    assert all((u - v).abs().max() <= 1e-5 * u.abs().max() for u, v in zip(ga, gb, strict=True))
    assert sum(u.abs().sum() for u in ga) > 0


@pytest.mark.parametrize("L,N", [(4, 2), (6, 2), (3, 3)])
def test_the_block_bound_is_the_exact_nll_for_exact_conditionals_at_every_block_length(nb, L, N):
    "Part 5's any-order identity inside every block: with ε = 0, E[(B2)] summed over blocks is -log p(x)."
    p0 = torch.rand((N,) * L, generator=torch.Generator().manual_seed(L), dtype=torch.float64) ** 3
    p0 /= p0.sum()
    for Lb in [d for d in range(1, L + 1) if L % d == 0]:
        for x in itertools.product(range(N), repeat=L):
            bound = nb.exact_block_bound(nb.toy_log_p(p0), torch.tensor(x), Lb, N, eps=0.0)
            assert abs(bound + p0[x].log().item()) < 1e-9, (Lb, x)
    # with ε > 0 and one-character blocks, the sampler's law of each character is (1-ε) p(x_i | x_<i) + ε/N (a
    # character survives to t = 1 with probability ε, then uniform), and the bound lies above its NLL
    x, eps = torch.zeros(L, dtype=torch.long), 1e-3
    cond = [p0[(0,) * (i + 1)].sum().item() / p0[(0,) * i].sum().item() for i in range(L)]
    mixture = -sum(math.log((1 - eps) * c + eps / N) for c in cond)
    bound = nb.exact_block_bound(nb.toy_log_p(p0), x, 1, N, eps)
    exact = (1 - eps) * -math.log(p0[tuple(x.tolist())]) + L * eps * math.log(N)
    assert mixture < bound and abs(bound - exact) < 1e-9


@pytest.mark.parametrize("graph", ["absorbing", "uniform"])
def test_one_block_is_part_5s_bound_draw_for_draw(nb, graph):
    whole, plain = net(nb, graph, block_len=16), net(nb, graph, block_len=0)
    gr, nz = nb.graph_and_noise(plain.cfg)
    x0 = torch.randint(5, (32, 16), generator=torch.Generator().manual_seed(2))
    a = nb.model_nll(whole, x0, torch.Generator().manual_seed(0))
    b = nb.diffusion_nll(nb.make_denoiser(plain, gr), gr, nz, x0, torch.Generator().manual_seed(0))
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-4)
    la = nb.training_loss(whole, x0, torch.Generator().manual_seed(0))
    lb = nb.training_loss(plain, x0, torch.Generator().manual_seed(0))
    assert torch.allclose(la, lb, rtol=1e-5)


def enumerated(nb, Lb):
    "An arbitrary block network on a window of 4, the window, and its bound with every mask set enumerated."
    m = net(nb, block_len=Lb, block_size=4)
    x0 = torch.tensor([1, 3, 0, 2])
    log_p = lambda x: nb.naive_block_outputs(m, x[None], x[None])[0, :, :5].double().log_softmax(-1)
    return m, x0, nb.exact_block_bound(log_p, x0, Lb, 5)


@pytest.mark.parametrize("Lb", [1, 2, 4])
def test_the_one_pass_estimate_is_unbiased_for_the_enumerated_bound(nb, Lb):
    m, x0, exact = enumerated(nb, Lb)
    est = nb.model_nll(m, x0.expand(40_000, 4), torch.Generator().manual_seed(Lb)).double()
    se = est.std().item() / len(est) ** 0.5
    assert abs(est.mean().item() - exact) < 4 * se, (est.mean().item(), exact, se)


def test_one_character_blocks_give_the_networks_own_left_to_right_nll(nb):
    m = net(nb, block_len=1, block_size=6)
    x0 = torch.tensor([4, 0, 0, 1, 3, 2])
    log_p = lambda x: nb.naive_block_outputs(m, x[None], x[None])[0, :, :5].double().log_softmax(-1)
    lr = 0.0
    for i in range(6):                          # by hand: the clean prefix, then a mask, read causally
        h = m(torch.cat([x0[:i], torch.tensor([5])])[None], mask=torch.ones(i + 1, i + 1).tril().bool())
        lr -= h[0, -1, :5].double().log_softmax(-1)[x0[i]].item()
    eps = 1e-3
    assert abs(nb.exact_block_bound(log_p, x0, 1, 5, eps) - ((1 - eps) * lr + 6 * eps * math.log(5))) < 1e-9


def test_times_are_one_per_block_and_uniform(nb):
    t = nb.block_times(1000, 8, torch.Generator().manual_seed(0))
    assert t.shape == (1000, 8) and 0 < t.min() and t.max() <= 1
    assert abs(t.mean().item() - 0.5) < 0.01 and abs(t[:, 0].mean().item() - 0.5) < 0.03   # each block's marginal
    assert t.std(1).mean() > 0.2                                            # blocks of one window differ


@pytest.mark.parametrize("graph,method", [("absorbing", "first_hitting"), ("absorbing", "tweedie"),
                                          ("uniform", "tweedie")])
def test_the_cache_gives_the_same_draws_as_reading_every_window_anew(nb, graph, method):
    """Within the context, exactly the same draws. Beyond it the two differ by design once the network has two
    layers: a cached block keeps the keys it got reading its own earlier blocks, which a re-read window has cut."""
    m = net(nb, graph, block_len=4)
    gr, nz = nb.graph_and_noise(m.cfg)
    draw = lambda cache, n: nb.sample_blocks(nb.block_context(m, gr, cache), gr, nz, 3, n, 4, 5, method,
                                             generator=torch.Generator().manual_seed(0), progress=False)
    cached, anew = draw(True, 16), draw(False, 16)
    assert cached.shape == (3, 16) and torch.equal(cached, anew) and (cached < 5).all()
    long = draw(True, 70)
    assert long.shape == (3, 70) and torch.equal(long[:, :16], cached) and (long < 5).all()


def test_the_cache_holds_only_the_context_and_old_text_is_not_read(nb):
    "A block reads the last block_size - block_len characters (one layer: nothing older reaches it at all)."
    m = net(nb, block_len=4, n_layer=1)
    gr, _ = nb.graph_and_noise(m.cfg)
    prefix = torch.randint(5, (2, 40), generator=torch.Generator().manual_seed(3))
    x_t, outs = torch.full((2, 4), 5), []
    for p in (prefix, torch.cat([torch.randint(5, (2, 28)), prefix[:, 28:]], 1)):   # differ before the last 12
        given = nb.block_context(m, gr, cache=True)
        given(p[:, :20])
        outs.append(given(p)(x_t, torch.ones(2, 1)))                        # written in two goes of several blocks
    assert torch.allclose(*outs, atol=1e-5)
    anew = nb.block_context(m, gr, cache=False)(prefix)(x_t, torch.ones(2, 1))
    assert torch.allclose(outs[0], anew, atol=1e-5)


def test_the_sampler_draws_a_toy_law_exactly_given_exact_conditionals(nb):
    N, L, Lb = 2, 4, 2
    p0 = torch.rand((N,) * L, generator=torch.Generator().manual_seed(5), dtype=torch.float64) + 0.1
    p0 /= p0.sum()
    G, sched = nb.AbsorbingGraph(N), nb.LogLinearNoise()

    def given(prefix):                        # the exact denoiser of the next block given each row's prefix
        P = prefix.shape[1]
        keys = (prefix * N ** torch.arange(P)).sum(1)

        def den(x_t, s):
            out = torch.empty(*x_t.shape, G.dim, dtype=torch.float64)
            for k in keys.unique():
                rows = keys == k
                law = p0[tuple(prefix[rows][0].tolist())]               # (N,) * (L - P)
                law = law.sum(tuple(range(Lb, L - P))) if L - P > Lb else law     # the next block's law
                out[rows] = nb.exact_denoiser(law / law.sum(), G)(x_t[rows], s[rows])
            return out
        return den

    g = torch.Generator().manual_seed(0)
    for method in ("first_hitting", "tweedie"):
        x = nb.sample_blocks(given, G, sched, 20_000, L, Lb, 64, method, generator=g, progress=False)
        assert nb.total_variation(x, p0) < 0.02, method


def test_bad_block_lengths_are_clear_errors(nb, tmp_path):
    with pytest.raises(ValueError, match="must divide"):
        nb.ModelConfig(n_tokens=5, block_size=16, block_len=3)
    with pytest.raises(ValueError, match="diffusion"):
        nb.ModelConfig(n_tokens=5, graph="autoregressive", block_size=16, block_len=4)
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--preset", "smoke", "--block-len", "7",
                        "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and "must divide" in r.stderr and "Traceback" not in r.stderr


def test_a_block_model_trains_saves_and_loads(nb, tmp_path):
    torch.manual_seed(0)
    m = nb.DiffusionGPT(nb.ModelConfig(n_tokens=5, block_len=4, time_conditioning=False, **TINY))
    x0 = torch.randint(5, (8, 16), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-2)
    m.train()
    losses = []
    for _ in range(30):
        loss = nb.training_loss(m, x0, torch.Generator().manual_seed(1))     # the same draws: a fixed objective
        opt.zero_grad(); loss.backward(); opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    vocab = nb.Vocab("abcde")
    path = str(tmp_path / "b.pt")
    nb.save_checkpoint(path, m, vocab, 30, {})
    back, _ = nb.load_checkpoint(path, None, vocab)
    assert back.cfg.block_len == 4
    assert torch.allclose(nb.model_nll(back, x0, torch.Generator().manual_seed(2)),
                          nb.model_nll(m.eval(), x0, torch.Generator().manual_seed(2)), atol=1e-4)
