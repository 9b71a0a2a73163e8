"""Apple's MPS has no float64. With the CPU declared a device without float64 (the notebook's NO_FLOAT64), a guard
fails every call that creates a float64 tensor on a named device or moves one to a device, while the recipe trains,
the bound is estimated and every sampler runs: what would raise on a Mac fails here."""
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

MOVES = {"to", "new_tensor", "new_full", "new_zeros", "new_ones", "new_empty"}
HOST = {"prior", "mask_set_weights"}     # these work on the host in float64 by design (each docstring says so)


def on_host():
    "Whether the call comes from a function that computes on the host by design (the CPU stands in for MPS here)."
    f = sys._getframe(2)
    while f is not None:
        if f.f_code.co_name in HOST:
            return True
        f = f.f_back
    return False


class NoFloat64OnDevices(TorchFunctionMode):
    "Raise on a float64 result of a call that names a device, or of a move (Tensor.to with a device or a tensor)."
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        placed = kwargs.get("device") is not None or (name in MOVES and any(
            isinstance(a, (torch.device, str, torch.Tensor)) for a in args[1:]))
        if placed and isinstance(out, torch.Tensor) and not on_host():
            self.calls += 1
            if out.dtype == torch.float64:
                raise AssertionError(f"{name}(...) made a float64 tensor on {out.device}, a device without float64")
        return out


@pytest.fixture
def mps_like(nb, monkeypatch):
    monkeypatch.setattr(nb, "NO_FLOAT64", {"mps", "cpu"})
    assert nb.prob_dtype("cpu") == torch.float32 and nb.prob_dtype("mps") == torch.float32
    return nb


def tiny(nb, graph, conditioned):
    torch.manual_seed(0)
    return nb.DiffusionGPT(nb.ModelConfig(n_tokens=6, graph=graph, noise="loglinear" if graph == "absorbing" else
                                          "geometric", block_size=8, n_layer=1, n_head=2, n_embd=16, cond_dim=8,
                                          time_conditioning=conditioned))


def test_the_guard_catches_float64_created_on_or_moved_to_a_device(mps_like):
    with pytest.raises(AssertionError, match="float64"), NoFloat64OnDevices():
        torch.zeros(3, dtype=torch.float64, device="cpu")
    with pytest.raises(AssertionError, match="float64"), NoFloat64OnDevices():
        torch.ones(3, dtype=torch.float64).to("cpu")
    with NoFloat64OnDevices():                          # float64 kept on the host, or float32 on the device: fine
        torch.ones(3, dtype=torch.float64).sum()
        torch.ones(3, dtype=torch.float64).to("cpu", torch.float32)


@pytest.mark.parametrize("graph,conditioned", [("absorbing", False), ("uniform", True)])
def test_training_the_bound_and_every_sampler_keep_float64_off_the_device(mps_like, graph, conditioned):
    nb = mps_like
    model = tiny(nb, graph, conditioned)
    data = torch.randint(6, (400,), generator=torch.Generator().manual_seed(0))
    tc = nb.TrainConfig(max_iters=2, batch_size=4, warmup_iters=1, eval_interval=2, eval_batches=1)
    gr, nz = nb.graph_and_noise(model.cfg)
    g = torch.Generator().manual_seed(0)
    guard = NoFloat64OnDevices()
    with guard:
        model, _ = nb.train(model, data[:300], data[300:], tc)                     # stratified times, the loss
        nb.bits_per_char(model, data[:32].view(4, 8), passes=2, batch_size=2)      # the bound and the prior's KL
        den = nb.make_denoiser(model, gr)
        for method in ("tweedie", "euler"):
            nb.sample(den, gr, nz, 2, 8, 4, method, generator=g, progress=False)
        nb.sample_with_correctors(den, gr, nz, 2, 8, 4, 2, generator=g, progress=False)
        fixed = torch.tensor([0, 1, -1, -1, 2, -1, 3, -1])
        nb.sample_given(nb.sample, den, gr, nz, fixed, 2, 4, generator=g, progress=False)
        if graph == "absorbing":
            nb.first_hitting_sample(den, gr, nz, 2, 8, generator=g, progress=False)
            nb.sample(nb.cached_denoiser(model, gr), gr, nz, 2, 8, 4, generator=g, progress=False)
    assert guard.calls > 20                                                          # (it did see the placements)
