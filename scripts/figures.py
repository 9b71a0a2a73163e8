"""The notebook's appendix: drawing. The code of every figure of the notebook, one function each.

Each `plot_*` takes plain numbers (a tensor, or a section of `assets/results.json`) and returns a matplotlib figure;
the notebook shows it and saves it under a stable name (`save_figure`). To lift a figure into a post, call its
function on the same section of `results.json`. The numbers come from `measure.py`; the words from `report.py`.
"""
import math
import os

import torch

from measure import sampler_quality, spread
from report import knob_label

# The rule of every figure: legible where the notebook shows it (72 dpi): no text under 9 points, no legend over data.


def _legend_below(fig, handles, labels, **kw):
    "A legend under the panels (a constrained layout), in as few rows as the figure's width allows: it covers nothing."
    for ncol in range(len(labels), 0, -1):
        legend = fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=9, **kw)
        if ncol == 1 or legend.get_window_extent().width <= fig.bbox.width:
            return legend
        legend.remove()


def _overlap(a, b):
    "The area two display boxes share, in square pixels."
    return max(0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _obstacles(ax):
    "Display boxes of what a label must not cover: markers, error bars (caps too), straight reference lines, text."
    from matplotlib.transforms import Bbox
    boxes = [t.get_window_extent().padded(1) for t in ax.texts if t.get_visible() and t.get_text()]
    for line in ax.lines:
        if line.get_marker() not in (None, "None", "", " "):
            r = line.get_markersize() * ax.figure.dpi / 72 / 2 + 1
            boxes += [Bbox([[x - r, y - r], [x + r, y + r]])
                      for x, y in line.get_transform().transform(line.get_xydata())]
        elif min((b := line.get_window_extent()).width, b.height) < 3:
            boxes.append(b.padded(1))
    for c in ax.collections:                                      # error bars: one segment each
        for seg in getattr(c, "get_segments", list)():
            xy = c.get_transform().transform(seg)
            boxes.append(Bbox([xy.min(0), xy.max(0)]).padded(1))
    return boxes


def _label_points(ax, points, sides=("above", "below", "right", "left"), gap=4):
    """Write each (x, y, text, colour[, its own sides]) of `points` beside its point, on the first of `sides` (then
    the diagonals) where it covers no marker, error bar, reference line or other text and stays in the axes; where no
    side is clear, on the side it covers least. Call it last: it reads the finished layout, in pixels."""
    fig = ax.figure
    fig.draw_without_rendering()                       # the layout and axis limits are final: pixels are known
    taken, frame = _obstacles(ax), ax.get_window_extent()
    offsets = {"above": ((0, gap), "center", "bottom"), "below": ((0, -gap), "center", "top"),
               "right": ((gap, 0), "left", "center_baseline"), "left": ((-gap, 0), "right", "center_baseline"),
               "upper right": ((gap, gap), "left", "bottom"), "upper left": ((-gap, gap), "right", "bottom"),
               "lower right": ((gap, -gap), "left", "top"), "lower left": ((-gap, -gap), "right", "top")}
    for x, y, text, colour, *own in points:
        best, first = None, own[0] if own else sides
        for side in [*first, *(s for s in offsets if s not in first)]:
            xytext, ha, va = offsets[side]
            label = ax.annotate(text, (x, y), xytext=xytext, textcoords="offset points", ha=ha, va=va, color=colour,
                                fontsize=9, in_layout=False)
            box = label.get_window_extent().padded(1)
            cost = sum(_overlap(box, t) for t in taken) + box.width * box.height - _overlap(box, frame)
            if best is not None and cost >= best[0]:
                label.remove()
                continue
            if best is not None:
                best[1].remove()
            best = (cost, label, box)
            if cost == 0:
                break
        taken.append(best[2])


# ----------------------------------------------------- Parts 2 to 10: the pictures after each component of the lesson
# The notebook shows each and saves it in the run's folder (runs/...); assets/ holds the shipped copies.
def plot_rate_matrices(graphs, levels=(0.1, 1.0, 4.0)):
    "Q and exp(σ̄Q) for each graph (a small vocabulary), row x to column y, with the values written in."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(graphs), 1 + len(levels), figsize=(12, 3.1 * len(graphs)))
    for row, G in zip(axes, graphs, strict=True):
        mask = getattr(G, "mask", None)
        names = ["M" if i == mask else "abcdefgh"[i] for i in range(G.dim)]
        Q = G.rate_matrix()
        mats = [(Q, "Q")] + [(torch.linalg.matrix_exp(s * Q), f"exp({s}·Q)") for s in levels]
        for ax, (m, title) in zip(row, mats, strict=True):
            ax.imshow(m, cmap="RdBu", vmin=-1, vmax=1)
            ax.set(title=f"{type(G).__name__[:-5].lower()}: {title}", xticks=range(G.dim), yticks=range(G.dim),
                   xticklabels=names, yticklabels=names)
            for (a, b), v in zip(((a, b) for a in range(G.dim) for b in range(G.dim)), m.flatten().tolist(),
                                 strict=True):
                ax.text(b, a, f"{v + 0.0:.2f}", ha="center", va="center", fontsize=9,      # (+ 0.0: no "-0.00")
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
    axes[0].legend(fontsize=9, loc="upper left"); axes[1].legend(fontsize=9, loc="upper left")   # (empty corners)
    fig.tight_layout()
    return fig


def plot_masks(panels):
    """Side-by-side 0/1 matrices: panels is a list of (matrix (T, T), title), or (matrix, title, L) for a block
    model's 2L positions (its noisy copy x_t, then the clean x_0), drawn with the halves marked."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(3.5 * len(panels), 3.6))
    for ax, (m, title, *halves) in zip(axes, panels, strict=True):
        ax.imshow(m, cmap="Blues", vmin=0, vmax=1.3)
        ax.set(title=title, xlabel="changed position j", ylabel="output position i", xticks=[], yticks=[])
        for L in halves:
            ax.axhline(L - 0.5, color="k", lw=0.8); ax.axvline(L - 0.5, color="k", lw=0.8)
            ticks = [(L - 1) / 2, L + (L - 1) / 2]
            ax.set(xticks=ticks, xticklabels=["$x_t$", "$x_0$"], yticks=ticks, yticklabels=["$x_t$", "$x_0$"])
    fig.tight_layout()
    return fig


def plot_curves(curves, ylabel, title, hline=None, hline_label=None, figsize=(6, 3), **axis):
    "Lines (label -> (x, y, style)) on one axis, with an optional horizontal reference line."
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    for label, (x, y, style) in curves.items():
        ax.plot(x, y, style, label=label, alpha=0.5 if style == "-" and len(curves) > 1 else 1.0)
    if hline is not None:
        ax.axhline(hline, color="gray", ls=":", label=hline_label)
    ax.set(ylabel=ylabel, title=title, **axis)
    if len(curves) > 1 or hline is not None:
        _legend_below(fig, *ax.get_legend_handles_labels())
    return fig


def plot_bits_per_char(bpc, unigram_bits, title):
    """The three models' bits per character with their standard errors, labelled above the error bars, under the
    unigram entropy (a dotted line, named at its right end)."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    names = list(bpc)
    top = [bpc[k]["bpc"] + bpc[k]["se"] for k in names]
    ax.bar(names, [bpc[k]["bpc"] for k in names], yerr=[bpc[k]["se"] for k in names], color=["C0", "C1", "C2"])
    ax.axhline(unigram_bits, color="gray", ls=":")
    ax.annotate(f"unigram entropy {unigram_bits:.2f}", (1, unigram_bits), xycoords=ax.get_yaxis_transform(),
                xytext=(-3, 3), textcoords="offset points", ha="right", va="bottom", color="dimgray", fontsize=9)
    for i, k in enumerate(names):
        ax.text(i, top[i] + 0.05, f"{bpc[k]['bpc']:.3f}", ha="center")
    ax.set(ylabel="bits per character (lower is better)", title=title, ylim=(0, 1.15 * max(*top, unigram_bits)))
    fig.tight_layout()
    return fig


def plot_infill_cost(extra, hole, width=9):
    "The judge's extra nats per character over the original, along the passage (a moving average), hole shaded."
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3.3), layout="constrained")
    kernel = torch.ones(1, 1, width) / width
    for label, e in extra.items():
        ax.plot(torch.nn.functional.conv1d(e.double()[None, None], kernel.double(), padding="same")[0, 0], label=label)
    ax.axvspan(hole.start, hole.stop, color="gray", alpha=0.2, label="the hole")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="position in the passage", ylabel=f"extra nats per character\n({width}-character average)",
           title="the judge's extra cost over the original: prefix | hole | suffix")
    _legend_below(fig, *ax.get_legend_handles_labels())
    return fig


