"""Training: the precision rule, early stopping, resuming a cut-off run, and the bound's error bar."""
import math

import pytest
import torch

from test_model import tiny_config


@pytest.mark.parametrize("capability, dtype", [((9, 0), torch.bfloat16), ((8, 0), torch.bfloat16),
                                               ((7, 5), torch.float16), ((6, 1), None)])
def test_autocast_dtype_follows_the_gpu(nb, monkeypatch, capability, dtype):
    """bf16 only where the GPU computes it natively (≥ 8.0); fp16 on a T4 (7.5); full precision before."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert nb.amp_dtype("cuda") == dtype
    assert nb.amp_dtype("cpu") is None and nb.amp_dtype("mps") is None


def tiny_run(nb, **kw):
    torch.manual_seed(0)
    data = torch.randint(11, (4000,))
    model = nb.DiffusionGPT(tiny_config(nb))
    tc = nb.TrainConfig(**dict(dict(max_iters=12, batch_size=4, lr=3e-3, warmup_iters=2, eval_interval=4,
                                    eval_batches=2, ema_decay=0.5), **kw))
    return model, data, tc


@pytest.mark.parametrize("trainer", ["recipe", "at scale"])
def test_train_returns_the_weights_with_the_lowest_validation_loss(nb, scale, trainer):
    model, data, tc = tiny_run(nb)
    if trainer == "recipe":                                                     # Part 7's train
        ema, h = nb.train(model, data[:3000], data[3000:], tc)
    else:                                                                       # scripts/scale.py's
        ema, h = scale.train_at_scale(model, data[:3000], data[3000:],
                                      scale.ScaleConfig(**nb.asdict(tc), compile=False))
    best = min(range(len(h["val_bpc"])), key=h["val_bpc"].__getitem__)
    assert h["best_step"] == h["val_step"][best] and h["best_val_bpc"] == h["val_bpc"][best]
    again = nb.random_batch_bpc(ema, data[3000:], tc.eval_batches, tc.batch_size)     # same windows, same seeds
    assert again == pytest.approx(h["best_val_bpc"], abs=1e-6)
    assert h["step"] == list(range(1, tc.max_iters + 1)) and len(h["train_loss"]) == tc.max_iters
    if trainer == "at scale":
        assert h["last_step"] == tc.max_iters and len(h["val_seconds"]) == len(h["val_step"])


def test_a_cut_off_run_resumes_to_the_same_weights(nb, scale, tmp_path):
    model, data, tc = tiny_run(nb)
    tc = scale.ScaleConfig(**nb.asdict(tc), compile=False)
    scale.train_at_scale(model, data[:3000], data[3000:], tc)                    # uninterrupted
    path = str(tmp_path / "state.pt")
    cut, _, _ = tiny_run(nb)
    _, h = scale.train_at_scale(cut, data[:3000], data[3000:],
                                scale.ScaleConfig(**dict(nb.asdict(tc), max_seconds=0.0, resume_path=path)))
    assert h["last_step"] == 1                                                  # stopped by its time budget
    resumed, _, _ = tiny_run(nb)                                                # a fresh process, as it were
    _, h = scale.train_at_scale(resumed, data[:3000], data[3000:],
                                scale.ScaleConfig(**dict(nb.asdict(tc), resume_path=path)))
    assert h["last_step"] == tc.max_iters and h["step"] == list(range(1, tc.max_iters + 1))
    for a, b in zip(model.parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]               # written atomically


@pytest.mark.parametrize("name", ["absorbing", "uniform"])
def test_bits_per_char_error_bar_covers_the_truth_with_exact_scores(nb, monkeypatch, name):
    """With exact scores every window's estimate is unbiased for -log p0(window); with the windows reshuffled
    across strata of t in every pass, the mean over windows and passes lands within its error bar."""
    p0 = torch.tensor([[0.4, 0.05, 0.05], [0.0, 0.3, 0.05], [0.05, 0.0, 0.1]], dtype=torch.float64)
    monkeypatch.setattr(nb, "make_denoiser", lambda model, graph: nb.exact_denoiser(p0, graph))
    model = torch.nn.Linear(1, 1)
    model.cfg = nb.ModelConfig(n_tokens=3, graph=name, noise={"absorbing": "loglinear", "uniform": "geometric"}[name],
                               block_size=2)
    flat = torch.multinomial(p0.flatten().float(), 96, replacement=True, generator=torch.Generator().manual_seed(1))
    windows = torch.stack([flat // 3, flat % 3], dim=1)                       # 96 windows drawn from p0
    truth = -p0[windows[:, 0], windows[:, 1]].log().mean().item() / 2 / math.log(2)
    errors = []
    for seed in range(4):
        bpc, se = nb.bits_per_char(model, windows, passes=16, batch_size=32, seed=seed)
        errors.append(abs(bpc - truth) / se)
        assert 0 < se < 0.2
    assert max(errors) < 4, errors         # (the prior's leakage, 1e-3 for log-linear, is far below the error bar)
