"""Part 12's question, measured: how noisy is the block bound's estimator, and what do BD3-LM's remedies (every
character masked at L' = 1, clipped schedules) do to it? Called by `scripts/block_sweep.py variance` and `clip`.

At fixed weights, for each model of the sweep:
  bound_sd   the spread of one draw of a window's bound (bits/char) around its mean: the square root of the
             variance across independent draws of the times and the masks, averaged over held-out windows;
             bound_sd_mask_sets the same for Part 5's mask-set estimator, which `bits_per_char` reports;
  grad       the training gradient on one fixed batch, drawn anew K times (only the times and the masks change):
             the mean and standard deviation of its norm, and its noise E|g - ḡ|² / |ḡ|²; and across K batches of
             fresh windows (data and noise both), the same two;
  loss_share the share of characters that carry a loss in a training draw (those masked; the GPT: all).
The clip search draws the training loss on held-out windows with times from U[β, ω] for each interval of a grid,
and keeps the interval of least variance (BD3-LM, Arriola et al. 2025, section 4).
"""
import math

import torch

from measure import as_blocks, nb


def loss_draws(model, x0, k, seed, clip=(0.0, 1.0), bound=False, mask_sets=False):
    """k independent draws, on the same windows x0, of each window's training loss (nats/char) with times from
    U[clip], or with bound=True of its bound (bits/char, times U[0, 1] or clip; mask_sets=True: from mask sets,
    as `bits_per_char` draws it): (k, B)."""
    n = nb()
    g, g_order = torch.Generator(device=x0.device).manual_seed(seed), torch.Generator().manual_seed(seed)
    # with one block the times are stratified over the batch in order (Part 5's), and a window kept in place would
    # meet only its own stratum of t: a new order of the windows each draw, as in bits_per_char
    one_block = not model.cfg.causal and model.cfg.block_len >= x0.shape[1]
    out = []
    with torch.no_grad():
        for _ in range(k):
            order = torch.randperm(len(x0), generator=g_order) if one_block else torch.arange(len(x0))
            order = order.to(x0.device)
            x = x0[order]
            if model.cfg.causal:
                v = n.ar_nll(model, x) / x.shape[1]
            elif bound and mask_sets:
                v = n.bound_nll(model, x, g) / x.shape[1]
            elif bound:
                v = n.block_nll(model, x, g, clip=clip) / x.shape[1]
            else:                                                   # block_loss, window by window
                graph, noise, t = n.block_setup(model, x, g, clip)
                den = n.block_denoiser(model, graph, x)
                v = n.score_entropy_term(den, graph, noise, x, t, g) / x.shape[1]
            out.append(v[order.argsort()].double() / (math.log(2) if bound else 1.0))
    return torch.stack(out)


def grad_stats(model, batches, clip=(0.0, 1.0)):
    """Norm mean and sd of the gradients of the training loss (times from U[clip]) on `batches` [(x0, generator)],
    and E|g - ḡ|²/|ḡ|²."""
    n, grads = nb(), []
    model.train()
    for x0, g in batches:
        model.zero_grad(set_to_none=True)
        loss = n.training_loss(model, x0, g) if model.cfg.causal else n.block_loss(model, x0, g, clip=clip)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]).double())
    model.eval()
    G = torch.stack(grads)
    norms, mean = G.norm(dim=1), G.mean(0)
    noise = ((G - mean) ** 2).sum(1).mean().item() * len(G) / max(1, len(G) - 1)
    return dict(norm=norms.mean().item(), norm_sd=norms.std().item(), noise=noise / mean.pow(2).sum().item())


def loss_share(model, x0, seed, clip=(0.0, 1.0), draws=8):
    "The share of characters masked in a training draw (each carries a loss term): 1 for the GPT."
    if model.cfg.causal:
        return 1.0
    n, g = nb(), torch.Generator(device=x0.device).manual_seed(seed)
    shares = []
    for _ in range(draws):
        graph, noise, t = n.block_setup(model, x0, g, clip)
        shares.append((graph.sample_transition(x0, noise.total_noise(t), g) == graph.mask).double().mean().item())
    return sum(shares) / draws


def draw_sds(model, val_windows, seed=1337, k=8, n_windows=64, clip=(0.0, 1.0)):
    """The spreads of one draw, window by window, at the model's weights: of a window's bound drawing t and from mask
    sets (bits/char), and of its training loss with times from U[clip] (nats/char)."""
    model = as_blocks(model)
    x_val = val_windows[:n_windows].to(next(model.parameters()).device)
    sd = lambda d: d.var(0).mean().sqrt().item() if k > 1 else 0.0
    draws = loss_draws(model, x_val, k, seed, bound=True)                       # (k, windows), bits/char
    return dict(bound_sd=sd(draws), bound_mean=draws.mean().item(), draws=k, windows=len(x_val), clip=list(clip),
                bound_sd_mask_sets=sd(loss_draws(model, x_val, k, seed, bound=True, mask_sets=True)),
                train_loss_sd=sd(loss_draws(model, x_val, k, seed, clip=clip)))


