"""Part 11: the cache, the first-hitting sampler, pages longer than the context, and the sampling knobs."""
import math

import pytest
import torch

P2 = torch.tensor([[0.4, 0.0, 0.0], [0.0, 0.3, 0.05], [0.05, 0.0, 0.2]], dtype=torch.float64)


def p3_law(seed=0, N=3):
    p = torch.rand(N, N, N, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) ** 3
    return p / p.sum()


def tiny(nb, graph, block_size=48, seed=0):
    torch.manual_seed(seed)
    cfg = nb.build_config(dict(block_size=block_size, n_layer=1, n_head=2, n_embd=32, cond_dim=8), 12, graph)
    return nb.DiffusionGPT(cfg).eval()


# ---- 11.1 the cache -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("steps", [8, 64, 200])
@pytest.mark.parametrize("with_fixed", [False, True])
def test_cache_gives_the_same_samples_from_the_same_generator(nb, steps, with_fixed):
    m = tiny(nb, "absorbing")
    gr, nz = nb.graph_and_noise(m.cfg)
    fixed = torch.full((48,), -1)
    if with_fixed:
        fixed[:20] = 5
    runs, counter = [], {}
    for den in (nb.make_denoiser(m, gr), nb.cached_denoiser(m, gr, counter)):
        g = torch.Generator().manual_seed(7)
        runs.append(nb.sample_given(nb.sample, den, gr, nz, fixed, 6, steps, generator=g, progress=False)
                    if with_fixed else nb.sample(den, gr, nz, 6, 48, steps, generator=g, progress=False))
    assert torch.equal(runs[0], runs[1])
    # a row goes through the network at most once per step, and at most once per change of that row (plus the first)
    assert counter["rows"] <= 6 * min(steps + 1, 48 - 20 * with_fixed + 1)


def test_cache_saves_what_the_formula_says(nb):
    m = tiny(nb, "absorbing")
    gr, nz = nb.graph_and_noise(m.cfg)
    for steps in (16, 48, 200):
        counter = {}
        nb.sample(nb.cached_denoiser(m, gr, counter), gr, nz, 200, 48, steps,
                  generator=torch.Generator().manual_seed(steps), progress=False)
        expected = 200 * (nb.expected_network_rows(steps, 48) + 1)
        assert abs(counter["rows"] - expected) < 0.03 * expected, (steps, counter, expected)


def test_cache_refuses_a_denoiser_that_reads_the_time(nb):
    m = tiny(nb, "uniform")
    with pytest.raises(ValueError, match="does not read the noise level"):
        nb.cached_denoiser(m, nb.graph_and_noise(m.cfg)[0])


# ---- 11.2 the first-hitting sampler ------------------------------------------------------------------------

@pytest.mark.parametrize("noise", ["loglinear", "geometric"])
def test_first_hitting_is_exact_on_toy_laws(nb, noise):
    """With exact scores the samples follow p0 (any schedule), with exactly one call per position."""
    g = torch.Generator().manual_seed(1)
    for p0 in (P2, p3_law()):
        G, calls = nb.AbsorbingGraph(p0.shape[0]), []
        exact = nb.exact_denoiser(p0, G)
        den = lambda x, s, calls=calls, exact=exact: calls.append(1) or exact(x, s)
        x = nb.first_hitting_sample(den, G, nb.make_noise(noise), 40_000, p0.dim(), generator=g, progress=False)
        assert len(calls) == p0.dim() and x.max() < G.mask
        assert nb.total_variation(x, p0) < 0.015
    # few-step Tweedie, for contrast, is visibly biased on the correlated law
    G = nb.AbsorbingGraph(3)
    x = nb.sample(nb.exact_denoiser(P2, G), G, nb.make_noise(noise), 40_000, 2, 2, generator=g, progress=False)
    assert nb.total_variation(x, P2) > 0.05


@pytest.mark.parametrize("noise", ["loglinear", "geometric"])
def test_reveal_times_follow_the_forward_process(nb, noise):
    """Pooled over positions, m(τ*) = 1 - e^{-σ̄(τ*)} is uniform on (0, m(1)): each position's masking time."""
    sched, G, levels = nb.make_noise(noise), nb.AbsorbingGraph(3), []
    exact = nb.exact_denoiser(p3_law(2), G)
    def den(x, sigma):
        levels.append(-torch.expm1(-sigma.double()))
        return exact(x, sigma)
    nb.first_hitting_sample(den, G, sched, 20_000, 3, generator=torch.Generator().manual_seed(2), progress=False)
    m1 = -math.expm1(-float(sched.total_noise(torch.tensor(1.0, dtype=torch.float64))))
    u = (torch.cat(levels).flatten() / m1).sort().values
    ks = (u - torch.arange(1, len(u) + 1, dtype=torch.float64) / len(u)).abs().max().item()
    assert ks < 1.63 / math.sqrt(len(u))                     # Kolmogorov-Smirnov at the 1% level
    # and in each sample the levels fall: the k-th reveal is the latest of the k masking times left
    lv = torch.stack([lev.flatten() for lev in levels], 1)
    assert (lv[:, 1:] < lv[:, :-1]).all()


