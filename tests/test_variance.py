"""Part 12's remedies and Part 13's runs: clipped times (every character masked at t = 1), the variance measures
at fixed weights, the clip search, the repeated evaluations, and the words and figures drawn from them."""
import math
import subprocess
import sys

import pytest
import torch

from conftest import ROOT
from test_blocks import enumerated, net


def test_clipped_times_lie_in_their_interval_and_u01_is_the_old_draw(nb):
    g = lambda: torch.Generator().manual_seed(0)
    t = nb.block_times(500, 8, g(), clip=(0.3, 0.8))
    assert 0.3 < t.min() and t.max() <= 0.8 and abs(t.mean().item() - 0.55) < 0.01
    assert torch.equal(nb.block_times(64, 1, g()), nb.stratified_times(64, g()))        # one block: Part 5's times
    assert torch.equal(nb.block_times(64, 4, g(), clip=(0.0, 1.0)), nb.block_times(64, 4, g()))
    assert torch.equal(nb.block_times(8, 4, g(), clip=(1.0, 1.0)), torch.ones(8, 4))


def test_at_one_character_per_block_every_law_of_t_gives_the_same_bound(nb):
    "The network reads no time, so at L' = 1 a masked character's term is -log p / t times a mask of probability ~t."
    m, x0, exact = enumerated(nb, 1)
    spread = {}
    for clip in [(1.0, 1.0), (0.3, 0.8), (0.0, 1.0)]:
        est = nb.block_nll(m, x0.expand(20_000, 4), torch.Generator().manual_seed(1), clip=clip).double()
        se = est.std().item() / len(est) ** 0.5
        assert abs(est.mean().item() - exact) < 4 * se + 1e-9, (clip, est.mean().item(), exact, se)
        spread[clip] = est.std().item()
    assert spread[(1.0, 1.0)] < spread[(0.3, 0.8)] / 5 < spread[(0.0, 1.0)] / 5, spread


def test_t_equal_one_makes_the_loss_at_one_character_per_block_the_gpts_cross_entropy(nb):
    m = net(nb, block_len=1, block_size=6)
    x0 = torch.tensor([[4, 0, 0, 1, 3, 2]])
    ce = 0.0
    for i in range(6):                          # by hand: the clean prefix, then a mask, read causally
        h = m(torch.cat([x0[0, :i], torch.tensor([5])])[None], mask=torch.ones(i + 1, i + 1).tril().bool())
        ce -= h[0, -1, :5].double().log_softmax(-1)[x0[0, i]].item()
    g = torch.Generator().manual_seed(0)
    losses = torch.stack([nb.block_loss(m, x0, g, clip=(1.0, 1.0)) for _ in range(40)]).double()
    # each character is masked with probability 1 - ε and then weighted σ(1)(e^{-σ̄}/(1 - e^{-σ̄})) = 1
    assert abs(losses.median().item() - ce / 6) < 1e-5, (losses.median().item(), ce / 6)


def test_the_variance_measures_read_what_they_say(nb):
    import variance
    ar = net(nb, "absorbing", block_len=0)
    ar = nb.DiffusionGPT(nb.ModelConfig(**dict(nb.asdict(ar.cfg), graph="autoregressive", noise="none",
                                                time_conditioning=False))).eval()
    one = net(nb, block_len=1)
    data = torch.randint(5, (400,), generator=torch.Generator().manual_seed(0))
    val = data[:160].view(10, 16)
    for model, clip, share in [(ar, (0.0, 1.0), 1.0), (one, (1.0, 1.0), 1.0), (one, (0.3, 0.8), 0.55)]:
        v = variance.variance_row(model, data, val, k=4, n_windows=6, n_batches=4, batch_size=4, clip=clip)
        assert abs(v["loss_share"] - share) < (0.01 if share == 1.0 else 0.08), (clip, v["loss_share"])
        if model is ar:                         # exact: no draw on a fixed batch
            assert v["bound_sd"] == 0 and v["train_loss_sd"] == 0 and v["grad_fixed_batch"]["noise"] < 1e-12
            assert v["grad_fresh_batches"]["noise"] > 0 and v["bound_sd_mask_sets"] == 0
        else:                                   # L' = 1 from mask sets: nothing drawn, whatever the training clip
            assert v["bound_sd_mask_sets"] < 1e-6 < v["bound_sd"]
    masked = variance.variance_row(one, data, val, k=4, n_windows=6, n_batches=4, batch_size=4, clip=(1.0, 1.0))
    usual = variance.variance_row(one, data, val, k=4, n_windows=6, n_batches=4, batch_size=4)
    assert masked["train_loss_sd"] < usual["train_loss_sd"] / 5
    assert masked["grad_fixed_batch"]["noise"] < usual["grad_fixed_batch"]["noise"] / 5