# ---------------------------------------------------------------------------------------------------- Part 9: results


def plot_quality(quality):
    "The four measures against sampling steps (± one standard error), with AR samples and validation text."
    import matplotlib.pyplot as plt
    shown = [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL (nats/char) ↓"),
             ("unigram_bits", "unigram entropy (bits) ≈ data"), ("repeated_words", "repeated words (share) ↓")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), layout="constrained")
    for ax, (key, label) in zip(axes, shown, strict=True):
        for run, rows in quality["runs"].items():
            ax.errorbar([r["steps"] for r in rows], [r[key] for r in rows], yerr=[r[key + "_se"] for r in rows],
                        fmt="o-", capsize=2, label=run)
        ax.axhline(quality["ar_samples"][key], color="k", ls="--", label="AR samples (T=1)")
        ax.axhline(quality["validation"][key], color="gray", ls=":", label="validation text")
        ax.set(xscale="log", xlabel="sampling steps", title=label)
        ax.set_xticks(quality["steps"], [str(s) for s in quality["steps"]])
    _legend_below(fig, *axes[0].get_legend_handles_labels())               # below the panels, covering no line
    return fig


def plot_training(curve, quality):
    "The validation bound (NLL for AR) and the share of real words in samples (± se), against training steps."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    for name, pts in curve.items():
        axes[0].plot([p["step"] for p in pts], [p["val_bpc"] for p in pts], "o-", label=name)
        drawn = [p for p in pts if "real_words" in p]          # the shipped run drew samples as it trained
        axes[1].errorbar([p["step"] for p in drawn], [p["real_words"] for p in drawn],
                         yerr=[p.get("real_words_se", 0) for p in drawn], fmt="o-", capsize=2, label=name)
    axes[1].axhline(quality["validation"]["real_words"], color="gray", ls=":", label="validation text")
    axes[0].set(xlabel="training step (the same batches for every model)", ylabel="validation bits/char",
                title="bound (diffusion), NLL (AR): training's estimate")
    axes[1].set(xlabel="training step", ylabel="share of real words", title="real words in samples (± se)")
    _legend_below(fig, *axes[1].get_legend_handles_labels())           # one legend for both panels, under them
    return fig


