"""Part 5's quieter estimator of the absorbing bound: the time integrated out, a number k of masked characters and a
set of that size drawn instead. Checked against the bound summed over every mask set, by quadrature and by
`exact_block_bound`, for whole windows and for blocks, under both schedules."""
import itertools
import math

import pytest
import torch

from test_blocks import TINY, enumerated, net


def any_net(nb, seed=0, **kw):
    "An arbitrary absorbing network, as test_blocks.net, with any field of its config overridden."
    torch.manual_seed(seed)
    cfg = dict(TINY, n_tokens=5, graph="absorbing", noise="loglinear", time_conditioning=False, block_len=0)
    m = nb.DiffusionGPT(nb.ModelConfig(**dict(cfg, **kw)))
    for p in m.parameters():
        p.data.normal_(0, 0.2, generator=torch.Generator().manual_seed(seed))
    return m.eval()


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("noise", ["loglinear", "geometric"])
def test_the_weights_are_the_time_integrals_of_the_bound(nb, n, noise):
    """C(n, k) w_k = a_k / k, with w_k the weight of one set of k masked characters in the bound, integrated by
    quadrature in t from the schedule's own rates, σ(t) / (e^σ̄ - 1) × m^k (1 - m)^(n-k), plus the stretch
    σ̄ ∈ [0, σ̄(0)] that `diffusion_nll` adds for a schedule that starts above 0 (the geometric one)."""
    sched = nb.make_noise(noise)
    t = torch.linspace(0, 1, 400_001, dtype=torch.float64)[1:]
    sb, rate = sched.total_noise(t), sched.rate_noise(t)
    s0 = sched.total_noise(torch.zeros(1, dtype=torch.float64)).item()
    sg = torch.linspace(0, s0, 100_001, dtype=torch.float64)[1:]
    w = []
    for k in range(1, n + 1):
        f = lambda s, k=k: (-torch.expm1(-s)) ** k * torch.exp(-s) ** (n - k) / torch.expm1(s)
        w.append(torch.trapezoid(rate * f(sb), t).item() + (torch.trapezoid(f(sg), sg).item() if s0 > 0 else 0.0))
    want = torch.tensor([math.comb(n, k) * k * w[k - 1] for k in range(1, n + 1)], dtype=torch.float64)
    got = nb.mask_set_weights(n, sched.total_noise(torch.ones(1, dtype=torch.float64)))
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5), (got, want)


def draws(nb, fn, model, x0, n=20_000, seed=0):
    est = fn(model, x0.expand(n, len(x0)), torch.Generator().manual_seed(seed)).double()
    return est.mean().item(), est.std().item() / n ** 0.5, est


@pytest.mark.parametrize("Lb", [1, 2, 4])
def test_blocks_from_mask_sets_are_unbiased_for_the_enumerated_bound_without_the_tail(nb, Lb):
    m, x0, exact = enumerated(nb, Lb)
    q, q_se, quiet = draws(nb, nb.bound_nll, m, x0)
    _, _, usual = draws(nb, nb.model_nll, m, x0)
    assert abs(q - exact) < 4 * q_se + 1e-4, (q, exact, q_se)                  # (float32 logits)
    if Lb == 1:                                     # nothing to draw: every estimate is the bound
        assert quiet.std() < 1e-5
    else:
        assert quiet.std() < usual.std() / 4
    assert quiet.max() < 4 * 5 and usual.max() > 100                          # bounded, against the 1/t tail


def test_a_whole_window_from_mask_sets_is_unbiased(nb):
    "Block length 0 (Part 5's model): the window is one block; against every mask set summed, and Part 5's draws."
    x0 = torch.tensor([2, 0, 4, 1])
    m = any_net(nb, block_size=4)
    log_p = lambda x: m(x[None])[0, :, :5].double().log_softmax(-1)
    q, q_se, quiet = draws(nb, nb.bound_nll, m, x0)
    u, u_se, usual = draws(nb, nb.model_nll, m, x0, n=50_000, seed=2)
    exact = nb.exact_block_bound(log_p, x0, 4, 5)
    assert abs(q - exact) < 4 * q_se + 1e-4 and abs(u - exact) < 4 * u_se
    assert quiet.std() < usual.std() / 3


def test_one_character_blocks_give_their_bound_with_no_draw_and_bits_per_char_no_error(nb):
    m = net(nb, block_len=1, block_size=6)
    x0 = torch.tensor([[4, 0, 0, 1, 3, 2]])
    h = nb.naive_block_outputs(m, torch.full((1, 6), 5), x0)[0, :, :5].double()
    lr = torch.nn.functional.cross_entropy(h, x0[0], reduction="sum").item()
    eps = nb.LogLinearNoise().eps
    want = (1 - eps) * lr + 6 * eps * math.log(5)
    got = nb.bound_nll(m, x0.expand(3, 6), torch.Generator().manual_seed(0))
    assert torch.allclose(got.double(), torch.full((3,), want, dtype=torch.float64), atol=1e-4)
    bpc, se = nb.bits_per_char(m, x0.expand(4, 6), passes=3)
    assert se < 1e-6 and abs(bpc - want / 6 / math.log(2)) < 1e-4


def test_networks_that_read_the_time_keep_part_5s_estimator(nb):
    x0 = torch.randint(5, (4, 8), generator=torch.Generator().manual_seed(0))
    for m in (net(nb, graph="uniform", block_len=0, block_size=8),
              any_net(nb, block_size=8, time_conditioning=True)):
        a = nb.bound_nll(m, x0, torch.Generator().manual_seed(3))
        b = nb.model_nll(m, x0, torch.Generator().manual_seed(3))
        assert torch.equal(a, b)


def test_the_mask_set_is_uniform_among_sets_of_its_size(nb):
    "Every set of k of a block's positions equally likely, and k drawn with probability a_k / Σ a."
    den = lambda x_t, s: torch.zeros(*x_t.shape, 6)                            # records nothing: read S below
    seen = []
    def recording(x_t, s):
        seen.append(x_t == 5)
        return den(x_t, s)
    g, G, sched = torch.Generator().manual_seed(0), nb.AbsorbingGraph(5), nb.LogLinearNoise(eps=0.3)
    nb.mask_set_nll(recording, G, sched, torch.zeros(40_000, 3, dtype=torch.long), 3, g)
    S = seen[0]
    a = nb.mask_set_weights(3, sched.total_noise(torch.ones(1, dtype=torch.float64)))
    sizes = torch.bincount(S.sum(1), minlength=4)[1:].double() / len(S)
    assert torch.allclose(sizes, a / a.sum(), atol=0.01), (sizes, a / a.sum())
    for k in (1, 2):
        sets = torch.tensor([[i in c for i in range(3)] for c in itertools.combinations(range(3), k)])
        counts = torch.stack([(S == s).all(1).sum() for s in sets]).double()
        assert (counts / counts.sum() - 1 / len(sets)).abs().max() < 0.02
