"""The notebook's appendix: drawing. The code of every figure of the notebook, one function each.

Each `plot_*` takes plain numbers (a tensor, or a section of `assets/results.json`) and returns a matplotlib figure;
the notebook shows it and saves it under a stable name (`save_figure`). To lift a figure into a post, call its
function on the same section of `results.json`. The numbers come from `measure.py`; the words from `report.py`.
"""
import os

import torch

from measure import sampler_quality, spread
from report import knob_label

# ----------------------------------------------------- Parts 2 to 10: the pictures after each component of the lesson


# The pictures that follow each component of the lesson; the notebook shows them and saves them under assets/.
def plot_rate_matrices(graphs, levels=(0.1, 1.0, 4.0)):
    "Q and exp(σ̄Q) for each graph (a small vocabulary), row x to column y, with the values written in."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(graphs), 1 + len(levels), figsize=(10, 2.5 * len(graphs)))
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
    for ax, (m, title) in zip(axes, panels, strict=True):
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


# ---------------------------------------------------------------------------------------------------- Part 9: results


def plot_quality(quality):
    "The four measures against sampling steps (± one standard error), with AR samples and validation text."
    import matplotlib.pyplot as plt
    shown = [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL (nats/char) ↓"),
             ("unigram_bits", "unigram entropy (bits) ≈ data"), ("repeated_words", "repeated words (share) ↓")]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
    for ax, (key, label) in zip(axes, shown, strict=True):
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


# ---------------------------------------------------------------------- Parts 11.3 to 11.6: sampling beyond the paper


def _refs(ax, quality, key, **kw):
    "Real text and the AR model's samples as horizontal lines."
    ax.axhline(quality["validation"][key], color="gray", ls=":", lw=1, label="validation text", **kw)
    ax.axhline(quality["ar_samples"][key], color="C2", ls="--", lw=1, label="AR samples", **kw)


def plot_samplers(samplers, quality):
    "Quality against seconds for every sampler of 11.3, at each batch size: the run-to-run range and ± one se."
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    groups = [("Tweedie", "C1", lambda n: n.startswith("tweedie") and "cache" not in n),
              ("Tweedie + cache", "C0", lambda n: "cache" in n),
              ("first hitting", "C3", lambda n: n == "first hitting"),
              ("autoregressive", "C2", lambda n: n == "autoregressive")]
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")],
                                strict=True):
        for b, ls, marker in zip(samplers["batches"], ("-", "--"), ("o", "s"), strict=False):  # (styles for 2 batches)
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
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")],
                                strict=True):
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
    for ax, (key, label) in zip(axes, [("real_words", "real words (share) ↑"), ("judge_nll", "AR judge NLL ↓")],
                                strict=True):
        for r in knobs["rows"]:
            ax.errorbar(r["unigram_bits"], r[key], xerr=r["unigram_bits_se"], yerr=r[key + "_se"], fmt="o",
                        color=colour(r["knobs"]), capsize=2)
            left = "top_p" in r["knobs"]                       # top-p labels on the left, the rest on the right
            ax.annotate(knob_label(r["knobs"]).replace("temperature", "T"), (r["unigram_bits"], r[key]), fontsize=7,
                        xytext=(-4 if left else 4, 3), textcoords="offset points", ha="right" if left else "left")
        for ref, style in (("validation", dict(color="gray", marker="*")),
                           ("ar_samples", dict(color="C2", marker="^"))):
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
    for ax, g in zip(axes, ("absorbing", "uniform"), strict=True):
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


# ------------------------------------------------------------------------------------- the denoising animation
def denoising_gif(frames, path, mask="_", width=64, font_size=18, ms=110, hold_ms=3500):
    """A sampling trajectory as an animated GIF, written atomically: `frames` are the decoded texts, noise to text.
    Real line breaks, lines wrapped at `width` characters, masks (`mask`) in grey, the characters that changed at
    this step in red, the frame sized to the longest text so that the picture does not jump, the last frame held.
    At the defaults the frame is 740 pixels wide with 18-pixel glyphs: legible without zooming."""
    from matplotlib import font_manager
    from PIL import Image, ImageDraw, ImageFont
    mono = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans Mono"))
    font, small = ImageFont.truetype(mono, font_size), ImageFont.truetype(mono, round(0.8 * font_size))
    cw, lh, pad = font.getlength("M"), round(1.35 * font_size), round(1.3 * font_size)

    def layout(text):                          # (line, column) of every character; a line break moves to the next
        pos, row, col = [], 0, 0
        for ch in text:
            if col == width:
                row, col = row + 1, 0
            pos.append((row, col))
            row, col = (row + 1, 0) if ch == "\n" else (row, col + 1)
        return pos
    rows = max(max((r for r, _ in layout(t)), default=0) for t in frames) + 1
    W, H = round(2 * pad + width * cw), round(pad + 2 * lh + rows * lh + pad / 2)
    ink = {"paper": (255, 255, 255), "text": (20, 20, 20), "mask": (175, 175, 175), "new": (214, 39, 40),
           "label": (90, 90, 90)}
    paper = ink["paper"]                       # the inks and their blends with the paper: smooth glyph edges
    palette = [paper] + [tuple(round(a * v + (1 - a) * w) for v, w in zip(c, paper, strict=True))
                         for n, c in ink.items() if n != "paper" for a in (1.0, 0.75, 0.5, 0.25)]
    images = []
    for k, text in enumerate(frames):
        im = Image.new("RGB", (W, H), ink["paper"])
        d = ImageDraw.Draw(im)
        revealed = sum(c != mask for c in text)
        d.text((pad, pad / 2), f"denoising step {k} of {len(frames) - 1}: {revealed} of {len(text)} characters "
               f"{'revealed' if mask in ''.join(frames) else 'settled'}", font=small, fill=ink["label"])
        prev = frames[k - 1] if k else text
        for i, ((r, c), ch) in enumerate(zip(layout(text), text, strict=True)):
            shown = mask if ch == mask else " " if ch == "\n" else ch
            colour = "mask" if ch == mask else "new" if ch != prev[i] else "text"
            d.text((pad + c * cw, pad / 2 + 2 * lh + r * lh), shown, font=font, fill=ink[colour])
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
