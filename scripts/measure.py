"""The notebook's appendix: the measurement machinery of Parts 9 to 12, out of the reading path.

Nothing here is part of the lesson. These are the sweeps, timings, tables and the bookkeeping of
`assets/results.json` that turn the notebook's functions into the numbers it prints. The notebook imports this
module after making its own definitions importable as `annotated_diffusion`; scripts and tests get them through
the one loader, `scripts/notebook.py`. Each function imports what it uses from the notebook when it is called, so
a cell you rerun in the notebook is what the measurement uses.

    sys.modules["annotated_diffusion"] = sys.modules[__name__]      # in the notebook
    import measure
    R = measure.Results.open(...)                                  # stored, or measured here and saved
    quality = R.section("quality", lambda: measure.quality_sweep(...))
"""
import json
import math
import os
import re
import sys
import time

import torch

# How big each measurement is, per preset of the notebook (the model and training sizes are its parameters cell).
SIZES = {
    "smoke": dict(eval_passes=2, eval_windows=32, quality_samples=2, quality_steps=[4, 64], infill_passages=4,
                  infill_hole=8, sampler_steps=[4, 16], sampler_batches=[1, 2], page_chars=512, page_keep=128,
                  pages=1, knob_samples=2, sample_length=64),
    "cpu": dict(eval_passes=16, eval_windows=None, quality_samples=16, quality_steps=[8, 16, 32, 64, 128, 256],
                infill_passages=48, infill_hole=32, sampler_steps=[64, 128, 256, 1024], sampler_batches=[1, 8],
                page_chars=2048, page_keep=128, pages=4, knob_samples=32, corrector_samples=16, sample_length=None),
}
SIZES["smoke"]["corrector_samples"] = 2
SIZES["gpu"] = dict(SIZES["cpu"], quality_samples=64, corrector_samples=64, infill_passages=200, sampler_batches=[1, 32])
# The sampler knobs of Part 11.5 ({} is the exact sampler).
KNOB_SETTINGS = [{}, {"temperature": 0.8}, {"temperature": 0.6}, {"top_p": 0.9}, {"top_p": 0.7},
                 {"order": "confidence"}]
QUALITY_STEPS = 128      # the step count that the summaries and tables quote (or the largest one below it)


def nb():
    "The notebook's definitions: its namespace in Jupyter, the loader's module in scripts and tests."
    try:
        return sys.modules["annotated_diffusion"]
    except KeyError:
        raise RuntimeError("import the notebook first: in the notebook, run Part 9's first cell; in a script, "
                           "scripts/notebook.py's load_notebook()") from None


def here(device):
    "The device as results.json names it: the GPU's name, or the CPU and its threads."
    import platform
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


# --------------------------------------------------------------------------------- figures of Parts 2 to 10
# The pictures that follow each component of the lesson; the notebook shows them and saves them under assets/.
def plot_rate_matrices(graphs, levels=(0.1, 1.0, 4.0)):
    "Q and exp(σ̄Q) for each graph (a small vocabulary), row x to column y, with the values written in."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(graphs), 1 + len(levels), figsize=(10, 2.5 * len(graphs)))
    for row, G in zip(axes, graphs):
        mask = getattr(G, "mask", None)
        names = ["M" if i == mask else "abcdefgh"[i] for i in range(G.dim)]
        Q = G.rate_matrix()
        mats = [(Q, "Q")] + [(torch.linalg.matrix_exp(s * Q), f"exp({s}·Q)") for s in levels]
        for ax, (m, title) in zip(row, mats):
            ax.imshow(m, cmap="RdBu", vmin=-1, vmax=1)
            ax.set(title=f"{type(G).__name__[:-5].lower()}: {title}", xticks=range(G.dim), yticks=range(G.dim),
                   xticklabels=names, yticklabels=names)
            for (a, b), v in zip(((a, b) for a in range(G.dim) for b in range(G.dim)), m.flatten().tolist()):
                ax.text(b, a, f"{v + 0.0:.2f}", ha="center", va="center", fontsize=6,      # (+ 0.0: no "-0.00")
                        color="white" if abs(v) > 0.6 else "black")
        row[0].set_ylabel("from x")
    axes[-1][0].set_xlabel("to y")
    fig.tight_layout()
    return fig


def plot_schedules(n_tokens):
    "Total noise of both schedules (log axis), and the share of characters each graph-and-schedule pair changes."
    import matplotlib.pyplot as plt
    from annotated_diffusion import GeometricNoise, LogLinearNoise
    t = torch.linspace(0.005, 1, 200, dtype=torch.float64)      # (the log-linear σ̄(0) = 0 is off a log axis)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for sched, label, graph, changed in (
            (LogLinearNoise(), "log-linear", "absorbing", lambda sb: 1 - torch.exp(-sb)),
            (GeometricNoise(), "geometric", "uniform", lambda sb: (1 - torch.exp(-sb)) * (n_tokens - 1) / n_tokens)):
        sb = sched.total_noise(t)
        axes[0].plot(t, sb, label=label)
        axes[1].plot(t, changed(sb), label=f"{graph} graph, {label} schedule")
    axes[0].set(xlabel="t", ylabel="total noise σ̄(t)", yscale="log", title="total noise")
    axes[1].set(xlabel="t", ylabel="fraction of characters changed", title="corruption (the pairs used here)")
    axes[0].legend(); axes[1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_masks(panels):
    "Side-by-side 0/1 matrices: panels is a list of (matrix (T, T), title)."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 3.4))
    for ax, (m, title) in zip(axes, panels):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3)
        ax.set(title=title, xlabel="changed position j", ylabel="output position i", xticks=[], yticks=[])
    fig.tight_layout()
    return fig


def plot_curves(curves, ylabel, title, hline=None, hline_label=None, figsize=(6, 3), **axis):
    "Lines (label -> (x, y, style)) on one axis, with an optional horizontal reference line."
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=figsize)
    for label, (x, y, style) in curves.items():
        ax.plot(x, y, style, label=label, alpha=0.5 if style == "-" and len(curves) > 1 else 1.0)
    if hline is not None:
        ax.axhline(hline, color="gray", ls=":", label=hline_label)
    ax.set(ylabel=ylabel, title=title, **axis)
    if len(curves) > 1 or hline is not None:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_bits_per_char(bpc, unigram_bits, title):
    "The three models' bits per character with their standard errors, labelled above the error bars."
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3))
    names = list(bpc)
    top = [bpc[k]["bpc"] + bpc[k]["se"] for k in names]
    ax.bar(names, [bpc[k]["bpc"] for k in names], yerr=[bpc[k]["se"] for k in names], color=["C0", "C1", "C2"])
    ax.axhline(unigram_bits, color="gray", ls=":", label="unigram entropy")
    for i, k in enumerate(names):
        ax.text(i, top[i] + 0.05, f"{bpc[k]['bpc']:.3f}", ha="center")
    ax.set(ylabel="bits per character (lower is better)", title=title, ylim=(0, 1.2 * max(top)))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_infill_cost(extra, hole, width=9):
    "The judge's extra nats per character over the original, along the passage (a moving average), hole shaded."
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3))
    kernel = torch.ones(1, 1, width) / width
    for label, e in extra.items():
        ax.plot(torch.nn.functional.conv1d(e.double()[None, None], kernel.double(), padding="same")[0, 0], label=label)
    ax.axvspan(hole.start, hole.stop, color="gray", alpha=0.2, label="the hole")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="position in the passage", ylabel=f"extra nats per character\n({width}-character average)",
           title="the judge's extra cost over the original: prefix | hole | suffix")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def position_ablation(stored_path, out_path, rerun, train_fn):
    """Part 7's rotary-vs-learned curves: read from stored_path unless `rerun` (or it is missing); otherwise
    train_fn(pos_emb) -> history for "learned" and "rotary", saved to out_path."""
    from annotated_diffusion import atomic_write
    if not rerun and os.path.exists(stored_path):
        ablation = json.load(open(stored_path))
        print(f"read from {stored_path} (the cpu preset, {ablation['rotary']['step'][-1]} steps); "
              f"recomputing reruns it here")
        return ablation
    histories = {pe: train_fn(pe) for pe in ("learned", "rotary")}
    ablation = {pe: {"step": h["val_step"], "val_bpc": h["val_bpc"]} for pe, h in histories.items()}
    atomic_write(out_path, lambda f: f.write(json.dumps(ablation)), mode="w")
    return ablation