# ----------------------------------------------- Parts 11 and 15: sampling beyond the paper, and the appendix


def _refs(ax, quality, key, **kw):
    "Real text and the AR model's samples as horizontal lines."
    ax.axhline(quality["validation"][key], color="gray", ls=":", lw=1, label="validation text", **kw)
    ax.axhline(quality["ar_samples"][key], color="C2", ls="--", lw=1, label="AR samples", **kw)


def plot_samplers(samplers, quality):
    """Every sampler of 15.1 at each batch size (filled: the first, hollow: the second), one colour per kind. Left:
    real words (± one se) against seconds, the run-to-run range as horizontal bars, Tweedie's steps written beside
    each point. Right: the seconds themselves, the median of the runs with their range, on a log axis."""
    import matplotlib.pyplot as plt
    from matplotlib import ticker
    from matplotlib.lines import Line2D
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=(1.2, 1), layout="constrained")
    groups = [("Tweedie", "C1", "o", lambda n: n.startswith("tweedie") and "cache" not in n),     # colour, marker
              ("Tweedie + cache", "C0", "s", lambda n: "cache" in n),
              ("first hitting", "C3", "D", lambda n: n == "first hitting"),
              ("autoregressive", "C2", "^", lambda n: n == "autoregressive")]
    colour = lambda n: next(c for _, c, _, member in groups if member(n))
    batches, names = samplers["batches"], list(samplers["seconds"])
    face = lambda b, c: c if b == batches[0] else "white"                    # the batch: filled or hollow
    xlabel = f"seconds for {samplers['length']} characters ({samplers['device']})"
    ax, steps = axes[0], []
    for b in batches:
        for _, c, marker, member in groups:
            pts = [(n, t, sampler_quality(samplers, n)) for n in names if member(n)
                   and (t := spread(samplers, n, b)) is not None]
            ax.errorbar([t[0] for _, t, _ in pts], [q["real_words"] for *_, q in pts],
                        yerr=[q["real_words_se"] for *_, q in pts], xerr=[[t[0] - t[1] for _, t, _ in pts],
                                                                          [t[2] - t[0] for _, t, _ in pts]],
                        marker=marker, ms=6, mew=1.5, lw=1, color=c, mfc=face(b, c), capsize=2)
            for n, t, q in (p for p in pts if p[0].startswith("tweedie")):   # on its cached twin: one number
                twin = None if "cache" in n else spread(samplers, n + " + cache", b)
                if not (twin and abs(t[0] / twin[0] - 1) < 0.15):
                    steps.append((t[0], q["real_words"], n.split()[1], c))
    ax.axhline(quality["validation"]["real_words"], color="gray", ls=":", lw=1)
    ax.annotate("validation text", (1, quality["validation"]["real_words"]), xycoords=ax.get_yaxis_transform(),
                xytext=(-3, 3), textcoords="offset points", ha="right", va="bottom", color="dimgray", fontsize=9)
    ax.set(xscale="log", xlabel=xlabel, ylabel="real words (share) ↑", title="real words against time (numbers: "
           "Tweedie's steps)")
    ax = axes[1]                                          # the seconds: one row per sampler, one bar per batch
    timed = [t for n in names for b in batches if (t := spread(samplers, n, b)) is not None]
    base, h = 10 ** math.floor(math.log10(min(t[1] for t in timed))), 0.8 / len(batches)
    for j, b in enumerate(batches):
        for i, n in enumerate(names):
            y, t = i + (j - (len(batches) - 1) / 2) * h, spread(samplers, n, b)
            if t is None:
                ax.text(base * 1.1, y, f"batch {b}: not timed", va="center", fontsize=9, color="dimgray")
                continue
            ax.barh(y, t[0] - base, left=base, height=0.9 * h, color=face(b, colour(n)), edgecolor=colour(n), lw=1.5,
                    xerr=[[t[0] - t[1]], [t[2] - t[0]]], capsize=2, error_kw=dict(lw=1, ecolor="k"))
    ax.set(xscale="log", xlim=(base, 1.5 * max(t[2] for t in timed)), yticks=range(len(names)), yticklabels=names,
           ylim=(len(names) - 0.5, -0.5), xlabel=xlabel,
           title=f"seconds: median of {samplers['repeats']} runs (whiskers: their range)")
    handles = [Line2D([], [], color=c, marker=m, ls="none", ms=7) for _, c, m, _ in groups]
    handles += [Line2D([], [], color="k", marker="o", ls="none", ms=7, mew=1.5, mfc=face(b, "k")) for b in batches]
    for ax in axes:                                       # seconds as plain numbers: 1, 2, 5, 10, 20, ...
        ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    _legend_below(fig, handles, [g for g, *_ in groups] +
                  [f"batch {b} ({'filled' if b == batches[0] else 'hollow'})" for b in batches])
    _label_points(axes[0], sorted(steps, key=lambda p: p[3] != "C0"))     # cached first: theirs go above
    return fig


