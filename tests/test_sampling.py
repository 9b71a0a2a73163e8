import pytest
import torch

CASES = [("absorbing", "loglinear"), ("uniform", "geometric")]
P1 = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64)
P2 = torch.tensor([[0.4, 0.0, 0.0], [0.0, 0.3, 0.05], [0.05, 0.0, 0.2]], dtype=torch.float64)


@pytest.mark.parametrize("name,noise", CASES)
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_one_token_law(nb, name, noise, method):
    G, sched = nb.make_graph(name, 4), nb.make_noise(noise)
    g = torch.Generator().manual_seed(0)
    x = nb.sample(nb.exact_denoiser(P1, G), G, sched, 40_000, 1, steps=8 if method == "tweedie" else 64,
                  method=method, generator=g, progress=False)
    assert x.max() < 4                                    # no mask survives
    assert nb.total_variation(x, P1) < 0.015


@pytest.mark.parametrize("name,noise", CASES)
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_two_correlated_tokens(nb, name, noise, method):
    G, sched = nb.make_graph(name, 3), nb.make_noise(noise)
    g = torch.Generator().manual_seed(1)
    x = nb.sample(nb.exact_denoiser(P2, G), G, sched, 40_000, 2, steps=128, method=method, generator=g,
                  progress=False)
    assert nb.total_variation(x, P2) < 0.025
    # zero-probability pairs are (almost) never produced: the sampler really uses the joint
    assert ((x[:, 0] == 0) & (x[:, 1] == 1)).float().mean() < 0.01


def test_tweedie_single_token_is_exact_with_one_step(nb):
    """One Tweedie step plus the final denoising step is exact for a single token (Theorem 4.1)."""
    G, sched = nb.UniformGraph(4), nb.GeometricNoise()
    g = torch.Generator().manual_seed(2)
    x = nb.sample(nb.exact_denoiser(P1, G), G, sched, 100_000, 1, steps=1, generator=g, progress=False)
    assert nb.total_variation(x, P1) < 0.01


@pytest.mark.parametrize("name,noise", CASES)
@pytest.mark.parametrize("method", ["tweedie", "euler"])
def test_fixed_positions_never_change_and_condition_the_rest(nb, name, noise, method):
    G, sched = nb.make_graph(name, 3), nb.make_noise(noise)
    g = torch.Generator().manual_seed(3)
    exact, seen, traj = nb.exact_denoiser(P2, G), [], []
    def spy(x, sigma):                                     # every whole sequence the network would see
        seen.append(x.clone())
        return exact(x, sigma)
    fixed = torch.tensor([2, -1])
    x = nb.sample_given(nb.sample, spy, G, sched, fixed, 20_000, 64, method=method, generator=g, trajectory=traj,
                        progress=False)
    assert x.shape == (20_000, 2) and (x[:, 0] == 2).all()
    assert len(seen) == 64 + 1 and all((s[:, 0] == 2).all() for s in seen)
    assert len(traj) == 64 + 2 and all(frame.shape == (20_000, 1) for frame in traj)   # the free position only
    assert torch.equal(traj[-1], x[:, 1:])
    cond = P2[2] / P2[2].sum()                             # exact conditional law of the free token
    emp = torch.bincount(x[:, 1], minlength=3).double() / len(x)
    if name == "absorbing":
        # an unmasked character is known to be clean, so imposing it is exact conditioning
        assert (emp - cond).abs().max() < 0.02
    else:
        # under the uniform graph the score treats the imposed character as possibly noisy:
        # conditioning by imposing is only approximate, even with the exact score
        assert (emp - cond).abs().max() > 0.05


def test_staggered_score_and_columns_match_matrix_exp(nb):
    for G in (nb.UniformGraph(6), nb.AbsorbingGraph(5)):
        Q = G.rate_matrix()
        d = torch.tensor([[0.21]], dtype=torch.float64)
        s = torch.rand(1, 1, G.dim, dtype=torch.float64) + 0.05
        assert torch.allclose(G.staggered_score(s, d)[0, 0], torch.linalg.matrix_exp(-0.21 * Q).T @ s[0, 0])
        for x in range(G.dim):
            col = G.transp_transition(torch.tensor([[x]]), d)[0, 0]
            assert torch.allclose(col, torch.linalg.matrix_exp(0.21 * Q)[:, x])


def test_bad_method_is_a_clear_error(nb):
    G = nb.UniformGraph(3)
    with pytest.raises(ValueError, match="method must be"):
        nb.sample(nb.exact_denoiser(P2, G), G, nb.GeometricNoise(), 1, 2, 4, method="heun", progress=False)