def test_the_clip_search_keeps_the_interval_of_least_variance(nb):
    import variance
    grid = variance.clip_grid(0.25, 0.5)
    assert (0.0, 1.0) in grid and all(b - a >= 0.5 - 1e-9 and 0 <= a < b <= 1 for a, b in grid)
    assert len(grid) == 6                       # [0, .5] [0, .75] [0, 1] [.25, .75] [.25, 1] [.5, 1]
    m = net(nb, block_len=4)
    val = torch.randint(5, (8, 16), generator=torch.Generator().manual_seed(0))
    found = variance.clip_search(m, val, k=4, n_windows=8, grid=grid)
    assert found["chosen"] == min(found["grid"], key=lambda r: r["variance"])["clip"]
    assert len(found["grid"]) == len(grid)


def test_times_drawn_or_fixed_agree_with_the_exact_bound_at_one_character_per_block(nb):
    "At L' = 1 bits_per_char (from mask sets) is the bound itself; Part 5's times, from U[0, 1] or at 1, estimate it."
    import variance
    m = net(nb, block_len=1)
    val = torch.randint(5, (24, 16), generator=torch.Generator().manual_seed(0))
    exact, se0 = nb.bits_per_char(m, val, passes=3, seed=0)
    drawn, se = variance.fixed_time_bpc(m, val, 8, 0, (0.0, 1.0))
    fixed, se1 = variance.fixed_time_bpc(m, val, 2, 0, (1.0, 1.0))
    assert se0 < 1e-9 and se1 < se / 5
    assert abs(drawn - exact) < 3 * se and abs(fixed - exact) < 3 * se1 + 1e-5, (exact, drawn, se, fixed, se1)
    rep = variance.repeat_bound(m, val, 3, 2, clip=(1.0, 1.0))
    assert len(rep["values"]) == 3 and len(set(rep["values"])) == 3 and rep["mean_se"] > 0


def test_the_sd_ratio_interval_is_the_chi_square_one(report):
    lo, hi = report.sd_ratio_interval(10)       # chi-square, 9 degrees of freedom: 2.700 and 19.023
    assert abs(lo - math.sqrt(2.700 / 9)) < 0.01 and abs(hi - math.sqrt(19.023 / 9)) < 0.01


# ---- training with a clipped schedule, and stopping on patience -------------------------------------------------

def test_the_trainer_takes_a_clip_for_block_models_only(nb, scale):
    torch.manual_seed(0)
    cfg = lambda **kw: nb.ModelConfig(n_tokens=5, **dict(dict(block_size=16, n_layer=1, n_head=2, n_embd=16,
                                                               cond_dim=8), **kw))
    data = torch.randint(5, (400,), generator=torch.Generator().manual_seed(0))
    tc = lambda **kw: scale.ScaleConfig(max_iters=4, batch_size=4, eval_interval=4, eval_batches=1, warmup_iters=1,
                                        **kw)
    with pytest.raises(ValueError, match="block_len"):
        scale.train_at_scale(nb.DiffusionGPT(cfg()), data, data, tc(clip=(1.0, 1.0)))
    weights = []
    for clip in (None, (1.0, 1.0)):
        torch.manual_seed(0)
        ema, _ = scale.train_at_scale(nb.DiffusionGPT(cfg(block_len=1, time_conditioning=False)), data, data,
                                      tc(clip=clip))
        weights.append(torch.cat([p.flatten() for p in ema.parameters()]))
    assert not torch.allclose(*weights)


def test_patience_stops_a_run_that_no_longer_improves(nb, scale):
    torch.manual_seed(0)
    model = nb.DiffusionGPT(nb.ModelConfig(n_tokens=5, graph="autoregressive", noise="none", block_size=16, n_layer=1,
                                           n_head=2, n_embd=16, cond_dim=8, time_conditioning=False))
    data = torch.randint(5, (400,), generator=torch.Generator().manual_seed(0))
    # lr 0: the weights never move, so the validation value never improves after the first evaluation
    tc = scale.ScaleConfig(max_iters=100, batch_size=4, eval_interval=5, eval_batches=1, lr=0.0, min_lr=0.0,
                           warmup_iters=1, patience=2)
    _, history = scale.train_at_scale(model, data, data, tc)
    assert history["best_step"] == 5 and history["last_step"] == 16, history["val_step"]