def test_first_hitting_is_random_order_autoregression(nb):
    """Every order of the positions is equally likely, and the fill of each given the revealed ones is exact."""
    G, traj = nb.AbsorbingGraph(3), []
    p0 = p3_law(3)
    x = nb.first_hitting_sample(nb.exact_denoiser(p0, G), G, nb.LogLinearNoise(), 30_000, 3,
                                generator=torch.Generator().manual_seed(3), trajectory=traj, progress=False)
    orders = torch.stack([(b != a).int().argmax(-1) for a, b in zip(traj, traj[1:], strict=False)], 1)
    _, counts = torch.unique(orders, dim=0, return_counts=True)
    assert len(counts) == 6 and (counts / 30_000 - 1 / 6).abs().max() < 0.015
    assert nb.total_variation(x, p0) < 0.015


def test_first_hitting_infills_exactly(nb):
    """First hitting on the free positions (sample_given), with exact scores, draws the exact conditional law,
    with one call per free position; every input the denoiser sees holds the fixed character."""
    G, fixed = nb.AbsorbingGraph(3), torch.tensor([-1, 2, -1])
    p0, exact, seen = p3_law(4), nb.exact_denoiser(p3_law(4), G), []
    def spy(x, sigma):
        seen.append(x.clone())
        return exact(x, sigma)
    x = nb.sample_given(nb.first_hitting_sample, spy, G, nb.LogLinearNoise(), fixed, 40_000,
                        generator=torch.Generator().manual_seed(4), progress=False)
    assert x.shape == (40_000, 3) and (x[:, 1] == 2).all() and x.max() < G.mask
    assert len(seen) == 2 and all(s.shape == (40_000, 3) and (s[:, 1] == 2).all() for s in seen)
    cond = p0[:, 2, :] / p0[:, 2, :].sum()
    assert nb.total_variation(x[:, [0, 2]], cond) < 0.015


def test_first_hitting_with_a_network_and_its_errors(nb):
    m = tiny(nb, "absorbing")
    gr, nz = nb.graph_and_noise(m.cfg)
    calls = []
    den = nb.make_denoiser(m, gr)
    x = nb.first_hitting_sample(lambda a, s: calls.append(1) or den(a, s), gr, nz, 4, 48,
                                generator=torch.Generator().manual_seed(0), progress=False)
    assert len(calls) == 48 and x.shape == (4, 48) and x.max() < gr.mask
    with pytest.raises(ValueError, match="absorbing graph"):
        nb.first_hitting_sample(den, nb.UniformGraph(12), nz, 1, 4, progress=False)


# ---- 11.4 pages longer than the context ---------------------------------------------------------------------

@pytest.mark.parametrize("graph", ["absorbing", "uniform", "autoregressive"])
def test_pages_longer_than_the_context(nb, graph):
    m = tiny(nb, graph)
    page = nb.write_page(m, 130, 16, n_pages=2, steps=4, generator=torch.Generator().manual_seed(0), progress=False)
    assert page.shape == (2, 130) and page.min() >= 0 and page.max() < 12
    with pytest.raises(ValueError, match="keep must be"):
        nb.write_page(m, 130, 48, progress=False)


def test_page_windows_keep_their_context(nb, monkeypatch):
    """Each diffusion window after the first starts from the last `keep` characters written, as fixed ones."""
    m = tiny(nb, "absorbing")
    seen, real = [], nb.sample_given
    def spy(*args, **kw):
        assert args[0] is nb.first_hitting_sample                  # the absorbing graph: first hitting
        seen.append(torch.as_tensor(args[4]).clone())               # `fixed`, the 5th positional argument
        return real(*args, **kw)
    monkeypatch.setattr(nb, "sample_given", spy)
    page = nb.write_page(m, 100, 16, n_pages=2, generator=torch.Generator().manual_seed(0), progress=False)
    assert len(seen) == 1 + math.ceil((100 - 48) / 32)
    assert (seen[0] == -1).all()                                    # the first window is free
    for w, fixed in enumerate(seen[1:], start=1):
        start = 48 + (w - 1) * 32                                 # characters written before window w
        assert torch.equal(fixed[:, :16], page[:, start - 16:start]) and (fixed[:, 16:] == -1).all()