# ---------------------------------------------------------------------------------------------- results.json
class Results:
    """One entry of results.json. For the shipped models (and no DIFFUSION_EVAL) every section is read back;
    otherwise each section is measured here and the entry saved after it, atomically."""

    def __init__(self, path, entry, stored):
        self.path, self.entry, self.stored = path, entry, stored

    @classmethod
    def open(cls, shipped, preset, shipped_dir, ckpt_dir, recompute, meta):
        """Read the stored entry when the shipped models are shown and nothing is recomputed; otherwise measure into
        ckpt_dir/results.json, the run's own folder, which is never the tracked shipped_dir."""
        key = "gpu" if shipped else preset            # the shipped models were trained by the gpu preset
        stored = os.path.join(shipped_dir, "results.json")
        if shipped and not recompute and os.path.exists(stored) and key in json.load(open(stored)):
            entry = json.load(open(stored))[key]
            print(f"Measurements that take minutes are read from {stored} (entry {key!r}, {entry['date']}: "
                  f"{entry['measured_on']}). DIFFUSION_EVAL=1 redoes them here, into runs/.")
            return cls(stored, entry, True)
        if os.path.abspath(ckpt_dir) == os.path.abspath(shipped_dir):     # (the shipped models did not load)
            ckpt_dir = os.path.join("runs", f"shakespeare-{preset}")
            os.makedirs(ckpt_dir, exist_ok=True)
        path = os.path.join(ckpt_dir, "results.json")
        print(f"Measuring here ({meta.get('device')}); the results go to {path}, entry {key!r}; copy the entry into "
              f"{stored} to ship it.")
        return cls(path, dict(meta, preset=key, date=time.strftime("%Y-%m-%d")), False)

    def section(self, name, measure_fn):
        "The stored section `name`, or measure_fn() measured now, stored and saved."
        if self.stored and name in self.entry:
            where = self.entry[name].get("device") if isinstance(self.entry[name], dict) else None
            print(f"[{name}: read from {self.path}" + (f", measured on {where}]" if where else "]"))
            return self.entry[name]
        self.entry[name] = measure_fn()
        save_results(self.path, self.entry)
        return self.entry[name]


def save_results(path, res):
    "Merge this entry into the JSON file at `path` (written atomically)."
    allres = json.load(open(path)) if os.path.exists(path) else {}
    allres[res["preset"]] = res
    nb().atomic_write(path, lambda f: f.write(json.dumps(allres, indent=1)), mode="w")


# How each measure of sample quality prints: (scale, decimals, unit).
FORMATS = {"real_words": (100, 1, "%"), "repeated_words": (100, 2, "%"), "unigram_bits": (1, 2, " bits"),
           "judge_nll": (1, 3, "")}


def pm(r, key):
    "A measure with its standard error, as the tables print it: '65.2 ± 0.9%'."
    scale, d, unit = FORMATS[key]
    return f"{scale * r[key]:.{d}f} ± {scale * r[key + '_se']:.{d}f}{unit}"


def noise(a, b, key):
    "b − a on `key` and its standard error, the two sets of samples taken as independent."
    return b[key] - a[key], math.hypot(a[key + "_se"], b[key + "_se"])


def beyond_noise(a, b, key):
    "Whether b and a differ on `key` by more than twice the standard error of the difference."
    d, se = noise(a, b, key)
    return abs(d) > 2 * se


def change(a, b, key):
    "b − a with its standard error, '+4.3 ± 1.6 points', and ', within noise' when under two standard errors."
    scale, digits, unit = FORMATS[key]
    d, se = noise(a, b, key)
    unit = " points" if unit == "%" else unit
    return f"{scale * d:+.{digits}f} ± {scale * se:.{digits}f}{unit}" + ("" if abs(d) > 2 * se else ", within noise")


def fmt(r):
    "One line of the four measures of sample quality, each with its standard error."
    return (f"{pm(r, 'real_words')} real words, {pm(r, 'repeated_words')} repeated, {pm(r, 'unigram_bits')}, "
            f"judge {pm(r, 'judge_nll')}")


def quoted(rows):
    "The row of a step sweep that the summaries quote: QUALITY_STEPS steps, or the most steps below it."
    below = [r for r in rows if r["steps"] <= QUALITY_STEPS] or rows[:1]
    return max(below, key=lambda r: r["steps"])


# ------------------------------------------------------------------------------------------- Part 9: the bound
def bound_section(models, val_windows, passes, seed, device):
    "Bits per character of each model on every validation window: the bound for diffusion, the exact NLL for AR."
    out = {}
    for name, m in models.items():
        bpc, se = nb().bits_per_char(m, val_windows, passes=passes, seed=seed)
        out[name] = {"bpc": bpc, "se": se, "windows": len(val_windows), "passes": 1 if m.cfg.causal else passes,
                     "device": here(device)}
    return out


def live_bound_check(models, stored, val_windows, seed, n=24, passes=2):
    "A quick live estimate on a few random windows, next to the stored numbers (they are these models' own)."
    pick = torch.randperm(len(val_windows), generator=torch.Generator().manual_seed(seed))[:n]
    print(f"stored: {stored['absorbing']['windows']} windows, {stored['absorbing']['passes']} passes; "
          f"live: {len(pick)} random windows, {passes} passes")
    for name, m in models.items():
        live = nb().bits_per_char(m, val_windows[pick], passes=passes, seed=seed)
        print(f"{name:>15}: {stored[name]['bpc']:.4f} ± {stored[name]['se']:.4f} bits/char stored;  "
              f"{live[0]:.3f} ± {live[1]:.3f} live")


def show_bound(models, bpc, val_windows, seed, live):
    "Print the bound of each model; with `live`, next to a quick estimate on a few windows (stored numbers)."
    if live:
        live_bound_check(models, bpc, val_windows, seed)
    else:
        for name, b in bpc.items():
            print(f"{name:>15}: {b['bpc']:.4f} ± {b['se']:.4f} bits/char on {b['windows']} windows")


def run_meta(trained, tcfg, P, device):
    "What a new entry of results.json records about the models it measures."
    from annotated_diffusion import count_params
    m0 = next(iter(trained.values()))[1]
    return dict(device=here(device), measured_on=here(device), trained_on=m0["device"], torch=torch.__version__,
                params={k: count_params(m) for k, (m, _) in trained.items()}, train_steps=tcfg.max_iters,
                batch_size=tcfg.batch_size, block_size=P["block_size"], **training_meta(trained))


