"""Correctors (Part 11.6) against exact scores on toy laws: a corrector step leaves p_t where it is (exactly for
one position, to second order in its step for several), sampling with correctors still draws the target law,
fixed characters never move, and the cache gives the same samples."""
import itertools

import pytest
import torch

CASES = [("absorbing", "loglinear"), ("uniform", "geometric")]
P1 = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
P2 = torch.tensor([[0.4, 0.0, 0.0], [0.0, 0.3, 0.05], [0.05, 0.0, 0.2]], dtype=torch.float64)


def p_t(nb, G, p0, sigma):
    "The exact law at total noise sigma over all dim^L states (masks included), flattened."
    T = G.transition(torch.arange(G.dim)[None], torch.tensor([[sigma]], dtype=torch.float64))[0]   # (dim, dim)
    full = torch.zeros((G.dim,) * p0.dim(), dtype=torch.float64)
    full[(slice(0, G.n_tokens),) * p0.dim()] = p0
    for axis in range(p0.dim()):
        full = torch.tensordot(full, T, dims=([axis], [0])).movedim(-1, axis)
    return full.flatten()


def kernel(nb, G, p0, sigma, eta):
    "The corrector step's transition matrix over all dim^L states: the product of its per-position laws."
    L, D = p0.dim(), G.dim
    states = torch.tensor(list(itertools.product(range(D), repeat=L)))                 # (D^L, L)
    sig = torch.full((len(states), 1), sigma, dtype=torch.float64)
    score = nb.exact_denoiser(p0, G)(states, sig).exp().nan_to_num(posinf=0.0)        # unreachable states: 0
    probs = G.corrector_step(states, score, sig, eta)                                  # (D^L, L, D)
    K = torch.ones(len(states), 1, dtype=torch.float64)
    for i in range(L):
        K = (K[:, :, None] * probs[:, i, None, :]).flatten(1)
    return K


@pytest.mark.parametrize("name,noise", CASES)
@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.7, 3.0])
def test_a_corrector_step_leaves_one_positions_law_exactly(nb, name, noise, sigma):
    G = nb.make_graph(name, 4)
    p = p_t(nb, G, P1, sigma)
    for eta in (0.3, 1.0):
        K = kernel(nb, G, P1, sigma, eta)
        assert torch.allclose(K.sum(1), torch.ones(len(K), dtype=torch.float64))
        assert torch.allclose(p @ K, p, atol=1e-12)                                    # p_t is stationary
        reachable = p > 0
        assert (K[reachable] >= -1e-12).all()                                          # the step is safe


@pytest.mark.parametrize("name,noise", CASES)
def test_for_several_positions_the_error_is_second_order_in_the_step(nb, name, noise):
    """All positions move at once, so the joint law is kept only up to O(δ²): halving η quarters the error."""
    G = nb.make_graph(name, 3)
    p = p_t(nb, G, P2, 0.3)
    err = [0.5 * (p @ kernel(nb, G, P2, 0.3, eta) - p).abs().sum().item() for eta in (0.4, 0.2, 0.1)]
    assert err[0] < 0.03 and 3.0 < err[0] / err[1] < 5.0 and 3.0 < err[1] / err[2] < 5.0, err


@pytest.mark.parametrize("name,noise", CASES)
def test_sampling_with_correctors_draws_the_target_law(nb, name, noise):
    """Small corrector steps keep the sampler within the tolerance of Part 8's samplers; the largest steps,
    taken many times, show the O(δ²) error of moving every position at once (a strongly correlated law)."""
    G, sched = nb.make_graph(name, 3), nb.make_noise(noise)
    tv = {}
    for eta, k in ((0.25, 16), (0.5, 8), (1.0, 32)):
        g = torch.Generator().manual_seed(4)
        x = nb.sample_with_correctors(nb.exact_denoiser(P2, G), G, sched, 20_000, 2, steps=64, corrector_steps=k,
                                      eta=eta, generator=g, progress=False)
        tv[eta] = nb.total_variation(x, P2)
        assert ((x[:, 0] == 0) & (x[:, 1] == 1)).float().mean() < 0.01
    assert tv[0.25] < 0.025 and tv[0.5] < 0.025, tv
    assert tv[1.0] > 2 * tv[0.25], tv


@pytest.mark.parametrize("name,noise", CASES)
def test_correctors_never_move_fixed_characters(nb, name, noise):
    G, sched = nb.make_graph(name, 3), nb.make_noise(noise)
    exact, seen = nb.exact_denoiser(P2, G), []
    def spy(x, sigma):                                                # every input the network would see
        seen.append(x.clone())
        return exact(x, sigma)
    fixed = torch.tensor([2, -1])
    x = nb.sample_given(nb.sample_with_correctors, spy, G, sched, fixed, 5_000, 16, 12,   # 16 steps, 12 corrections
                        generator=torch.Generator().manual_seed(5), progress=False)
    # (the grid gains the corrector time: 16 + 1 + 1 calls of the reverse process, then the 12 corrector steps)
    assert len(seen) == 16 + 1 + 1 + 12 and all((s[:, 0] == 2).all() for s in seen) and (x[:, 0] == 2).all()
    if name == "absorbing":                                           # imposing a clean character is exact
        emp = torch.bincount(x[:, 1], minlength=3).double() / len(x)
        assert (emp - P2[2] / P2[2].sum()).abs().max() < 0.03


def test_correctors_work_with_the_cache_and_refuse_a_bad_step(nb):
    from test_model import tiny_config
    torch.manual_seed(0)
    model = nb.DiffusionGPT(tiny_config(nb, time_conditioning=False)).eval()
    G, sched = nb.make_graph("absorbing", 11), nb.make_noise("loglinear")
    draw = lambda den: nb.sample_given(nb.sample_with_correctors, den, G, sched, torch.tensor([4] + [-1] * 15), 3,
                                       12, 5, generator=torch.Generator().manual_seed(6), progress=False)
    assert torch.equal(draw(nb.make_denoiser(model, G)), draw(nb.cached_denoiser(model, G)))
    free = lambda den: nb.sample_with_correctors(den, G, sched, 3, 16, 12, 5,
                                                 generator=torch.Generator().manual_seed(6), progress=False)
    assert torch.equal(free(nb.make_denoiser(model, G)), free(nb.cached_denoiser(model, G)))
    with pytest.raises(ValueError, match="0 < eta <= 1"):
        nb.sample_with_correctors(nb.make_denoiser(model, G), G, sched, 1, 16, 4, 2, eta=1.5, progress=False)