def plot_pages(pages, quality):
    "Real words and judge NLL along the page, stretch by stretch, ± one standard error over the pages."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), layout="constrained")
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")],
                                strict=True):
        for name, run in pages["runs"].items():
            ax.errorbar([i * pages["stretch"] for i in range(len(run["along"]))], [r[key] for r in run["along"]],
                        yerr=[r[key + "_se"] for r in run["along"]], fmt="o-", capsize=2, label=name)
        ax.axhline(quality["validation"][key], color="gray", ls=":", label="validation text")
        ax.set(xlabel=f"position on the page (start of each {pages['stretch']}-character stretch)", title=label)
    _legend_below(fig, *axes[0].get_legend_handles_labels())
    return fig


def plot_knobs(knobs, quality, data_bits):
    "Each knob setting of 15.3: quality against unigram entropy (diversity), ± one standard error each way."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    colour = lambda k: "C3" if "order" in k else "C1" if "top_p" in k else "C0" if "temperature" in k else "k"
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")],
                                strict=True):
        for r in knobs["rows"]:
            ax.errorbar(r["unigram_bits"], r[key], xerr=r["unigram_bits_se"], yerr=r[key + "_se"], fmt="o",
                        color=colour(r["knobs"]), capsize=2)
        for ref, style in (("validation", dict(color="gray", marker="*")),
                           ("ar_samples", dict(color="C2", marker="^"))):
            q = quality[ref]
            ax.errorbar(q["unigram_bits"], q[key], xerr=q["unigram_bits_se"], yerr=q[key + "_se"], ms=9, capsize=2,
                        label=ref.replace("_", " "), **style)
        ax.axvline(data_bits, color="gray", ls=":", lw=1, label="unigram entropy of the data")
        ax.set(xlabel="unigram entropy of the samples (bits): diversity →", title=label)
    _legend_below(fig, *axes[0].get_legend_handles_labels())
    for ax, key in zip(axes, ("real_words", "judge_nll"), strict=True):          # top-p labels first on the left
        _label_points(ax, [(r["unigram_bits"], r[key], knob_label(r["knobs"]).replace("temperature", "T"), "k",
                            ("upper left", "upper right") if "top_p" in r["knobs"] else ("upper right", "upper left"))
                           for r in knobs["rows"]])
    return fig