def test_quality_along_cuts_stretches(nb, measure):
    class V:
        def decode(self, ids): return "".join("ab cd\nefgh'"[i % 11] for i in ids)
        def __len__(self): return 12
    judge = tiny(nb, "autoregressive")
    rows = measure.quality_along(torch.randint(12, (2, 100)), V(), judge, {"ab"}, 48)
    assert len(rows) == 2 and all(0 <= r["real_words"] <= 1 for r in rows)


# ---- 11.5 the knobs -----------------------------------------------------------------------------------------

def test_sharpen_matches_its_definitions(nb):
    h = torch.randn(50, 9, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    p = h.softmax(-1)
    for T in (0.3, 0.8, 1.7):
        assert torch.allclose(nb.sharpen(p, temperature=T), (h / T).softmax(-1))
    for top_p in (0.2, 0.5, 0.9, 0.999):
        q = nb.sharpen(p, top_p=top_p)
        for row_p, row_q in zip(p, q, strict=True):                # brute force: the smallest top set with mass ≥ top_p
            order = row_p.argsort(descending=True)
            k = next(k for k in range(1, 10) if row_p[order[:k]].sum() >= top_p)
            want = torch.zeros(9, dtype=torch.float64)
            want[order[:k]] = row_p[order[:k]] / row_p[order[:k]].sum()
            assert torch.allclose(row_q, want)
    for bad in (dict(temperature=0), dict(top_p=0), dict(top_p=1.5)):
        with pytest.raises(ValueError):
            nb.sharpen(p, **bad)


def test_low_temperature_and_confidence_order(nb):
    G = nb.AbsorbingGraph(4)
    p1 = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
    x = nb.first_hitting_sample(nb.sharpened(nb.exact_denoiser(p1, G), G, temperature=0.05), G,
                                nb.LogLinearNoise(), 5000, 1, generator=torch.Generator().manual_seed(6),
                                progress=False)
    assert (x == 0).float().mean() > 0.99
    # position 1 is nearly certain (0.97 on one character), position 0 is not: confidence reveals position 1 first
    p0 = torch.tensor([[0.01, 0.01, 0.01], [0.33, 0.31, 0.33], [0.0, 0.0, 0.0]], dtype=torch.float64).T
    p0 /= p0.sum()
    G, traj = nb.AbsorbingGraph(3), []
    nb.first_hitting_sample(nb.exact_denoiser(p0, G), G, nb.LogLinearNoise(), 2000, 2, choose=nb.by_confidence,
                            generator=torch.Generator().manual_seed(7), trajectory=traj, progress=False)
    first = (traj[1] != traj[0]).int().argmax(-1)
    assert (first == 1).float().mean() > 0.95


def test_knob_sweep_and_sampler_table(nb, measure):
    class V:
        def decode(self, ids): return "".join("ab cd\nefgh'"[i % 11] for i in ids)
        def __len__(self): return 12
    m, ar = tiny(nb, "absorbing"), tiny(nb, "autoregressive")
    rows = measure.knob_sweep(m, ar, V(), {"ab"}, 48, [{}, {"temperature": 0.5}, {"order": "confidence"}], 2, 0,
                             "cpu")["rows"]
    assert [r["knobs"] for r in rows] == [{}, {"temperature": 0.5}, {"order": "confidence"}]
    zoo = measure.sampler_zoo(m, ar, [4, 16])
    assert set(zoo) == {"tweedie 4", "tweedie 4 + cache", "tweedie 16", "tweedie 16 + cache", "first hitting",
                        "autoregressive"}
    res = measure.measure_samplers(zoo, ar, V(), {"ab"}, 48, [1, 3], 0, "cpu", skip={("tweedie 16", 3)})
    assert res["seconds"]["tweedie 16"]["3"] is None and res["seconds"]["tweedie 16"]["1"] > 0
    runs = res["runs"]["tweedie 4"]["3"]                                 # three timed runs, the median kept
    assert len(runs) == res["repeats"] == 3 and res["seconds"]["tweedie 4"]["3"] == sorted(runs)[1]
    assert res["quality"]["tweedie 4"]["samples"] == 3 * 3                 # every timed run's samples, scored
    assert res["quality"]["tweedie 4"] == res["quality"]["tweedie 4 + cache"]          # the same samples
    assert "tweedie 16" not in res["quality"] and "tweedie 16 + cache" in res["quality"]
    assert measure.too_slow_without_cache([64, 1024], [1, 32], "cpu") == {("tweedie 64", 32), ("tweedie 1024", 32)}
    assert measure.too_slow_without_cache([64, 1024], [1, 32], "cuda") == set()
