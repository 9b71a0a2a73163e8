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
                infill_passages=48, infill_hole=32, sampler_steps=[64, 128, 256, 1024], sampler_batches=[1, 32],
                page_chars=2048, page_keep=128, pages=4, knob_samples=32, sample_length=None),
}
SIZES["gpu"] = dict(SIZES["cpu"], quality_samples=64, infill_passages=200)
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
        key = "gpu" if shipped else preset            # the shipped models were trained by the gpu preset
        path = os.path.join(shipped_dir if shipped else ckpt_dir, "results.json")
        entries = json.load(open(path)) if os.path.exists(path) else {}
        if shipped and not recompute and key in entries:
            entry = entries[key]
            print(f"Measurements that take minutes are read from {path} (entry {key!r}, {entry['date']}: "
                  f"{entry['measured_on']}). DIFFUSION_EVAL=1 redoes them here.")
            return cls(path, entry, True)
        print(f"Measuring here ({meta.get('device')}); the results go to {path}, entry {key!r}.")
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


def fmt(r):
    "One line of the four measures of sample quality."
    return (f"{100 * r['real_words']:3.0f}% real words, {100 * r['repeated_words']:.1f}% repeated, "
            f"{r['unigram_bits']:.2f} bits, judge {r['judge_nll']:.3f}")


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
    "The four measures against sampling steps, with AR samples and validation text as references."
    import matplotlib.pyplot as plt
    shown = [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL (nats/char) ↓"),
             ("unigram_bits", "unigram entropy (bits) ≈ data"), ("repeated_words", "repeated words (share) ↓")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (key, label) in zip(axes, shown):
        for run, rows in quality["runs"].items():
            ax.plot([r["steps"] for r in rows], [r[key] for r in rows], "o-", label=run)
        ax.axhline(quality["ar_samples"][key], color="k", ls="--", label="AR samples (T=1)")
        ax.axhline(quality["validation"][key], color="gray", ls=":", label="validation text")
        ax.set(xscale="log", xlabel="sampling steps", title=label)
        ax.set_xticks(quality["steps"], [str(s) for s in quality["steps"]])
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_training(curve, quality):
    "The validation bound (NLL for AR) and the share of real words in samples, against training minutes."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    for name, pts in curve.items():
        axes[0].plot([p["minutes"] for p in pts], [p["val_bpc"] for p in pts], "o-", label=name)
        drawn = [p for p in pts if "real_words" in p]          # the shipped run drew samples as it trained
        axes[1].plot([p["minutes"] for p in drawn], [p["real_words"] for p in drawn], "o-", label=name)
    axes[1].axhline(quality["validation"]["real_words"], color="gray", ls=":", label="validation text")
    axes[0].set(xlabel="training minutes", ylabel="validation bits/char", title="bound (diffusion), NLL (AR)")
    axes[1].set(xlabel="training minutes", ylabel="share of real words", title="real words in samples")
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
    "The sweep at the quoted step count, against AR samples and validation text."
    lines = [f"{'validation text':>20}: {fmt(quality['validation'])}",
             f"{'AR samples (T=1)':>20}: {fmt(quality['ar_samples'])}"]
    for key, rows in quality["runs"].items():
        r = quoted(rows)
        lines.append(f"{key + ' ' + str(r['steps']):>20}: {fmt(r)}")
    return lines


def results_table(res):
    "The README's results table, from one entry of results.json (samplers at QUALITY_STEPS steps, or fewer)."
    b, q = res["bits_per_char"], res["quality"]
    cells = lambda r: (f"{100 * r['real_words']:.0f}% | {100 * r['repeated_words']:.1f}% | {r['unigram_bits']:.2f} | "
                       f"{r['judge_nll']:.3f}")
    lines = ["| model | val bits/char | real words | repeated words | unigram entropy (bits) | judge NLL (nats/char) |",
             "|---|---|---|---|---|---|"]
    for key, rows in q["runs"].items():
        name, method = key.split("/")
        r = quoted(rows)
        lines.append(f"| {name} diffusion, {method} {r['steps']} steps | ≤ {b[name]['bpc']:.3f} ± {b[name]['se']:.3f} | "
                     f"{cells(r)} |")
    lines.append(f"| autoregressive (T=1) | {b['autoregressive']['bpc']:.3f} (exact) | {cells(q['ar_samples'])} |")
    lines.append(f"| validation text | | {cells(q['validation'])} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ Part 10: infilling
def measure_infill(models, judge, windows, n_pass, hole_len, steps, seed, device):
    """Blank the middle `hole_len` characters of `n_pass` passages and refill them (the absorbing model, the uniform
    one with both samplers, and the AR model, which can only continue the prefix); the judge reads the whole passage."""
    from annotated_diffusion import ar_nll, graph_and_noise, make_denoiser, sample, sample_given
    from scale import generate_ar_cached
    L = windows.shape[1]
    idx = torch.randperm(len(windows), generator=torch.Generator().manual_seed(seed))[:n_pass]
    orig = windows[idx].to(device)                                                # (n, L)
    a = (L - hole_len) // 2
    fixed = orig.clone(); fixed[:, a:a + hole_len] = -1
    orig_nll = ar_nll(judge, orig)                                                # (n,) nats per passage
    res = {"passages": n_pass, "hole": hole_len, "steps": steps, "device": here(device),
           "original_nats_per_char": orig_nll.sum().item() / orig.numel(), "runs": {}}
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
        nll = ar_nll(judge, x)
        res["runs"][key] = {"nats_per_char": nll.sum().item() / x.numel(),
                            "extra_nats_per_hole_char": (nll - orig_nll).mean().item() / hole_len,
                            "se": (nll - orig_nll).std().item() / hole_len / math.sqrt(n_pass)}
    return res


def infill_lines(res):
    lines = [f"{res['passages']} passages, a hole of {res['hole']} characters, {res['steps']} steps; the original "
             f"passages: {res['original_nats_per_char']:.3f} nats/char under the AR judge"]
    for key, r in res["runs"].items():
        lines.append(f"{key:>22}: the fill costs {r['extra_nats_per_hole_char']:+.3f} ± {r['se']:.3f} nats "
                     f"per hole character")
    return lines


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


def too_slow_without_cache(steps_list, batches, device, max_rows=4096):
    "On a CPU a call costs in proportion to its rows: skip the uncached runs that send more than max_rows through."
    return {(f"tweedie {s}", b) for s in steps_list for b in batches
            if torch.device(device).type == "cpu" and s * b > max_rows}


def measure_samplers(zoo, judge, vocab, lexicon, L, batches, seed, device, skip=()):
    """Seconds to write L characters at each batch size, and the quality of the largest batch's samples.
    `skip`: (name, batch) pairs left out (too slow for the device); they are recorded as None."""
    from annotated_diffusion import sample_quality, tqdm
    res = {"length": L, "batches": list(batches), "device": here(device), "seconds": {}, "quality": {}}
    for name, fn in tqdm(zoo.items(), desc="samplers"):
        res["seconds"][name] = {}
        for bs in batches:
            if (name, bs) in skip:
                res["seconds"][name][str(bs)] = None
                continue
            g = torch.Generator(device=device).manual_seed(seed)
            out = []
            res["seconds"][name][str(bs)] = wall_time(lambda: out.append(fn(bs, L, g)), device)
            if bs == max(batches):
                res["quality"][name] = sample_quality(out[0], vocab, judge, lexicon)
    return res


def sampler_quality(samplers, name):
    "Quality of a sampler's samples; an uncached Tweedie run drew the same samples as its cached twin."
    return samplers["quality"].get(name) or samplers["quality"][name + " + cache"]


def samplers_table(res):
    "The markdown table of Part 11.3 (and the README's), from one entry of results.json."
    s = res["samplers"]
    fmt_s = lambda v: "—" if v is None else f"{v:.2f}"
    lines = [f"| sampler ({s['length']} characters) | " + " | ".join(f"batch {b} (s)" for b in s["batches"]) +
             " | real words | repeated words | unigram entropy (bits) | judge NLL (nats/char) |",
             "|---" * (len(s["batches"]) + 5) + "|"]
    for name, by_batch in s["seconds"].items():
        q = sampler_quality(s, name)
        lines.append(f"| {name} | " + " | ".join(fmt_s(by_batch[str(b)]) for b in s["batches"]) +
                     f" | {100 * q['real_words']:.0f}% | {100 * q['repeated_words']:.1f}% | {q['unigram_bits']:.2f} | "
                     f"{q['judge_nll']:.3f} |")
    return "\n".join(lines)


def samplers_lines(samplers):
    "What the cache saves at the smallest batch, and first hitting's time against the AR model's."
    b = str(samplers["batches"][0])
    t = lambda name: samplers["seconds"][name][b]
    steps = [int(k.split()[1]) for k in samplers["seconds"] if k.startswith("tweedie") and "cache" in k]
    return [f"—: not timed (too many rows for {samplers['device']}). At batch {b} the cache is " +
            ", ".join(f"{t(f'tweedie {s}') / t(f'tweedie {s} + cache'):.1f}× faster at {s} steps" for s in steps) +
            f"; first hitting takes {t('first hitting') / t('autoregressive'):.1f}× the AR model's time"]


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
    "Along the page: the first stretch against the rest, with the binomial error of one point."
    S, lines = pages["stretch"], []
    for name, run in pages["runs"].items():
        first, rest = run["along"][0], run["along"][1:] or run["along"]
        n_words = sum(len(nb().words_of(t[:S])) for t in run["text"])
        se = math.sqrt(first["real_words"] * (1 - first["real_words"]) / max(1, n_words))
        lines.append(f"{name:>15}: first stretch {100 * first['real_words']:.0f}% real words, the rest "
                     f"{100 * sum(r['real_words'] for r in rest) / len(rest):.0f}% (lowest "
                     f"{100 * min(r['real_words'] for r in rest):.0f}%); ± {100 * se:.1f} points per stretch")
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
    base = next(r for r in knobs["rows"] if not r["knobs"])
    return [f"{knob_label(r['knobs']):>18}: {fmt(r)}" + ("" if r is base else
            f"  ({100 * (r['real_words'] - base['real_words']):+.0f} pts real, "
            f"{r['unigram_bits'] - base['unigram_bits']:+.2f} bits)") for r in knobs["rows"]]


# ------------------------------------------------------------------------------------- Part 11.6: correctors
def corrector_settings(S):
    "The exact sampler at S steps and at 4× its network calls, and correctors at 1×, 2× and 4× its calls."
    return [("exact", dict(steps=S)), ("exact, 4× calls", dict(steps=4 * S)),
            ("corrector 1×", dict(steps=S // 2, corrector_steps=S // 2)),
            ("corrector 2×", dict(steps=S, corrector_steps=S)),
            ("corrector 4×, η=½", dict(steps=S, corrector_steps=3 * S, eta=0.5))]


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
    "The markdown table of 11.6 (and the README's), from its entry of results.json."
    lines = [f"| graph | sampler | network calls | rows per sample | seconds ({c['samples']} samples) | real words | "
             "repeated words | unigram entropy (bits) | judge NLL (nats/char) |", "|---" * 9 + "|"]
    for r in c["rows"]:
        lines.append(f"| {r['graph']} | {r['setting']} | {r['calls']} | {r['rows_per_sample']:.0f} | {r['seconds']:.0f} | "
                     f"{100 * r['real_words']:.0f}% | {100 * r['repeated_words']:.1f}% | {r['unigram_bits']:.2f} | "
                     f"{r['judge_nll']:.3f} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- figures of Parts 11.3 to 11.6
def _refs(ax, quality, key, **kw):
    "Real text and the AR model's samples as horizontal lines."
    ax.axhline(quality["validation"][key], color="gray", ls=":", lw=1, label="validation text", **kw)
    ax.axhline(quality["ar_samples"][key], color="C2", ls="--", lw=1, label="AR samples", **kw)


def plot_samplers(samplers, quality):
    "Quality against seconds for every sampler of 11.3, at each batch size."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    groups = [("Tweedie", "C1", lambda n: n.startswith("tweedie") and "cache" not in n),
              ("Tweedie + cache", "C0", lambda n: "cache" in n), ("first hitting", "C3", lambda n: n == "first hitting"),
              ("autoregressive", "C2", lambda n: n == "autoregressive")]
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")]):
        for b, ls, marker in zip(samplers["batches"], ("-", "--"), ("o", "s")):
            for group, color, member in groups:
                pts = [(t, sampler_quality(samplers, n)[key], n.split()[1] if n.startswith("tweedie") else "")
                       for n, by in samplers["seconds"].items() if member(n) and (t := by[str(b)]) is not None]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], ls=ls, marker=marker, color=color,
                        mfc=color if b == samplers["batches"][0] else "none", label=f"{group}, batch {b}")
                for k, (x_, y_, steps) in enumerate(pts if group == "Tweedie + cache" else ()):   # (the same, uncached)
                    ax.annotate(steps, (x_, y_), fontsize=7, color=color, textcoords="offset points",
                                xytext=(0, 6 if k % 2 == 0 else -11), ha="center")        # above, below, above...
        ax.axhline(quality["validation"][key], color="gray", ls=":", lw=1, label="validation text")
        ax.set(xscale="log", xlabel=f"seconds for {samplers['length']} characters ({samplers['device']})", title=label)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, ncol=5, loc="lower center", title="numbers: Tweedie steps",
               title_fontsize=7)
    fig.tight_layout(rect=(0, 0.17, 1, 1))
    return fig


def plot_pages(pages, quality):
    "Real words and judge NLL along the page, stretch by stretch."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")]):
        for name, run in pages["runs"].items():
            ax.plot([i * pages["stretch"] for i in range(len(run["along"]))], [r[key] for r in run["along"]], "o-",
                    label=name)
        ax.axhline(quality["validation"][key], color="gray", ls=":", label="validation text")
        ax.set(xlabel=f"position on the page (start of each {pages['stretch']}-character stretch)", title=label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_knobs(knobs, quality, data_bits):
    "Each knob setting of 11.5: quality against unigram entropy (diversity)."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    colour = lambda k: "C3" if "order" in k else "C1" if "top_p" in k else "C0" if "temperature" in k else "k"
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")]):
        for r in knobs["rows"]:
            ax.scatter(r["unigram_bits"], r[key], color=colour(r["knobs"]))
            left = "top_p" in r["knobs"]                       # top-p labels on the left, the rest on the right
            ax.annotate(knob_label(r["knobs"]).replace("temperature", "T"), (r["unigram_bits"], r[key]), fontsize=7,
                        xytext=(-4 if left else 4, 3), textcoords="offset points", ha="right" if left else "left")
        for ref, style in (("validation", dict(color="gray", marker="*")), ("ar_samples", dict(color="C2", marker="^"))):
            ax.scatter(quality[ref]["unigram_bits"], quality[ref][key], s=80, label=ref.replace("_", " "), **style)
        ax.axvline(data_bits, color="gray", ls=":", lw=1, label="unigram entropy of the data")
        ax.set(xlabel="unigram entropy of the samples (bits): diversity →", title=label)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_correctors(correctors, quality):
    "Real words against network rows per sample: the exact sampler (black) and correctors (red), per graph."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), sharey=True)
    for ax, g in zip(axes, ("absorbing", "uniform")):
        for r in (r for r in correctors["rows"] if r["graph"] == g):
            color = "C3" if r["setting"].startswith("corrector") else "k"
            ax.scatter(r["rows_per_sample"], r["real_words"], color=color, zorder=3)
            ax.annotate(r["setting"].replace("corrector ", "").replace(", 4× calls", " 4×"),
                        (r["rows_per_sample"], r["real_words"]), fontsize=7, color=color, xytext=(0, 6),
                        textcoords="offset points", ha="center")
        _refs(ax, quality, "real_words")
        ax.set(xscale="log", xlabel="network rows per sample (log)", title=f"{g}: black exact, red correctors")
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
def pct(x):
    return f"{100 * x:.0f}%"


def findings(r):
    """What the measurements say, in sentences, every number from the entry `r` of results.json (markdown bullets).
    Sections that were not measured are left out; each claim is worded from the numbers' signs, not typed in."""
    out = []
    b = r.get("bits_per_char")
    if b:
        a, u, ar = (b[k]["bpc"] for k in ("absorbing", "uniform", "autoregressive"))
        out.append(f"**The bound.** On every validation window the absorbing diffusion model's likelihood bound is "
                   f"{a:.3f} bits per character, {a / ar:.2f}× the autoregressive model's exact {ar:.3f} (uniform: "
                   f"{u:.3f}, {u / ar:.2f}×), with the same backbone, data and training steps.")
    curve, best, steps = r.get("training_curve"), r.get("best_steps"), r.get("train_steps")
    if curve and best:
        arc = curve["autoregressive"]
        low = min(arc, key=lambda p: p["val_bpc"])
        if best["absorbing"] == steps and best["autoregressive"] < steps:
            out.append(f"**Still improving.** The absorbing model's best validation step was its last ({steps:,}), "
                       f"while the autoregressive model was best at step {best['autoregressive']:,} and then overfit, "
                       f"from {low['val_bpc']:.3f} to {arc[-1]['val_bpc']:.3f} bits/char by the end: more training "
                       f"would help diffusion, not the baseline.")
        else:
            out.append("**Training.** Best validation steps: " +
                       ", ".join(f"{k} {v:,}" for k, v in best.items()) + f" of {steps:,}.")
    q = r.get("quality")
    if q:
        qa, qu = quoted(q["runs"]["absorbing/tweedie"]), quoted(q["runs"]["uniform/tweedie"])
        ars, val = q["ar_samples"], q["validation"]
        rep = lambda x: f"{100 * x['repeated_words']:.1f}%"
        out.append(f"**The samples.** At {qa['steps']} steps, {pct(qa['real_words'])} of the absorbing model's words "
                   f"are real words ({pct(qu['real_words'])} for the uniform one), against {pct(ars['real_words'])} "
                   f"in the autoregressive model's samples and {pct(val['real_words'])} in real text. Repeated word "
                   f"pairs: {rep(qa)}, {rep(qu)} and {rep(ars)} (real text {rep(val)}); unigram entropy "
                   f"{qa['unigram_bits']:.2f}, {qu['unigram_bits']:.2f} and {ars['unigram_bits']:.2f} bits (real text "
                   f"{val['unigram_bits']:.2f}).")
        if ars["judge_nll"] < val["judge_nll"]:
            out.append(f"**The judge is partial.** The autoregressive judge gives its own model's samples "
                       f"{ars['judge_nll']:.3f} nats/char, less than real text's {val['judge_nll']:.3f}: it rewards "
                       f"text like its own, so its column is read together with the others.")
    s = r.get("samplers")
    if s and "first hitting" in s["seconds"]:
        fh = sampler_quality(s, "first hitting")
        tw = max((k for k in s["seconds"] if k.startswith("tweedie")), key=lambda k: int(k.split()[1]))
        t1 = lambda k: s["seconds"][k][str(s["batches"][0])]
        out.append(f"**Any order, exactly.** The first-hitting sampler reveals one character per network call, in a "
                   f"random order, with no discretisation error: {pct(fh['real_words'])} real words (Tweedie at "
                   f"{tw.split()[1]} steps: {pct(sampler_quality(s, tw)['real_words'])}). On {s['device']} it takes "
                   f"{t1('first hitting') / t1('autoregressive'):.1f}× the autoregressive model's time at batch "
                   f"{s['batches'][0]}.")
    inf = r.get("infill")
    if inf and "absorbing/tweedie" in inf["runs"]:
        fill = inf["runs"]["absorbing/tweedie"]["extra_nats_per_hole_char"]
        line = (f"**Infilling.** A diffusion model fills a hole between two fixed ends, which a left-to-right model "
                f"cannot: on {inf['passages']} validation passages with a {inf['hole']}-character hole, the absorbing "
                f"model's fill costs {fill:+.2f} nats per hole character over the original, under the judge")
        prefix = inf["runs"].get("autoregressive/prefix")
        if prefix:
            line += (f"; the autoregressive model's continuation of the prefix alone, blind to the right side, costs "
                     f"{prefix['extra_nats_per_hole_char']:+.2f}")
            if prefix["extra_nats_per_hole_char"] < fill:
                line += ", read by a judge that prefers its own model's characters"
        out.append(line + ".")
    c = r.get("correctors")
    if c:
        rows = {(x["graph"], x["setting"]): x for x in c["rows"]}
        big, more = corrector_settings(c["base_steps"])[-1][0], corrector_settings(c["base_steps"])[1][0]
        gr = [g for g in ("absorbing", "uniform") if (g, big) in rows and (g, more) in rows]
        move = lambda g, k: f"{pct(rows[g, 'exact']['real_words'])} → {pct(rows[g, k]['real_words'])}"
        ent = max(abs(rows[g, big]["unigram_bits"] - rows[g, "exact"]["unigram_bits"]) for g in gr)
        line = (f"**Correctors.** Revisiting revealed characters at four times the network calls moves real words "
                f"{', '.join(f'{move(g, big)} ({g})' for g in gr)}, with unigram entropy within {ent:.2f} bits; the "
                f"exact sampler given the same calls: {', '.join(f'{move(g, more)} ({g})' for g in gr)}")
        if all(rows[g, big]["real_words"] > rows[g, more]["real_words"] for g in gr):
            line += ". Correcting helps, not the calls"
        if q and all(rows[g, big]["real_words"] < q["ar_samples"]["real_words"] for g in gr):
            line += f"; the autoregressive model's {pct(q['ar_samples']['real_words'])} stays out of reach"
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