def plot_correctors(correctors, quality):
    """Real words (± one standard error) against network calls per sample: Tweedie alone (black) and with corrector
    steps (red). A setting with correctors and the Tweedie run of as many calls stand one above the other."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True, layout="constrained")
    calls = [r["calls"] for r in correctors["rows"]]
    for ax, g in zip(axes, ("absorbing", "uniform"), strict=True):
        for r in (r for r in correctors["rows"] if r["graph"] == g):
            ax.errorbar(r["calls"], r["real_words"], yerr=r["real_words_se"], fmt="o", capsize=2, zorder=3,
                        color="C3" if "corrector" in r["setting"] else "k")
        _refs(ax, quality, "real_words")
        ax.set(xlabel="network calls per sample", title=f"{g} model", xlim=(0, 1.2 * max(calls)))
    axes[0].set_ylabel("real words (share) ↑")
    handles, labels = axes[0].get_legend_handles_labels()
    _legend_below(fig, [Line2D([], [], color=c, marker="o", ls="none") for c in ("k", "C3")] + handles,
                  ["Tweedie (its steps)", "with correctors (steps + corrector steps)"] + labels)
    for ax, g in zip(axes, ("absorbing", "uniform"), strict=True):
        _label_points(ax, [(r["calls"], r["real_words"], r["setting"].replace("corrector", "corr.")
                            .replace("Tweedie ", ""), "C3" if "corrector" in r["setting"] else "k")
                           for r in correctors["rows"] if r["graph"] == g], sides=("right", "left"))
    return fig


# ------------------------------------------------------------------------------------- the denoising animation
def denoising_gif(frames, path, mask="_", width=64, font_size=18, ms=110, hold_ms=3500):
    """A sampling trajectory as an animated GIF, written atomically: `frames` are the decoded texts, noise to text.
    Every character keeps its cell of a fixed grid, `width` to a row, from the first frame to the last: a mask is a
    grey block, a line break a grey ↵ (not a break, which would move the text), the characters revealed at this step
    are red, and a key above the page says so. The last frame is held. At the defaults the frame is 740 pixels wide
    with 18-pixel glyphs: legible without zooming."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont
    mono = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans Mono"))
    font, small = ImageFont.truetype(mono, font_size), ImageFont.truetype(mono, round(0.8 * font_size))
    cw, lh, pad = font.getlength("M"), round(1.35 * font_size), round(1.3 * font_size)
    n = max(len(t) for t in frames)
    rows = -(-n // width)
    W, H = round(2 * pad + width * cw), round(pad + 2.3 * lh + rows * lh + pad / 2)
    ink = {"paper": (255, 255, 255), "text": (20, 20, 20), "mask": (200, 200, 200), "new": (214, 39, 40),
           "label": (90, 90, 90), "mark": (150, 150, 150)}
    paper = ink["paper"]                       # the inks and their blends with the paper: smooth glyph edges
    palette = [paper] + [tuple(round(a * v + (1 - a) * w) for v, w in zip(c, paper, strict=True))
                         for name, c in ink.items() if name != "paper" for a in (1.0, 0.75, 0.5, 0.25)]
    cell = lambda i: (pad + (i % width) * cw, pad / 2 + 2.3 * lh + (i // width) * lh)    # the fixed place of i
    images = []
    for k, text in enumerate(frames):
        im = Image.new("RGB", (W, H), paper)
        d = ImageDraw.Draw(im)
        revealed = sum(c != mask for c in text)
        label = (f"denoising step {k} of {len(frames) - 1}: {revealed} of {len(text)} characters "
                 f"{'revealed' if mask in ''.join(frames) else 'settled'}")
        d.text((pad, pad / 2), label, font=small, fill=ink["label"])
        key_y, x = pad / 2 + 0.95 * lh, pad                    # the key, on the line under the label
        for part, colour in (("red", "new"), (": revealed at this step;  ", "label"), ("■", "mask"),
                             (": still masked;  ", "label"), ("↵", "mark"), (": a line break", "label")):
            d.text((x, key_y), part, font=small, fill=ink[colour])
            x += small.getlength(part)
        prev = frames[k - 1] if k else text
        for i, ch in enumerate(text):
            x, y = cell(i)
            if ch == mask:                     # one block per masked character, a little inside its cell
                d.rectangle([x + 1, y + 0.2 * lh, x + cw - 2, y + 0.9 * lh], fill=ink["mask"])
                continue
            colour = "new" if ch != prev[i] else "mark" if ch == "\n" else "text"
            d.text((x, y), "↵" if ch == "\n" else ch, font=font, fill=ink[colour])
        images.append(im.quantize(palette=_palette_image(palette), dither=Image.Dither.NONE))
    tmp = path + ".tmp.gif"
    images[0].save(tmp, save_all=True, append_images=images[1:], loop=0, optimize=True,
                   duration=[ms] * (len(images) - 1) + [hold_ms])
    os.replace(tmp, path)
    return W, H


def _palette_image(colours):
    "A palette image holding exactly these colours (the GIF then needs a few bits per pixel)."
    from PIL import Image
    p = Image.new("P", (1, 1))
    p.putpalette([v for c in colours for v in c] + [0, 0, 0] * (256 - len(colours)))
    return p


# ------------------------------------------------------------------------------ Parts 4 and 5: the heart of it
def plot_concrete_score(context, scores, jumps, true_char, title, top=10,
                        score_title="the concrete score (red: the original character)"):
    """Part 4: the concrete score at one masked position of a real passage, s_y = p_t(y)/p_t(x) for each character y
    (`scores`, a dict), and what the reverse process does with it in one step: `jumps`, the probability of becoming
    each y (the rest stays masked). `context`: the passage around the position, which is shown as [_]."""
    import matplotlib.pyplot as plt
    best = sorted(scores, key=lambda c: -scores[c])[:top]
    shown = lambda c: {" ": "␣", "\n": "⏎"}.get(c, c)
    colour = lambda c: "C3" if c == true_char else "C0"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    axes[0].bar([shown(c) for c in best], [scores[c] for c in best], color=[colour(c) for c in best])
    axes[0].set(yscale="log", ylabel="s_y = p_t(y) / p_t(x)", xlabel="character y at the masked position",
                title=score_title)
    stay = 1 - sum(jumps.values())
    labels, values = ["stay masked"] + [f"becomes {shown(c)}" for c in best], [stay] + [jumps[c] for c in best]
    axes[1].barh(labels[::-1], values[::-1], color=(["C7"] + [colour(c) for c in best])[::-1])
    axes[1].set(xscale="log", xlabel="probability", title=title)
    fig.suptitle(context.replace("\n", " ⏎ "), family="monospace", fontsize=11)
    fig.tight_layout()
    return fig


def plot_score_entropy(divergence, ratios=(0.2, 1.0, 5.0), s_at=1.5):
    """Part 5: one term of score entropy, as `divergence(log s, log r)` computes it, against the predicted ratio s, for
    a few true ratios r: zero at s = r and positive elsewhere. Left: the Bregman picture, the same term as the gap, at
    the true ratio r, between K(a) = a(log a - 1) and its tangent at the prediction s. The bar is drawn from the
    tangent up to K, and the number in its label is the bar's length; `fig.bregman` keeps both and the term itself."""
    import matplotlib.pyplot as plt
    f64 = lambda v: torch.as_tensor(v, dtype=torch.float64)
    s = torch.logspace(-2, 2, 400, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    K = lambda a: a * (a.log() - 1)
    r, at = f64(ratios[-1]), f64(s_at)
    tangent = lambda a: K(at) + at.log() * (a - at)                  # K'(s) = log s
    a = torch.linspace(0.05, 9, 300, dtype=torch.float64)
    ax = axes[0]
    ax.plot(a, K(a), color="k", label="K(a) = a (log a − 1)")
    ax.plot(a, tangent(a), color="C0", ls="--", label=f"its tangent at the prediction s = {s_at:g}")
    ax.plot([at], [K(at)], "o", color="C0", ms=5)
    bottom, top = tangent(r).item(), K(r).item()
    ax.vlines(r, bottom, top, color="C3", lw=3, label=f"at the true ratio r = {r:g}, the gap: {top - bottom:.2f}")
    ax.set(xlabel="a", title="the term: K at r above the tangent at s", ylim=(-3, 12))
    ax.legend(loc="upper left", fontsize=9)
    fig.bregman = dict(s=s_at, r=r.item(), bar=(bottom, top), term=divergence(at.log(), r.log()).item())
    ax = axes[1]
    for k, r in enumerate(ratios):
        rr = torch.tensor(r, dtype=torch.float64)
        ax.plot(s, divergence(s.log(), rr.log().expand_as(s)), color=f"C{k}", label=f"true ratio r = {r:g}")
        ax.axvline(r, color=f"C{k}", ls=":", lw=1)
    ax.set(xscale="log", ylim=(0, 6), xlabel="predicted ratio s (log axis)", ylabel="s − r log s + K(r)",
           title="one term of score entropy: zero exactly at s = r")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_blocks(blocks):
    """Part 12: the bound, real words and seconds for a long text against the block length L′, absorbing diffusion
    from L′ = 1 to the context, the GPT and the uniform models marked; error bars are two standard errors."""
    import matplotlib.pyplot as plt
    from report import block_rows, block_scale
    absorbing, ar, uniform = block_rows(blocks)
    S, scale = blocks["sweep"], block_scale(blocks)
    key = f"{S['long']}/{max(S['batches'])}"
    panels = [("bound (bits/char)", lambda r: (r["bpc"], 2 * r["bpc_se"])),
              ("real words (%)", lambda r: (100 * r["quality"]["real_words"], 200 * r["quality"]["real_words_se"])),
              (f"seconds for {S['long']:,} characters, batch {max(S['batches'])}", lambda r: (r["seconds"][key], 0))]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
    Ls = [r["block_len"] for r in absorbing]
    for ax, (title, get) in zip(axes, panels, strict=True):
        y = [get(r) for r in absorbing]
        ax.errorbar(Ls, [v for v, _ in y], yerr=[e for _, e in y], fmt="o-", color="C0", capsize=3,
                    label="absorbing block diffusion")
        if uniform:
            yu = [get(r) for r in uniform]
            ax.errorbar([r["block_len"] for r in uniform], [v for v, _ in yu], yerr=[e for _, e in yu], fmt="s--",
                        color="C2", capsize=3, label="uniform block diffusion")
        v, e = get(ar)
        ax.axhline(v, color="C3", ls=":", label="GPT (with its key/value cache)")
        if e:
            ax.axhspan(v - e, v + e, color="C3", alpha=0.12, lw=0)
        ax.set_xscale("log", base=2)
        ax.set(xticks=Ls, xticklabels=[str(L) for L in Ls], xlabel="block length L′ (characters)", title=title)
        if ax is axes[-1]:                                        # seconds: a log scale, in plain numbers
            from matplotlib.ticker import NullFormatter
            ax.set_yscale("log", base=2)
            lo, hi = ax.get_ylim()
            ticks = [2.0 ** k for k in range(math.floor(math.log2(lo)), math.ceil(math.log2(hi)) + 1)]
            ax.set_yticks(ticks, [f"{t:g}" for t in ticks]); ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_ylim(lo, hi)
    for ax, (_, get) in zip(axes, panels, strict=True):          # the two ends, named where they sit
        _label_points(ax, [(Ls[0], get(absorbing[0])[0], "the GPT's order", "C0"),
                           (Ls[-1], get(absorbing[-1])[0], "one block", "C0", ("left", "below", "above"))])
    fig.suptitle(f"block diffusion from L′ = 1 to one block ({scale})", fontsize=10)
    _legend_below(fig, *axes[0].get_legend_handles_labels())
    return fig


def plot_variance(blocks):
    """Part 12: how noisy each model's training loss and gradient are at its weights, against the block length, with
    BD3-LM's remedies marked; and, when searched, the variance of the training loss over clipped intervals."""
    import matplotlib.pyplot as plt
    from report import REMEDIES, block_rows, variance_label
    absorbing, ar, _ = block_rows(blocks)
    sweep = [r for r in absorbing if "variance" in r]
    remedies = [blocks["rows"][k] for k in REMEDIES if "variance" in blocks["rows"].get(k, {})]
    searched = [k for k in ("absorbing-4", "absorbing-16") if k in blocks.get("clip_search", {})]
    fig, axes = plt.subplots(1, 2 + len(searched), figsize=(4.2 * (2 + len(searched)), 3.8), layout="constrained")
    panels = [("sd of the training loss (nats/char)", lambda v: v["train_loss_sd"]),
              ("gradient noise on one batch, E|g − ḡ|² / |ḡ|²", lambda v: v["grad_fixed_batch"]["noise"])]
    Ls = [r["block_len"] for r in sweep]
    for ax, (title, get) in zip(axes, panels, strict=False):
        ax.plot(Ls, [get(r["variance"]) for r in sweep], "o-", color="C0", label="absorbing block diffusion, U[0, 1]")
        for r, (m, c) in zip(remedies, [("^", "C1"), ("s", "C4")], strict=False):
            ax.plot([r["block_len"]], [get(r["variance"])], m, color=c, ms=8, label=variance_label(r))
        if ar and "variance" in ar:
            ax.axhline(get(ar["variance"]), color="C3", ls=":", label="GPT (exact: no draw)")
        ax.set_xscale("log", base=2)
        ax.set(xticks=Ls, xticklabels=[str(L) for L in Ls], xlabel="block length L′ (characters)", title=title)
        ax.set_ylim(bottom=0)
    for ax, name in zip(axes[2:], searched, strict=True):
        s = blocks["clip_search"][name]
        grid = sorted({x for r in s["grid"] for x in r["clip"]})
        img = torch.full((len(grid), len(grid)), float("nan"))
        for r in s["grid"]:
            img[grid.index(r["clip"][0]), grid.index(r["clip"][1])] = math.log10(r["variance"])
        n = len(grid)
        im = ax.imshow(img.numpy(), origin="lower", cmap="viridis", extent=(-0.5, n - 0.5, -0.5, n - 0.5))
        ticks = list(range(0, len(grid), 2))
        ax.set_xticks(ticks, [f"{grid[i]:g}" for i in ticks]); ax.set_yticks(ticks, [f"{grid[i]:g}" for i in ticks])
        lo, hi = s["chosen"]
        ax.plot([grid.index(hi)], [grid.index(lo)], "*", color="white", ms=14, mec="k", label="least variance")
        ax.plot([grid.index(1.0)], [grid.index(0.0)], "o", color="white", ms=8, mec="k", label="U[0, 1]")
        ax.set(xlabel="ω (highest mask rate)", ylabel="β (lowest mask rate)",
               title=f"L′ = {blocks['rows'][name]['block_len']}: log10 variance of the loss, t ~ U[β, ω]")
        fig.colorbar(im, ax=ax, shrink=0.8)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h); labels.append(lab)
    _legend_below(fig, handles, labels)
    return fig


def plot_epochs(epochs):
    """Part 13: validation bits/char against epochs over the same U characters, the GPT (dropout 0 and 0.2) and
    absorbing diffusion, one panel per U; each curve's best point marked."""
    import matplotlib.pyplot as plt
    from report import epoch_groups
    groups = epoch_groups(epochs)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 3.8), layout="constrained", squeeze=False)
    for ax, (u, g) in zip(axes[0], groups.items(), strict=True):
        curves = [(r, "C3", "-" if r["dropout"] == 0 else "--", f"GPT, dropout {r['dropout']:g}")
                  for r in sorted(g["gpts"], key=lambda r: r["dropout"])]
        if g.get("diffusion"):
            curves.append((g["diffusion"], "C0", "-", "absorbing diffusion (bound)"))
        lows = []
        for r, c, ls, label in curves:
            ax.plot(r["epochs"], r["val_bpc"], ls, color=c, label=label)
            i = min(range(len(r["val_bpc"])), key=r["val_bpc"].__getitem__)
            ax.plot([r["epochs"][i]], [r["val_bpc"][i]], "o", color=c, ms=5)
            lows.append(r["val_bpc"][i])
        ax.set_xscale("log")
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(min(lows) - 0.15, min(lows) + 1.6)
        ax.set(xlabel="epochs (passes over the U characters)", ylabel="validation bits/char",
               title=f"U = {u:,} characters")
    _legend_below(fig, *axes[0][0].get_legend_handles_labels())
    fig.suptitle("the same held-out text, validated as training goes (• each curve's best)", fontsize=10)
    return fig