@pytest.mark.parametrize("args,says", [(["--clip", "0.8,0.3"], "BETA <= OMEGA"), (["--clip", "x"], "two numbers"),
                                       (["--train-chars", "100"], "shorter than a window")])
def test_train_py_refuses_bad_clips_and_too_little_text(args, says, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--preset", "smoke", "--out",
                        str(tmp_path), "--block-len", "4"] + args, capture_output=True, text=True, cwd=ROOT)
    assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr[-800:]
    assert not any(tmp_path.iterdir())


# ---- the words and the figures -----------------------------------------------------------------------------------

def epoch_rows():
    "Synthetic runs: at U = 1,000 diffusion wins, at 10,000 it is noise, at 100,000 it lags."
    rows = {}
    for u, d_best in [(1000, 2.0), (10_000, 2.5), (100_000, 2.9)]:
        for name, graph, drop, best, se in [("ar0", "autoregressive", 0.0, 2.5, 0.0),
                                            ("ar2", "autoregressive", 0.2, 2.52, 0.0),
                                            ("dif", "absorbing", 0.0, d_best, 0.02)]:
            steps = [50, 100, 150, 200]
            curve = [3.0, best, best + 0.2, best + 0.4] if graph == "autoregressive" else [3.2, 3.0, 2.6, best]
            rows[f"{name}-{u}"] = dict(name=f"{name}-{u}", chars=u, graph=graph, dropout=drop, steps=steps,
                                       epochs=[s * 4096 / u for s in steps], val_bpc=curve,
                                       best_step=steps[curve.index(min(curve))],
                                       best_epoch=steps[curve.index(min(curve))] * 4096 / u, best_bpc=best,
                                       best_bpc_se=se, train=dict(steps=200, seconds=10.0))
    return dict(rows=rows)


def test_the_data_scarce_findings_call_noise_noise(report):
    lines = report.epochs_findings(epoch_rows())
    assert len(lines) == 3
    assert "diffusion beats the GPT by 0.500 ± 0.020" in lines[0] and "below the GPT's best at epoch 819.2" in lines[0]
    assert "within noise (+0.000 ± 0.020)" in lines[1]
    assert "still lags by 0.400 ± 0.020" in lines[2]
    rows = epoch_rows()["rows"]
    assert report.crossing_epoch(rows["ar0-1000"], rows["dif-1000"]) == 200 * 4096 / 1000
    table = report.epochs_table(epoch_rows())
    assert table.count("\n") == 2 + 9 - 1 and "-0.500 ± 0.020 |" in table and "(noise)" in table


def test_the_epochs_figure_draws_every_curve_it_is_given(figures):
    import matplotlib.pyplot as plt
    data = epoch_rows()
    fig = figures.plot_epochs(data)
    assert len(fig.axes) == 3
    for ax, u in zip(fig.axes, (1000, 10_000, 100_000), strict=True):
        drawn = [tuple(line.get_ydata()) for line in ax.lines if len(line.get_ydata()) > 1]
        want = [tuple(r["val_bpc"]) for r in data["rows"].values() if r["chars"] == u]
        assert sorted(drawn) == sorted(want)
        assert f"{u:,}" in ax.get_title()
    plt.close(fig)


def test_one_block_windows_meet_every_stratum_of_t_across_draws(nb, monkeypatch):
    """With one block, Part 5's times are stratified over the batch in order, so a window's stratum is its place in
    the batch; the draws reorder the windows, so each meets many places (here the bound reads back the place)."""
    import variance
    x0 = torch.randint(5, (8, 16), generator=torch.Generator().manual_seed(0))
    four, g = net(nb, block_len=4), torch.Generator().manual_seed(0)          # several blocks: drawn as before
    want = torch.stack([nb.block_nll(four, x0, g) for _ in range(2)]).double() / 16 / math.log(2)
    assert torch.equal(variance.loss_draws(four, x0, 2, seed=0, bound=True), want)
    fake = lambda model, x, g, clip: torch.arange(len(x), dtype=torch.float) * 16
    monkeypatch.setattr(variance.nb(), "block_nll", fake)                   # (the notebook that variance reads)
    place = (variance.loss_draws(net(nb, block_len=16), x0, 16, seed=0, bound=True) * math.log(2)).round()
    assert all(len(set(place[:, w].tolist())) >= 4 for w in range(8)), place         # (draws, windows)
    assert sorted(place[0].tolist()) == list(range(8))                         # and every place is met each draw