def plot_quality(quality):
    "The four measures against sampling steps (± one standard error), with AR samples and validation text."
    import matplotlib.pyplot as plt
    shown = [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL (nats/char) ↓"),
             ("unigram_bits", "unigram entropy (bits) ≈ data"), ("repeated_words", "repeated words (share) ↓")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (key, label) in zip(axes, shown):
        for run, rows in quality["runs"].items():
            ax.errorbar([r["steps"] for r in rows], [r[key] for r in rows], yerr=[r[key + "_se"] for r in rows],
                        fmt="o-", capsize=2, label=run)
        ax.axhline(quality["ar_samples"][key], color="k", ls="--", label="AR samples (T=1)")
        ax.axhline(quality["validation"][key], color="gray", ls=":", label="validation text")
        ax.set(xscale="log", xlabel="sampling steps", title=label)
        ax.set_xticks(quality["steps"], [str(s) for s in quality["steps"]])
    handles, labels = axes[0].get_legend_handles_labels()                 # below the panels, covering no line
    fig.legend(handles, labels, fontsize=8, ncol=len(labels), loc="lower center")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_training(curve, quality):
    "The validation bound (NLL for AR) and the share of real words in samples (± se), against training steps."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    for name, pts in curve.items():
        axes[0].plot([p["step"] for p in pts], [p["val_bpc"] for p in pts], "o-", label=name)
        drawn = [p for p in pts if "real_words" in p]          # the shipped run drew samples as it trained
        axes[1].errorbar([p["step"] for p in drawn], [p["real_words"] for p in drawn],
                         yerr=[p.get("real_words_se", 0) for p in drawn], fmt="o-", capsize=2, label=name)
    axes[1].axhline(quality["validation"]["real_words"], color="gray", ls=":", label="validation text")
    axes[0].set(xlabel="training step (the same batches for every model)", ylabel="validation bits/char",
                title="bound (diffusion), NLL (AR): training's estimate")
    axes[1].set(xlabel="training step", ylabel="share of real words", title="real words in samples (± se)")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------- Part 9: sample quality
def quality_sweep(models, judge, vocab, lexicon, val_windows, steps_list, n_samples, seed, device):
    """Sample quality at every step count: the absorbing model (Tweedie, which is its Euler too), the uniform one
    with both samplers; the AR model's samples and real validation text as references."""
    from annotated_diffusion import graph_and_noise, make_denoiser, sample, sample_quality, tqdm
    from scale import generate_ar_cached
    gen, L = torch.Generator(device=device), judge.cfg.block_size
    quality = {"steps": list(steps_list), "samples": n_samples, "drawn_on": here(device), "runs": {}}
    for name, methods in (("absorbing", ("tweedie",)), ("uniform", ("tweedie", "euler"))):
        gr, nz = graph_and_noise(models[name].cfg)
        for method in methods:
            rows = []
            for steps in tqdm(steps_list, desc=f"{name} {method}"):
                gen.manual_seed(seed)
                x = sample(make_denoiser(models[name], gr), gr, nz, n_samples, L, steps, method, device=device,
                           generator=gen, progress=False)
                rows.append(dict(steps=steps, **sample_quality(x, vocab, judge, lexicon)))
            quality["runs"][f"{name}/{method}"] = rows
    gen.manual_seed(seed)
    quality["ar_samples"] = sample_quality(generate_ar_cached(judge, n_samples, L, generator=gen), vocab, judge,
                                           lexicon)
    pick = torch.randperm(len(val_windows), generator=torch.Generator().manual_seed(seed))[:n_samples]
    quality["validation"] = sample_quality(val_windows[pick].to(device), vocab, judge, lexicon)
    return quality


def quality_lines(quality):
    "The sweep at the quoted step count against AR samples and validation text; whose entropy matches real text's."
    n, val = quality["samples"], quality["validation"]
    lines = [f"{n} samples of each; ± one standard error over samples (a bootstrap)",
             f"{'validation text':>21}: {fmt(val)}", f"{'AR samples (T=1)':>21}: {fmt(quality['ar_samples'])}"]
    for key, rows in quality["runs"].items():
        r = quoted(rows)
        lines.append(f"{key + ' ' + str(r['steps']):>21}: {fmt(r)}")
    low = [f"{key} at {', '.join(str(r['steps']) for r in rows if beyond_noise(val, r, 'unigram_bits'))} steps"
           for key, rows in quality["runs"].items() if any(beyond_noise(val, r, "unigram_bits") for r in rows)]
    lines.append("unigram entropy beyond noise of the validation text's: " + ("; ".join(low) or "none"))
    return lines


def quality_cells(r):
    "The four measures with their standard errors, as table cells."
    return " | ".join(pm(r, k) for k in ("real_words", "repeated_words", "unigram_bits", "judge_nll"))


def results_table(res):
    "The README's results table, from one entry of results.json (the sweep at QUALITY_STEPS steps, or fewer)."
    b, q = res["bits_per_char"], res["quality"]
    lines = ["| model | val bits/char | real words | repeated words | unigram entropy | judge NLL (nats/char) |",
             "|---|---|---|---|---|---|"]
    for key, rows in q["runs"].items():
        name, method = key.split("/")
        r = quoted(rows)
        lines.append(f"| {name} diffusion, {method} {r['steps']} steps | ≤ {b[name]['bpc']:.3f} ± {b[name]['se']:.3f} | "
                     f"{quality_cells(r)} |")
    lines.append(f"| autoregressive (T=1) | {b['autoregressive']['bpc']:.3f} (exact) | {quality_cells(q['ar_samples'])} |")
    lines.append(f"| validation text | | {quality_cells(q['validation'])} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the second judge: an n-gram
class CharNgram:
    """A character n-gram model of the ids `data` with Witten-Bell interpolation, the second judge of Part 10: it is
    neither model, so a judge's preference for its own model's text shows as a difference between the two judges.
    p_k(c | h) = (C(h c) + T(h) p_{k-1}(c | h')) / (C(h) + T(h)), with h' the context h less its oldest character,
    T(h) the number of different characters seen after h, p_{-1} uniform; a context never seen backs off."""

    def __init__(self, data, n_tokens, order=5):
        self.V, self.order = n_tokens, order
        data = data.long().cpu()
        self.tables = []                       # per context length k < order: sorted keys and their counts
        for k in range(order):
            ctx, nxt = self._contexts(data[None], k)[0, k:], data[k:]
            pairs, c_pair = torch.unique(ctx * n_tokens + nxt, return_counts=True)
            hist, c_hist = torch.unique(ctx, return_counts=True)
            types = torch.unique(pairs // n_tokens, return_counts=True)[1]         # T(h), in the order of `hist`
            self.tables.append((pairs, c_pair, hist, c_hist, types))

    def _contexts(self, x, k):
        "The k characters before each position as one integer (n, L); positions before k get a wrong, unused value."
        ctx = torch.zeros_like(x)
        for j in range(1, k + 1):
            ctx[:, j:] += x[:, :-j] * self.V ** (j - 1)
        return ctx

    @staticmethod
    def _count(keys, counts, q):
        i = torch.searchsorted(keys, q).clamp_max(len(keys) - 1)
        return torch.where(keys[i] == q, counts[i], 0), i

    def char_nll(self, x):
        "-log p(x_i | up to order-1 characters before it) at every position of x (n, L), in nats: (n, L)."
        x = x.long().cpu()
        p = torch.full(x.shape, 1.0 / self.V, dtype=torch.float64)
        for k, (pairs, c_pair, hist, c_hist, types) in enumerate(self.tables):
            ctx = self._contexts(x, k)
            c_hc, _ = self._count(pairs, c_pair, ctx * self.V + x)
            c_h, i = self._count(hist, c_hist, ctx)
            t_h = torch.where(c_h > 0, types[i], 0).double()
            seen = (c_h > 0) & (torch.arange(x.shape[1]) >= k)                  # the whole context is in the passage
            p = torch.where(seen, (c_hc + t_h * p) / (c_h + t_h).clamp_min(1), p)
        return -p.log()


# ------------------------------------------------------------------------------------------ Part 10: infilling
def measure_infill(models, judge, windows, n_pass, hole_len, steps, seed, device, ngram):
    """Blank the middle `hole_len` characters of `n_pass` passages and refill them (the absorbing model, the uniform
    one with both samplers, and the AR model, which can only continue the prefix). Two judges read each whole
    passage: the AR model, and `ngram` (a CharNgram of the training split), which is neither model."""
    from annotated_diffusion import ar_nll, graph_and_noise, make_denoiser, sample, sample_given
    from scale import generate_ar_cached
    L = windows.shape[1]
    idx = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed))[:n_pass]
    orig = windows[idx].to(device)                                                # (n, L)
    a = (L - hole_len) // 2
    fixed = orig.clone(); fixed[:, a:a + hole_len] = -1
    judges = {"ar": lambda x: ar_nll(judge, x).double().cpu(), "ngram": lambda x: ngram.char_nll(x).sum(-1)}
    orig_nll = {j: f(orig) for j, f in judges.items()}                           # (n,) nats per passage
    res = {"passages": n_pass, "hole": hole_len, "steps": steps, "device": here(device), "ngram_order": ngram.order,
           "original_nats_per_char": {j: v.sum().item() / orig.numel() for j, v in orig_nll.items()}, "runs": {}}
    gen = torch.Generator(device=device)
    fills = {}
    for name, method in (("absorbing", "tweedie"), ("uniform", "tweedie"), ("uniform", "euler")):
        gr, nz = graph_and_noise(models[name].cfg)
        gen.manual_seed(seed)
        fills[f"{name}/{method}"] = sample_given(sample, make_denoiser(models[name], gr), gr, nz, fixed, n_pass, steps,
                                                 method, device=device, generator=gen, desc=f"infill {name} {method}")
    gen.manual_seed(seed)
    cont = torch.cat([generate_ar_cached(judge, 1, hole_len, prompt=row[:a], generator=gen, progress=False)
                      for row in orig])                                           # (n, hole) from the prefix alone
    fills["autoregressive/prefix"] = torch.cat([orig[:, :a], cont, orig[:, a + hole_len:]], dim=1)
    for key, x in fills.items():
        assert (x[:, :a] == orig[:, :a]).all() and (x[:, a + hole_len:] == orig[:, a + hole_len:]).all()
        res["runs"][key] = {}
        for j, f in judges.items():
            extra = (f(x) - orig_nll[j]) / hole_len                               # (n,) per hole character
            res["runs"][key][j] = {"extra_nats_per_hole_char": extra.mean().item(),
                                   "se": extra.std().item() / math.sqrt(n_pass)}
    return res


def infill_gap(res, judge):
    "The absorbing fill's extra cost less the AR continuation's under `judge` ('ar' or 'ngram'), and its se."
    fill, cont = res["runs"]["absorbing/tweedie"][judge], res["runs"]["autoregressive/prefix"][judge]
    return (fill["extra_nats_per_hole_char"] - cont["extra_nats_per_hole_char"], math.hypot(fill["se"], cont["se"]))


def infill_verdict(res):
    "Which costs the judges less, the absorbing model's fill or the AR model's blind continuation, beyond noise."
    gap = {}
    for j in ("ar", "ngram"):
        d, se = infill_gap(res, j)
        gap[j] = "continuation" if d > 2 * se else "fill" if -d > 2 * se else "noise"
    if gap["ar"] == gap["ngram"] == "continuation":
        return ("Both judges find the blind continuation cheaper: at this budget the diffusion model's characters cost "
                "more than agreeing with both ends saves")
    if gap["ar"] == gap["ngram"] == "fill":
        return "Both judges find the fill cheaper: seeing both ends pays"
    if gap["ar"] == gap["ngram"]:
        return "Under both judges the difference is within noise"
    name = {"continuation": "the continuation cheaper", "fill": "the fill cheaper", "noise": "no difference beyond noise"}
    return (f"The judges disagree (the AR judge finds {name[gap['ar']]}, the n-gram judge {name[gap['ngram']]}): the AR "
            f"judge's verdict is partly its taste for its own model's text")


def infill_lines(res):
    o = res["original_nats_per_char"]
    lines = [f"{res['passages']} passages, a hole of {res['hole']} characters, {res['steps']} steps. The original "
             f"passages cost {o['ar']:.3f} nats/char under the AR judge, {o['ngram']:.3f} under the "
             f"{res['ngram_order']}-gram judge. Extra nats per hole character over the original:",
             f"{'':>22}  {'AR judge':>15}  {'n-gram judge':>15}"]
    for key, r in res["runs"].items():
        lines.append(f"{key:>22}  " + "  ".join(f"{r[j]['extra_nats_per_hole_char']:+8.3f} ± {r[j]['se']:.3f}"
                                                for j in ("ar", "ngram")))
    if "autoregressive/prefix" not in res["runs"]:
        return lines
    gaps = [f"{infill_gap(res, j)[0]:+.2f} ± {infill_gap(res, j)[1]:.2f} under the {name}"
            for j, name in (("ar", "AR judge"), ("ngram", "n-gram judge"))]
    return lines + [f"the absorbing fill less the continuation: {', '.join(gaps)}",
                    infill_verdict(res) + " (beyond two standard errors)."]


# ------------------------------------------------------------------------------ Part 11.3: every sampler, timed
def synchronize(device):
    "Wait for the device's queued work (a no-op on the CPU): the one place that knows how to synchronise."
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def wall_time(fn, device):
    "Seconds of one call of fn(), synchronising the device before and after."
    synchronize(device)
    t0 = time.perf_counter(); fn()
    synchronize(device)
    return time.perf_counter() - t0


def sampler_zoo(model, ar, steps_list):
    "name -> fn(n, L, generator) -> ids (n, L): Tweedie with and without the cache, first hitting, AR."
    from annotated_diffusion import cached_denoiser, first_hitting_sample, graph_and_noise, make_denoiser, sample
    from scale import generate_ar_cached
    gr, nz = graph_and_noise(model.cfg)
    dev = next(model.parameters()).device
    zoo = {}
    for s in steps_list:
        zoo[f"tweedie {s}"] = lambda n, L, g, s=s: sample(make_denoiser(model, gr), gr, nz, n, L, s, device=dev,
                                                           generator=g, progress=False)
        zoo[f"tweedie {s} + cache"] = lambda n, L, g, s=s: sample(cached_denoiser(model, gr), gr, nz, n, L, s,
                                                                   device=dev, generator=g, progress=False)
    zoo["first hitting"] = lambda n, L, g: first_hitting_sample(make_denoiser(model, gr), gr, nz, n, L, device=dev,
                                                                generator=g, progress=False)
    zoo["autoregressive"] = lambda n, L, g: generate_ar_cached(ar, n, L, generator=g, progress=False)
    return zoo


def too_slow_without_cache(steps_list, batches, device, max_rows=1024):
    "On a CPU a call costs in proportion to its rows: skip the uncached runs that send more than max_rows through."
    return {(f"tweedie {s}", b) for s in steps_list for b in batches
            if torch.device(device).type == "cpu" and s * b > max_rows}


def measure_samplers(zoo, judge, vocab, lexicon, L, batches, seed, device, skip=(), repeats=3):
    """Seconds to write L characters at each batch size: the median of `repeats` timed runs after one untimed warm-up
    call, with every run kept; the quality of all the largest batch's samples (repeats × batch, each run drawing new
    ones). `skip`: (name, batch) pairs left out (too slow for the device); they are recorded as None."""
    from annotated_diffusion import sample_quality, tqdm
    res = {"length": L, "batches": list(batches), "repeats": repeats, "device": here(device), "seconds": {},
           "runs": {}, "quality": {}}
    for name, fn in tqdm(zoo.items(), desc="samplers"):
        res["seconds"][name], res["runs"][name] = {}, {}
        g = torch.Generator(device=device).manual_seed(seed)
        fn(1, min(L, 16), g)                                            # warm-up: allocations, kernels, caches
        for bs in batches:
            if (name, bs) in skip:
                res["seconds"][name][str(bs)] = res["runs"][name][str(bs)] = None
                continue
            g.manual_seed(seed)
            out = []
            runs = [wall_time(lambda: out.append(fn(bs, L, g)), device) for _ in range(repeats)]
            res["seconds"][name][str(bs)], res["runs"][name][str(bs)] = sorted(runs)[len(runs) // 2], runs
            if bs == max(batches):
                res["quality"][name] = sample_quality(torch.cat(out), vocab, judge, lexicon)
    return res


def sampler_quality(samplers, name):
    "Quality of a sampler's samples; an uncached Tweedie run drew the same samples as its cached twin."
    return samplers["quality"].get(name) or samplers["quality"][name + " + cache"]


def spread(samplers, name, b):
    "(median, fastest, slowest) seconds of a sampler at batch b, or None where it was not timed."
    runs = samplers["runs"][name][str(b)]
    return None if runs is None else (samplers["seconds"][name][str(b)], min(runs), max(runs))


def samplers_table(res):
    "The markdown table of Part 11.3 (and the README's), from one entry of results.json."
    s = res["samplers"]
    big = max(s["batches"])
    n = sampler_quality(s, "autoregressive")["samples"]
    cell = lambda t: "—" if t is None else f"{t[0]:.2f} ({t[1]:.2f}–{t[2]:.2f})"
    lines = [f"| sampler ({s['length']} characters) | " + " | ".join(f"batch {b}: seconds" for b in s["batches"]) +
             " | real words | repeated words | unigram entropy | judge NLL (nats/char) |",
             "|---" * (len(s["batches"]) + 5) + "|"]
    for name in s["seconds"]:
        lines.append(f"| {name} | " + " | ".join(cell(spread(s, name, b)) for b in s["batches"]) +
                     f" | {quality_cells(sampler_quality(s, name))} |")
    lines.append(f"\nSeconds: the median of {s['repeats']} runs after a warm-up, the fastest and slowest in brackets, "
                 f"on {s['device']}; —: not timed (too many rows for a CPU). Quality: the {n} samples of the batch-{big} "
                 f"runs, ± one standard error over samples (Part 9's sweep drew its own 64 per row, on "
                 f"{res.get('quality', {}).get('drawn_on', 'another run')}).")
    return "\n".join(lines)


def speedup(samplers, slow, fast, b):
    "How many times faster `fast` is than `slow` at batch b: the ratio of medians, and its range over the runs."
    (m1, lo1, hi1), (m2, lo2, hi2) = spread(samplers, slow, b), spread(samplers, fast, b)
    return m1 / m2, lo1 / hi2, hi1 / lo2


def samplers_lines(samplers):
    "What the cache saves at the smallest batch, and first hitting's time against the AR model's, with their ranges."
    b = samplers["batches"][0]
    steps = [int(k.split()[1]) for k in samplers["seconds"] if k.startswith("tweedie") and "cache" in k]
    said = []
    for s in steps:
        r, lo, hi = speedup(samplers, f"tweedie {s}", f"tweedie {s} + cache", b)
        said.append(f"{r:.2f}× at {s} steps ({lo:.2f}–{hi:.2f}" + (", within run-to-run spread)" if lo <= 1 <= hi
                                                                    else ")"))
    r, lo, hi = speedup(samplers, "first hitting", "autoregressive", b)
    return [f"At batch {b} the cache's speed-up, the ratio of medians (its range over the runs): " + ", ".join(said) +
            f". First hitting takes {r:.1f}× the AR model's time ({lo:.1f}–{hi:.1f})."]


# ----------------------------------------------------------------------------- Part 11.4: longer than the context
def quality_along(pages, vocab, judge, lexicon, stretch):
    "Sample quality of each `stretch`-character piece of the pages (n, length), in order along the page."
    from annotated_diffusion import sample_quality
    return [sample_quality(pages[:, i:i + stretch], vocab, judge, lexicon)
            for i in range(0, pages.shape[1] - stretch + 1, stretch)]


def measure_pages(models, judge, vocab, lexicon, chars, keep, n_pages, seed, device):
    "`n_pages` pages of `chars` characters from each model, and their quality along the page, stretch by stretch."
    from annotated_diffusion import write_page
    L = judge.cfg.block_size
    res = {"chars": chars, "keep": keep, "pages": n_pages, "device": here(device), "stretch": L, "runs": {}}
    for name, m in models.items():
        g = torch.Generator(device=device).manual_seed(seed)
        ids = write_page(m, chars, keep, n_pages, generator=g, progress=False)
        res["runs"][name] = {"text": [vocab.decode(r.tolist()) for r in ids],
                             "along": quality_along(ids, vocab, judge, lexicon, L)}
    return res


def save_pages(pages, path):
    "Every page in full, as plain text (the notebook prints an excerpt)."
    blob = "".join(f"{'=' * 24} {name}, page {i + 1} of {pages['pages']} {'=' * 24}\n{t}\n\n"
                   for name, run in pages["runs"].items() for i, t in enumerate(run["text"]))
    nb().atomic_write(path, lambda f: f.write(blob), mode="w")


def pages_lines(pages):
    "Along the page: the first stretch against the last, real words with their standard errors over the pages."
    lines = [f"{pages['pages']} pages per model; ± one standard error over the pages"]
    for name, run in pages["runs"].items():
        first, last = run["along"][0], run["along"][-1]
        lines.append(f"{name:>15}: real words {pm(first, 'real_words')} in the first stretch, {pm(last, 'real_words')} "
                     f"in the last ({change(first, last, 'real_words')})")
    return lines


# ----------------------------------------------------------------------------------------- Part 11.5: the knobs
def knob_sweep(model, judge, vocab, lexicon, L, settings, n_samples, seed, device):
    "Quality of first-hitting samples under each setting, a dict of the knobs (temperature, top_p, order)."
    from annotated_diffusion import (first_hitting_sample, graph_and_noise, make_denoiser, sample_quality, sharpened,
                                     tqdm)
    gr, nz = graph_and_noise(model.cfg)
    rows = []
    for knobs in tqdm(settings, desc="knobs"):
        g = torch.Generator(device=device).manual_seed(seed)
        den = sharpened(make_denoiser(model, gr), gr, knobs.get("temperature", 1.0), knobs.get("top_p", 1.0))
        x = first_hitting_sample(den, gr, nz, n_samples, L, order=knobs.get("order", "random"), device=device,
                                 generator=g, progress=False)
        rows.append(dict(knobs=knobs, **sample_quality(x, vocab, judge, lexicon)))
    return {"samples": n_samples, "device": here(device), "rows": rows}


def knob_label(knobs):
    return ", ".join(f"{a}={b}" for a, b in knobs.items()) or "exact"


def knob_lines(knobs):
    "Each setting's quality, and its change in real words and entropy from the exact sampler, with their noise."
    base = next(r for r in knobs["rows"] if not r["knobs"])
    return [f"{knobs['samples']} samples per setting, first hitting; ± one standard error over samples"] + [
        f"{knob_label(r['knobs']):>17}: {fmt(r)}" + ("" if r is base else
        f"\n{'':>19}({change(base, r, 'real_words')} real words, {change(base, r, 'unigram_bits')})")
        for r in knobs["rows"]] + [f"a confidence-ordered sample: {r['example']!r}" for r in knobs["rows"]
                                   if r["knobs"].get("order") == "confidence"]


# ------------------------------------------------------------------------------------- Part 11.6: correctors
def corrector_settings(S):
    """Each corrector beside Tweedie τ-leaping at the same network calls: S steps against S/2 steps and S/2 corrector
    steps (1× the calls), and 4S steps against S steps and 3S corrector steps at η = ½ (4× the calls)."""
    return [(f"Tweedie {S}", dict(steps=S)),
            (f"Tweedie {S // 2} + corrector {S // 2}", dict(steps=S // 2, corrector_steps=S // 2)),
            (f"Tweedie {4 * S}", dict(steps=4 * S)),
            (f"Tweedie {S} + corrector {3 * S}, η=½", dict(steps=S, corrector_steps=3 * S, eta=0.5))]


def equal_calls(S):
    "The (Tweedie, corrector) pairs of corrector_settings(S) that make the same network calls."
    labels = [label for label, _ in corrector_settings(S)]
    return [(labels[0], labels[1]), (labels[2], labels[3])]


def corrector_sweep(models, judge, vocab, lexicon, L, n, S, seed, device):
    "Quality, network calls and seconds of each setting of corrector_settings(S), n samples per graph."
    from annotated_diffusion import (cached_denoiser, graph_and_noise, make_denoiser, sample, sample_quality,
                                     sample_with_correctors, tqdm)
    rows = []
    for graph_name in ("absorbing", "uniform"):
        model = models[graph_name]
        gr, nz = graph_and_noise(model.cfg)
        for label, kw in tqdm(corrector_settings(S), desc=f"correctors ({graph_name})"):
            cache, calls = {}, [0]
            base = make_denoiser(model, gr) if model.cfg.conditioned else cached_denoiser(model, gr, cache)

            def counted(x, sigma):
                calls[0] += 1
                return base(x, sigma)
            g = torch.Generator(device=device).manual_seed(seed)
            t0 = time.time()
            x = (sample_with_correctors if "corrector_steps" in kw else sample)(counted, gr, nz, n, L, device=device,
                                                                                 generator=g, progress=False, **kw)
            q = sample_quality(x, vocab, judge, lexicon)
            rows.append(dict(graph=graph_name, setting=label, calls=calls[0], seconds=time.time() - t0,
                             rows_per_sample=cache.get("rows", calls[0] * n) / n,     # (the cache skips some)
                             **{k: v for k, v in q.items() if k != "example"}))
    return {"samples": n, "length": L, "base_steps": S, "device": here(device), "rows": rows}


def correctors_table(c):
    "The markdown table of 11.6 (and the README's), from its entry of results.json: pairs at equal network calls."
    lines = [f"| graph | sampler | network calls | rows per sample | real words | repeated words | unigram entropy | "
             "judge NLL (nats/char) |", "|---" * 8 + "|"]
    for r in c["rows"]:
        lines.append(f"| {r['graph']} | {r['setting']} | {r['calls']} | {r['rows_per_sample']:.0f} | {quality_cells(r)} |")
    rows = {(r["graph"], r["setting"]): r for r in c["rows"]}
    pairs = [f"{g}, {corr}: {change(rows[g, ex], rows[g, corr], 'real_words')}"
             for g in ("absorbing", "uniform") for ex, corr in equal_calls(c["base_steps"]) if (g, corr) in rows]
    lines.append(f"\n{c['samples']} samples of {c['length']} characters per row, on {c['device']}; ± one standard error "
                 f"over samples. Real words, each corrector against Tweedie at the same calls: " + "; ".join(pairs) + ".")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- figures of Parts 11.3 to 11.6
def _refs(ax, quality, key, **kw):
    "Real text and the AR model's samples as horizontal lines."
    ax.axhline(quality["validation"][key], color="gray", ls=":", lw=1, label="validation text", **kw)
    ax.axhline(quality["ar_samples"][key], color="C2", ls="--", lw=1, label="AR samples", **kw)


def plot_samplers(samplers, quality):
    "Quality against seconds for every sampler of 11.3, at each batch size: the run-to-run range and ± one se."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    groups = [("Tweedie", "C1", lambda n: n.startswith("tweedie") and "cache" not in n),
              ("Tweedie + cache", "C0", lambda n: "cache" in n), ("first hitting", "C3", lambda n: n == "first hitting"),
              ("autoregressive", "C2", lambda n: n == "autoregressive")]
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")]):
        for b, ls, marker in zip(samplers["batches"], ("-", "--"), ("o", "s")):
            for group, color, member in groups:
                pts = [(t, sampler_quality(samplers, n), n.split()[1] if n.startswith("tweedie") else "")
                       for n in samplers["seconds"] if member(n) and (t := spread(samplers, n, b)) is not None]
                ax.errorbar([p[0][0] for p in pts], [p[1][key] for p in pts], yerr=[p[1][key + "_se"] for p in pts],
                            xerr=[[p[0][0] - p[0][1] for p in pts], [p[0][2] - p[0][0] for p in pts]], ls=ls,
                            marker=marker, color=color, mfc=color if b == samplers["batches"][0] else "none",
                            capsize=2, label=f"{group}, batch {b}")
                for k, (t, q, steps) in enumerate(pts if group == "Tweedie + cache" else ()):   # (the same, uncached)
                    ax.annotate(steps, (t[0], q[key]), fontsize=7, color=color, textcoords="offset points",
                                xytext=(0, 6 if k % 2 == 0 else -11), ha="center")        # above, below, above...
        ax.axhline(quality["validation"][key], color="gray", ls=":", lw=1, label="validation text")
        ax.set(xscale="log", xlabel=f"seconds for {samplers['length']} characters ({samplers['device']})", title=label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=5, loc="lower center", title="numbers: Tweedie steps",
               title_fontsize=7)
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


def plot_pages(pages, quality):
    "Real words and judge NLL along the page, stretch by stretch, ± one standard error over the pages."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")]):
        for name, run in pages["runs"].items():
            ax.errorbar([i * pages["stretch"] for i in range(len(run["along"]))], [r[key] for r in run["along"]],
                        yerr=[r[key + "_se"] for r in run["along"]], fmt="o-", capsize=2, label=name)
        ax.axhline(quality["validation"][key], color="gray", ls=":", label="validation text")
        ax.set(xlabel=f"position on the page (start of each {pages['stretch']}-character stretch)", title=label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_knobs(knobs, quality, data_bits):
    "Each knob setting of 11.5: quality against unigram entropy (diversity), ± one standard error each way."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    colour = lambda k: "C3" if "order" in k else "C1" if "top_p" in k else "C0" if "temperature" in k else "k"
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")]):
        for r in knobs["rows"]:
            ax.errorbar(r["unigram_bits"], r[key], xerr=r["unigram_bits_se"], yerr=r[key + "_se"], fmt="o",
                        color=colour(r["knobs"]), capsize=2)
            left = "top_p" in r["knobs"]                       # top-p labels on the left, the rest on the right
            ax.annotate(knob_label(r["knobs"]).replace("temperature", "T"), (r["unigram_bits"], r[key]), fontsize=7,
                        xytext=(-4 if left else 4, 3), textcoords="offset points", ha="right" if left else "left")
        for ref, style in (("validation", dict(color="gray", marker="*")), ("ar_samples", dict(color="C2", marker="^"))):
            q = quality[ref]
            ax.errorbar(q["unigram_bits"], q[key], xerr=q["unigram_bits_se"], yerr=q[key + "_se"], ms=9, capsize=2,
                        label=ref.replace("_", " "), **style)
        ax.axvline(data_bits, color="gray", ls=":", lw=1, label="unigram entropy of the data")
        ax.set(xlabel="unigram entropy of the samples (bits): diversity →", title=label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_correctors(correctors, quality):
    "Real words (± one standard error) against network rows per sample: Tweedie (black), with correctors (red)."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), sharey=True)
    for ax, g in zip(axes, ("absorbing", "uniform")):
        for r in (r for r in correctors["rows"] if r["graph"] == g):
            color = "C3" if "corrector" in r["setting"] else "k"
            ax.errorbar(r["rows_per_sample"], r["real_words"], yerr=r["real_words_se"], fmt="o", color=color,
                        capsize=2, zorder=3)
            ax.annotate(r["setting"].replace("corrector", "corr.").replace("Tweedie ", ""),
                        (r["rows_per_sample"], r["real_words"]), fontsize=7, color=color, xytext=(4, 4),
                        textcoords="offset points", ha="left")
        _refs(ax, quality, "real_words")
        ax.set(xscale="log", xlabel="network rows per sample (log)", title=f"{g}: black Tweedie, red with correctors")
        ax.margins(x=0.2)
    axes[0].set_ylabel("real words (share) ↑"); axes[0].legend(fontsize=7, loc="center right")
    fig.tight_layout()
    return fig


def training_meta(trained):
    "What results.json records of the training runs, from train_or_load's (model, metrics) per graph."
    curve = {g: [{"step": s, "minutes": sec / 60, "val_bpc": v} for s, sec, v in
                 zip(m["history"]["val_step"], m["history"]["val_seconds"], m["history"]["val_bpc"])]
             for g, (_, m) in trained.items()}
    return {"best_steps": {g: m["history"]["best_step"] for g, (_, m) in trained.items()},
            "train_seconds": {g: m["train_seconds"] for g, (_, m) in trained.items()}, "training_curve": curve}


# --------------------------------------------------------------------------- What we found (Part 9, Part 12)
# nanoGPT's published anchor (its README, "quick start"): the best validation loss of its shakespeare_char baby GPT,
# 6 layers, 6 heads, 384 channels, context 256, on this text with the same 90/10 split, in nats per character.
NANOGPT_VAL_NATS, NANOGPT_URL = 1.4697, "https://github.com/karpathy/nanoGPT#quick-start"


def verdict(ref, named, key, ref_name="real text"):
    "Which of `named` (name -> measures) are within noise of `ref` on `key`, and which lie below or above it."
    groups = {"within noise of " + ref_name: [], "below it": [], "above it": []}
    for name, x in named.items():
        d, se = noise(ref, x, key)
        groups["within noise of " + ref_name if abs(d) <= 2 * se else "below it" if d < 0 else "above it"].append(name)
    return "; ".join(f"{k}: {' and '.join(v)}" for k, v in groups.items() if v)


def findings(r):
    """What the measurements say, in sentences, every number from the entry `r` of results.json (markdown bullets).
    Sections that were not measured are left out; a difference is worded as one only beyond two standard errors."""
    out = []
    b = r.get("bits_per_char")
    if b:
        a, u, ar = (b[k] for k in ("absorbing", "uniform", "autoregressive"))
        nats = ar["bpc"] * math.log(2)
        out.append(f"**The bound.** On all {a['windows']} validation windows the absorbing diffusion model's likelihood "
                   f"bound is {a['bpc']:.3f} ± {a['se']:.3f} bits per character (± its Monte Carlo standard error), "
                   f"{a['bpc'] / ar['bpc']:.2f}× the autoregressive model's exact {ar['bpc']:.3f} (uniform: "
                   f"{u['bpc']:.3f} ± {u['se']:.3f}, {u['bpc'] / ar['bpc']:.2f}×), with the same backbone, data and "
                   f"training steps. For scale, the baseline's {ar['bpc']:.3f} bits are {nats:.3f} nats per character; "
                   f"[nanoGPT reports]({NANOGPT_URL}) a best validation loss of {NANOGPT_VAL_NATS} nats for its baby "
                   f"GPT of the same size on the same text and split.")
    curve, best, steps = r.get("training_curve"), r.get("best_steps"), r.get("train_steps")
    if curve and best:
        last = [g for g in ("absorbing", "uniform") if best.get(g) == steps]
        arc = curve["autoregressive"]
        low = min(arc, key=lambda p: p["val_bpc"])
        if last and best["autoregressive"] < steps:
            out.append(f"**Still improving at the end.** The best validation step of the {' and '.join(last)} "
                       f"model{'s' if len(last) > 1 else ''} was the last ({steps:,}); the autoregressive model's was "
                       f"{best['autoregressive']:,}, after which its validation estimate rose from {low['val_bpc']:.3f} "
                       f"to {arc[-1]['val_bpc']:.3f} bits/char (training's estimate on random batches, "
                       f"`random_batch_bpc`). Whether longer training closes the gap is not measured here.")
        else:
            out.append("**Training.** Best validation steps: " +
                       ", ".join(f"{k} {v:,}" for k, v in best.items()) + f" of {steps:,}.")
    q = r.get("quality")
    if q:
        qa, qu = quoted(q["runs"]["absorbing/tweedie"]), quoted(q["runs"]["uniform/tweedie"])
        ars, val = q["ar_samples"], q["validation"]
        three = {"absorbing": qa, "uniform": qu, "autoregressive": ars}
        out.append(f"**The samples.** At {qa['steps']} steps ({q['samples']} samples each, ± one standard error), "
                   f"{pm(qa, 'real_words')} of the absorbing model's words are real words ({pm(qu, 'real_words')} for "
                   f"the uniform one), against {pm(ars, 'real_words')} in the autoregressive model's samples and "
                   f"{pm(val, 'real_words')} in real text. Unigram entropy {pm(qa, 'unigram_bits')}, "
                   f"{pm(qu, 'unigram_bits')} and {pm(ars, 'unigram_bits')} against real text's "
                   f"{pm(val, 'unigram_bits')} ({verdict(val, three, 'unigram_bits')}); repeated word pairs "
                   f"{pm(qa, 'repeated_words')}, {pm(qu, 'repeated_words')} and {pm(ars, 'repeated_words')}, real text "
                   f"{pm(val, 'repeated_words')} ({verdict(val, three, 'repeated_words')}).")
        if ars["judge_nll"] < val["judge_nll"] and beyond_noise(val, ars, "judge_nll"):
            out.append(f"**The judge is partial.** The autoregressive judge gives its own model's samples "
                       f"{pm(ars, 'judge_nll')} nats/char, less than real text's {pm(val, 'judge_nll')}: it rewards "
                       f"text like its own, so its column is read together with the others, and Part 10 adds a "
                       f"second judge.")
        else:
            out.append(f"**The judge.** The autoregressive judge gives its own model's samples {pm(ars, 'judge_nll')} "
                       f"nats/char and real text {pm(val, 'judge_nll')} ({change(val, ars, 'judge_nll')}).")
    s = r.get("samplers")
    if s and "first hitting" in s["seconds"]:
        fh = sampler_quality(s, "first hitting")
        tw = max((k for k in s["seconds"] if k.startswith("tweedie")), key=lambda k: int(k.split()[1]))
        ratio, lo, hi = speedup(s, "first hitting", "autoregressive", s["batches"][0])
        out.append(f"**Any order, exactly.** The first-hitting sampler reveals one character per network call, in a "
                   f"random order, with no discretisation error: {pm(fh, 'real_words')} real words against Tweedie's "
                   f"{pm(sampler_quality(s, tw), 'real_words')} at {tw.split()[1]} steps "
                   f"({change(sampler_quality(s, tw), fh, 'real_words')}; {fh['samples']} samples each). On "
                   f"{s['device']} it takes {ratio:.1f}× the autoregressive model's time at batch {s['batches'][0]} "
                   f"({lo:.1f}–{hi:.1f}× over {s['repeats']} runs).")
    inf = r.get("infill")
    if inf and "ngram" in inf["runs"].get("absorbing/tweedie", {}):
        fill, cont = inf["runs"]["absorbing/tweedie"], inf["runs"].get("autoregressive/prefix")
        say = lambda x, j: f"{x[j]['extra_nats_per_hole_char']:+.2f} ± {x[j]['se']:.2f}"
        line = (f"**Infilling.** On {inf['passages']} validation passages with a {inf['hole']}-character hole, the "
                f"absorbing model fills the hole seeing both ends, at {say(fill, 'ar')} nats per hole character over "
                f"the original under the AR judge and {say(fill, 'ngram')} under a {inf['ngram_order']}-gram model of "
                f"the training text, a second judge that is neither model")
        if cont:
            line += (f". The autoregressive model's continuation of the prefix alone, blind to the right side, costs "
                     f"{say(cont, 'ar')} and {say(cont, 'ngram')}")
            line += ". " + infill_verdict(inf)
        out.append(line + ".")
    c = r.get("correctors")
    if c:
        rows = {(x["graph"], x["setting"]): x for x in c["rows"]}
        pairs = [(g, ex, co) for g in ("absorbing", "uniform") for ex, co in equal_calls(c["base_steps"])
                 if (g, ex) in rows and (g, co) in rows]
        said = [f"{pm(rows[g, ex], 'real_words')} → {pm(rows[g, co], 'real_words')} ({g}, {rows[g, ex]['calls']} and "
                f"{rows[g, co]['calls']} calls: {change(rows[g, ex], rows[g, co], 'real_words')})" for g, ex, co in pairs]
        wins = [rows[g, co]["real_words"] > rows[g, ex]["real_words"] and beyond_noise(rows[g, ex], rows[g, co],
                "real_words") for g, ex, co in pairs]
        line = (f"**Correctors.** Against Tweedie at the same network calls ({c['samples']} samples each), correctors "
                f"move real words {'; '.join(said)}")
        line += (". At equal calls, spending them on a corrector beats spending them on Tweedie steps" if all(wins) else
                 ". At equal calls the differences are within noise" if not any(wins) and not any(
                     beyond_noise(rows[g, ex], rows[g, co], "real_words") for g, ex, co in pairs) else
                 f". A corrector wins beyond noise in {sum(wins)} of {len(wins)} pairs")
        t1, t4 = equal_calls(c["base_steps"])[0][0], equal_calls(c["base_steps"])[1][0]
        alone = [f"{change(rows[g, t1], rows[g, t4], 'real_words')} ({g})" for g in ("absorbing", "uniform")
                 if (g, t1) in rows and (g, t4) in rows]
        if alone:
            line += f"; four times the Tweedie steps alone: {', '.join(alone)}"
        ent = [beyond_noise(rows[g, ex], rows[g, co], "unigram_bits") for g, ex, co in pairs]
        line += (f"; unigram entropy moves by at most "
                 f"{max(abs(rows[g, co]['unigram_bits'] - rows[g, ex]['unigram_bits']) for g, ex, co in pairs):.2f} "
                 f"bits" + (", within noise" if not any(ent) else f", beyond noise in {sum(ent)} of {len(ent)} pairs"))
        if q and all(rows[g, co]["real_words"] < q["ar_samples"]["real_words"] and
                     beyond_noise(rows[g, co], q["ar_samples"], "real_words") for g, ex, co in pairs):
            line += f". The autoregressive model's {pm(q['ar_samples'], 'real_words')} stays out of reach"
        out.append(line + ".")
    return out


def findings_markdown(r):
    return "\n".join(f"- {line}" for line in findings(r))


def readme_blocks(r):
    "The README's generated blocks, by marker name, from the shipped entry `r` of results.json."
    return {"findings": findings_markdown(r), "results": results_table(r), "samplers": samplers_table(r),
            "correctors": correctors_table(r["correctors"])}


def write_readme(path, r):
    "Regenerate every block of the README between <!-- NAME:start --> and <!-- NAME:end --> from `r`."
    text = open(path, encoding="utf-8").read()
    for name, block in readme_blocks(r).items():
        text, n = re.subn(rf"<!-- {name}:start -->.*?<!-- {name}:end -->",
                          lambda m: f"<!-- {name}:start -->\n{block}\n<!-- {name}:end -->", text, flags=re.S)
        if n != 1:
            raise ValueError(f"{path} has {n} '{name}' blocks, expected one")
    nb().atomic_write(path, lambda f: f.write(text), mode="w")


if __name__ == "__main__":
    # python scripts/measure.py readme: regenerate the README's tables and findings from assets/results.json
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from notebook import ROOT, load_notebook_exports
    load_notebook_exports()
    if sys.argv[1:] != ["readme"]:
        raise SystemExit("usage: python scripts/measure.py readme")
    write_readme(str(ROOT / "README.md"), json.load(open(ROOT / "assets" / "results.json"))["gpu"])
    print("README.md: blocks regenerated from assets/results.json")