def variance_row(model, train_data, val_windows, seed=1337, k=8, n_windows=64, n_batches=16, batch_size=16,
                 clip=(0.0, 1.0)):
    "The three measures above for one model, at its weights (a model with no blocks is one block, L' = 256)."
    n = nb()
    model = as_blocks(model)
    dev = next(model.parameters()).device
    gd = torch.Generator(device=dev).manual_seed(seed)
    x_fixed = n.get_batch(train_data, batch_size, model.cfg.block_size, gd, dev)
    fixed = grad_stats(model, [(x_fixed, torch.Generator(device=dev).manual_seed(seed + i))
                               for i in range(n_batches)], clip)
    fresh = grad_stats(model, [(n.get_batch(train_data, batch_size, model.cfg.block_size, gd, dev),
                                torch.Generator(device=dev).manual_seed(seed + i)) for i in range(n_batches)], clip)
    return dict(draw_sds(model, val_windows, seed, k, n_windows, clip), grad_fixed_batch=fixed,
                grad_fresh_batches=fresh, loss_share=loss_share(model, x_fixed, seed, clip), batch_size=batch_size,
                batches=n_batches)


def clip_grid(step=0.1, min_width=0.3):
    "Intervals [β, ω] on a grid of `step`, at least `min_width` wide: [(β, ω)]."
    m = round(1 / step)
    return [(round(a * step, 6), round(b * step, 6)) for a in range(m + 1) for b in range(a, m + 1)
            if (b - a) * step >= min_width - 1e-9]


def clip_search(model, val_windows, seed=1337, k=8, n_windows=32, grid=None):
    """BD3-LM's search: for each interval, the variance of the training loss (nats/char) with times from U[β, ω],
    over k draws on each of the held-out windows; the interval of least variance is chosen."""
    model = as_blocks(model)
    x_val = val_windows[:n_windows].to(next(model.parameters()).device)
    rows = []
    for clip in grid or clip_grid():
        d = loss_draws(model, x_val, k, seed, clip=clip)
        # Var over the windows and the draws (BD3-LM's Var_{X,t}), and over the draws alone, window by window
        rows.append(dict(clip=list(clip), variance=d.flatten().var().item(), variance_t=d.var(0).mean().item(),
                         loss=d.mean().item()))
    best = min(rows, key=lambda r: r["variance"])
    return dict(grid=rows, chosen=best["clip"], draws=k, windows=len(x_val))


def repeat_bound(model, val_windows, evaluations, passes, seed=1337, clip=None):
    """`evaluations` independent evaluations of the bound on every window (seeds seed, seed + 1, ...), each with
    its reported standard error: the spread of the values against the errors. clip None: `bits_per_char`'s
    estimate (from mask sets, for these networks); (0, 1): Part 5's, drawing t from U[0, 1]; any other: U[clip]."""
    n = nb()
    vals, ses = [], []
    for e in range(evaluations):
        if clip is None:
            v, se = n.bits_per_char(model, val_windows, passes=passes, seed=seed + e)
        else:
            v, se = fixed_time_bpc(model, val_windows, passes, seed + e, clip)
        vals.append(v); ses.append(se)
    t = torch.tensor(vals, dtype=torch.float64)
    return dict(values=vals, ses=ses, mean=t.mean().item(), spread=t.std().item(), mean_se=sum(ses) / len(ses),
                passes=passes, evaluations=evaluations)


@torch.no_grad()
def fixed_time_bpc(model, windows, passes, seed, clip, batch_size=32):
    "bits_per_char with Part 5's estimator of the block bound, its times drawn from U[clip]: (value, se)."
    n = nb()
    dev = next(model.parameters()).device
    g = torch.Generator(device=dev).manual_seed(seed)
    est = torch.zeros(passes, len(windows), dtype=torch.float64)
    for r in range(passes):
        for i in range(0, len(windows), batch_size):
            with n.autocast_for(dev):
                est[r, i:i + batch_size] = n.block_nll(model, windows[i:i + batch_size].to(dev), g, clip).cpu().double()
    scale = windows.shape[1] * math.log(2)
    se = (est.var(0).sum() / passes).sqrt().item() / len(windows) / scale if passes > 1 else 0.0
    return est.mean().item() / scale, se
