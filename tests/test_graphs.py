import math

import pytest
import torch


@pytest.fixture(params=["uniform", "absorbing"])
def graph(nb, request):
    return nb.make_graph(request.param, 7)


@pytest.mark.parametrize("sigma", [1e-4, 0.03, 0.5, 2.0, 9.0])
def test_transition_equals_matrix_exp(graph, sigma):
    Q = graph.rate_matrix()
    assert torch.allclose(Q.sum(1), torch.zeros(graph.dim, dtype=torch.float64))
    assert (Q - torch.diag(torch.diag(Q)) >= 0).all()
    x0 = torch.arange(graph.dim)[None]
    dense = torch.linalg.matrix_exp(sigma * Q)
    closed = graph.transition(x0, torch.tensor([[sigma]], dtype=torch.float64))[0]
    assert torch.allclose(closed, dense, atol=1e-13)
    # float32 stays accurate at small sigma (expm1, not 1 - exp)
    closed32 = graph.transition(x0, torch.tensor([[sigma]]))[0].double()
    assert torch.allclose(closed32, dense, rtol=1e-5, atol=1e-7)


def test_transition_batched_sigma_shapes(graph):
    x0 = torch.randint(graph.n_tokens, (3, 5))
    sigma = torch.tensor([[0.1], [1.0], [3.0]], dtype=torch.float64)
    p = graph.transition(x0, sigma)
    assert p.shape == (3, 5, graph.dim)
    assert torch.allclose(p.sum(-1), torch.ones(3, 5, dtype=torch.float64))
    for b in range(3):
        dense = torch.linalg.matrix_exp(sigma[b, 0] * graph.rate_matrix())
        assert torch.allclose(p[b], dense[x0[b]])


def test_sample_transition_frequencies(nb, graph):
    g = torch.Generator().manual_seed(0)
    n, sigma = 200_000, 0.7
    x0 = torch.full((n, 1), 3)
    x = graph.sample_transition(x0, torch.full((n, 1), sigma, dtype=torch.float64), g)
    emp = torch.bincount(x.flatten(), minlength=graph.dim).double() / n
    exact = torch.linalg.matrix_exp(sigma * graph.rate_matrix())[3]
    # 5 standard errors of a binomial proportion
    assert ((emp - exact).abs() <= 5 * (exact * (1 - exact) / n).sqrt() + 1e-12).all()


def test_sample_categorical_handles_unnormalised_and_negative_weights(nb):
    g = torch.Generator().manual_seed(1)
    w = torch.tensor([2.0, -1e-9, 6.0, 0.0]).expand(100_000, 4)
    x = nb.sample_categorical(w, g)
    emp = torch.bincount(x, minlength=4).double() / len(x)
    assert emp[1] == 0 and emp[3] == 0
    assert abs(emp[0] - 0.25) < 0.01 and abs(emp[2] - 0.75) < 0.01


def test_prior_and_prior_kl_from_the_definition(nb, graph):
    sigma = torch.tensor([[5.0]], dtype=torch.float64)
    prior = graph.prior(5.0)
    assert torch.isclose(prior.sum(), torch.tensor(1.0, dtype=torch.float64))
    dense = torch.linalg.matrix_exp(5.0 * graph.rate_matrix())
    assert torch.allclose(prior, dense[: graph.n_tokens].mean(0))
    x0 = torch.tensor([[0, 3, 6]])
    kl = graph.prior_kl(x0, sigma.expand(1, 1))
    brute = sum((dense[i] * (dense[i] / prior).log()).nan_to_num().sum() for i in (0, 3, 6))
    assert torch.allclose(kl, brute.view(1))
    if graph.dim > graph.n_tokens:   # absorbing: KL = e^{-sigma} log N per position
        assert math.isclose(kl.item(), 3 * math.exp(-5.0) * math.log(graph.n_tokens), rel_tol=1e-10)


def test_noise_schedules(nb):
    t = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
    for sched in (nb.GeometricNoise(), nb.LogLinearNoise()):
        h = 1e-6
        fd = (sched.total_noise(t + h) - sched.total_noise(t - h)) / (2 * h)
        assert torch.allclose(sched.rate_noise(t), fd, rtol=1e-6)
    geo, ll = nb.GeometricNoise(), nb.LogLinearNoise()
    zero, one = torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    assert math.isclose(geo.total_noise(zero), 1e-4) and math.isclose(geo.total_noise(one), 20.0)
    assert ll.total_noise(zero) == 0 and math.isclose(ll.total_noise(one), -math.log(1e-3))
    # absorbing + log-linear: the masked fraction is exactly (1 - eps) t
    assert torch.allclose(1 - torch.exp(-ll.total_noise(t)), (1 - 1e-3) * t)
