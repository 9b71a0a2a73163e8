"""The notebook's appendix: wording. The measurements in words, every number read from `assets/results.json`.

The lines each measured section prints, the findings of Part 14 and the README, and the README's generated tables.
One rule runs through all of it: a difference is worded as one only beyond two standard errors of the difference,
otherwise it is noise. `python scripts/report.py readme` rewrites the README's generated blocks.
"""
import json
import math
from itertools import pairwise
import os
import re
import sys

from measure import equal_calls, nb, sampler_quality, speedup, spread

QUALITY_STEPS = 128      # the step count that the summaries and tables quote (or the largest one below it)


# ------------------------------------------------ numbers with their standard errors, and the two-standard-error rule


# How each measure of sample quality prints: (scale, decimals, unit).
FORMATS = {"real_words": (100, 1, "%"), "repeated_words": (100, 2, "%"), "unigram_bits": (1, 2, " bits"),
           "judge_nll": (1, 3, "")}


def pm(r, key):
    "A measure with its standard error, as the tables print it: '65.2 ± 0.9%'."
    scale, d, unit = FORMATS[key]
    return f"{scale * r[key]:.{d}f} ± {scale * r[key + '_se']:.{d}f}{unit}"


def pm_se(v, se, digits=4, unit=""):
    "v ± se, or v (exact) when nothing was drawn; with its unit before the parenthesis."
    return f"{v:.{digits}f}{unit} (exact)" if se == 0 else f"{v:.{digits}f} ± {se:.{digits}f}{unit}"


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


# ----------------------------------------------------------------------------- the findings of Part 14 and the README


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


# ------------------------------------------------------------------ the lines and tables each measured section prints


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
        lines.append(f"| {name} diffusion, {method} {r['steps']} steps | "
                     f"≤ {b[name]['bpc']:.3f} ± {b[name]['se']:.3f} | {quality_cells(r)} |")
    lines.append(f"| autoregressive (T=1) | {b['autoregressive']['bpc']:.3f} (exact) | "
                 f"{quality_cells(q['ar_samples'])} |")
    lines.append(f"| validation text | | {quality_cells(q['validation'])} |")
    return "\n".join(lines)


def infill_gap(res, judge):
    "The absorbing fill's extra cost less the AR continuation's under `judge` ('ar' or 'ngram'), and its se."
    fill, cont = res["runs"]["absorbing/tweedie"][judge], res["runs"]["autoregressive/prefix"][judge]
    return (fill["extra_nats_per_hole_char"] - cont["extra_nats_per_hole_char"], math.hypot(fill["se"], cont["se"]))


def infill_sides(res):
    "For each judge, what costs it less beyond two standard errors: 'continuation', 'fill', or 'noise'."
    sides = {}
    for j in ("ar", "ngram"):
        d, se = infill_gap(res, j)
        sides[j] = "continuation" if d > 2 * se else "fill" if -d > 2 * se else "noise"
    return sides


def infill_verdict(res):
    "Which costs the judges less, the absorbing model's fill or the AR model's blind continuation, beyond noise."
    gap = infill_sides(res)
    if gap["ar"] == gap["ngram"] == "continuation":
        return ("Both judges find the blind continuation cheaper: at this budget the diffusion model's characters cost "
                "more than seeing the right end saves")
    if gap["ar"] == gap["ngram"] == "fill":
        return "Both judges find the fill cheaper: seeing both ends pays"
    if gap["ar"] == gap["ngram"]:
        return "Under both judges the difference is within noise"
    name = {"continuation": "the continuation cheaper", "fill": "the fill cheaper",
            "noise": "no difference beyond noise"}
    return (f"The judges disagree (the AR judge finds {name[gap['ar']]}, the n-gram judge {name[gap['ngram']]}): "
            f"the AR judge's verdict is partly its taste for its own model's text")


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


def samplers_table(res):
    "The markdown table of Part 15.1 (and the README's), from one entry of results.json."
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
                 f"on {s['device']}; —: not timed (too many rows for a CPU). Quality: the {n} samples of the "
                 f"batch-{big} runs, ± one standard error over samples (Part 9's sweep drew its own 64 per row, on "
                 f"{res.get('quality', {}).get('drawn_on', 'another run')}).")
    return "\n".join(lines)


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


def pages_lines(pages):
    "Along the page: the first stretch against the last, real words with their standard errors over the pages."
    lines = [f"{pages['pages']} pages per model; ± one standard error over the pages"]
    for name, run in pages["runs"].items():
        first, last = run["along"][0], run["along"][-1]
        lines.append(f"{name:>15}: real words {pm(first, 'real_words')} in the first stretch, {pm(last, 'real_words')} "
                     f"in the last ({change(first, last, 'real_words')})")
    return lines


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


def correctors_table(c):
    "The markdown table of 11.3 (and the README's), from its entry of results.json: pairs at equal network calls."
    lines = ["| graph | sampler | network calls | rows per sample | real words | repeated words | unigram entropy | "
             "judge NLL (nats/char) |", "|---" * 8 + "|"]
    for r in c["rows"]:
        lines.append(f"| {r['graph']} | {r['setting']} | {r['calls']} | {r['rows_per_sample']:.0f} | "
                     f"{quality_cells(r)} |")
    rows = {(r["graph"], r["setting"]): r for r in c["rows"]}
    pairs = [f"{g}, {corr}: {change(rows[g, ex], rows[g, corr], 'real_words')}"
             for g in ("absorbing", "uniform") for ex, corr in equal_calls(c["base_steps"]) if (g, corr) in rows]
    lines.append(f"\n{c['samples']} samples of {c['length']} characters per row, on {c['device']}; ± one standard "
                 f"error over samples. Real words, each corrector against Tweedie at the same calls: "
                 + "; ".join(pairs) + ".")
    return "\n".join(lines)


def findings(r):
    """What the measurements say, in sentences, every number from the entry `r` of results.json (markdown bullets).
    Sections that were not measured are left out; a difference is worded as one only beyond two standard errors."""
    out = []
    b = r.get("bits_per_char")
    if b:
        a, u, ar = (b[k] for k in ("absorbing", "uniform", "autoregressive"))
        nats = ar["bpc"] * math.log(2)
        out.append(f"**The bound.** On all {a['windows']} validation windows the absorbing diffusion model's "
                   f"likelihood bound is {a['bpc']:.3f} ± {a['se']:.3f} bits per character (± its Monte Carlo standard "
                   f"error), {a['bpc'] / ar['bpc']:.2f}× the autoregressive model's exact {ar['bpc']:.3f} (uniform: "
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
                       f"{best['autoregressive']:,}, after which its validation estimate rose from "
                       f"{low['val_bpc']:.3f} to {arc[-1]['val_bpc']:.3f} bits/char (training's estimate on random "
                       f"batches, `random_batch_bpc`). Whether longer training closes the gap is not measured here.")
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
                   f"({change(sampler_quality(s, tw), fh, 'real_words')}; {fh['samples']} samples each). On the CPU "
                   f"of the sampler table it takes {ratio:.1f}× the autoregressive model's time at batch "
                   f"{s['batches'][0]} ({lo:.1f}–{hi:.1f}× over {s['repeats']} runs).")
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
                f"{rows[g, co]['calls']} calls: {change(rows[g, ex], rows[g, co], 'real_words')})"
                for g, ex, co in pairs]
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


def late_training_lines(r):
    """Part 9: for each diffusion model whose run drew samples while training, its real words at the last two such
    evaluations, and the last against Part 9's samples of the same weights (QUALITY_STEPS Tweedie steps, the sampler
    of the run's own samples) when the weights kept are that last step's."""
    out = []
    for g in ("absorbing", "uniform"):
        drawn = [p for p in r["training_curve"].get(g, []) if "real_words" in p][-2:]
        part9 = next((x for x in r["quality"]["runs"].get(f"{g}/tweedie", []) if x["steps"] == QUALITY_STEPS), None)
        if part9 and len(drawn) == 2 and r["best_steps"][g] == drawn[1]["step"]:
            a, b = drawn
            out.append(f"{g}: real words {pm(a, 'real_words')} at step {a['step']:,}, {pm(b, 'real_words')} at "
                       f"{b['step']:,} ({change(a, b, 'real_words')}); Part 9's {part9['samples']} samples of the "
                       f"same weights: {pm(part9, 'real_words')} ({change(b, part9, 'real_words')})")
    return out


def summary_rows(r):
    """Part 14's table as rows (model, bits/char, its se or None for an exact NLL, a quality row, seconds for
    `length` characters at batch 1 or None): the GPT, absorbing diffusion by Tweedie and by first hitting, uniform."""
    b, q, s = r["bits_per_char"], r["quality"], r.get("samplers", {})
    sec = lambda name: (s.get("seconds", {}).get(name) or {}).get("1")
    tweedie = lambda g: quoted(q["runs"][f"{g}/tweedie"])
    n = tweedie("absorbing")["steps"]
    rows = [("GPT, left to right with its cache", b["autoregressive"]["bpc"], None, q["ar_samples"],
             sec("autoregressive")),
            (f"absorbing diffusion, {n} Tweedie steps with the cache", b["absorbing"]["bpc"],
             b["absorbing"]["se"], tweedie("absorbing"), sec(f"tweedie {n} + cache"))]
    if "first hitting" in s.get("quality", {}):
        rows.append(("absorbing diffusion, first hitting (one call per character)", b["absorbing"]["bpc"],
                     b["absorbing"]["se"], s["quality"]["first hitting"], sec("first hitting")))
    rows.append((f"uniform diffusion, {tweedie('uniform')['steps']} Tweedie steps", b["uniform"]["bpc"],
                 b["uniform"]["se"], tweedie("uniform"), None))
    return rows


def summary_table(r):
    "Part 14's one table: bits/char, real words and seconds per sample for each model and sampler, and its caption."
    s, q = r.get("samplers", {}), r["quality"]
    length = s.get("length", r.get("block_size"))
    lines = [f"| model | bits/char (lower is better) | real words | seconds for {length} characters |",
             "|---|---|---|---|"]
    for name, bpc, se, quality, secs in summary_rows(r):
        bound = f"{bpc:.3f} (exact)" if se is None else f"≤ {bpc:.3f} ± {se:.3f} (a bound)"
        lines.append(f"| {name} | {bound} | {pm(quality, 'real_words')} | "
                     + (f"{secs:.1f} |" if secs is not None else "not timed |"))
    lines.append(f"| held-out Shakespeare | | {pm(q['validation'], 'real_words')} | |")
    windows = r["bits_per_char"]["absorbing"].get("windows")
    caption = (f"Bits per character on {windows or 'the'} validation windows (Part 9); "
               f"real words in {q['samples']} samples of {length} characters each"
               + (f" ({s['quality']['first hitting']['samples']} for first hitting, Part 15.1)"
                  if "first hitting" in s.get("quality", {}) else "")
               + (f"; seconds at batch 1 on {s['device']} (Part 15.1)" if s.get("device") else "") + ".")
    return "\n".join(lines), caption


# ------------------------------------------------------------------------- Part 12: block diffusion against L'

BLOCK_LONG_BATCH = 8      # the batch at which the findings compare seconds (the table gives batch 1 as well)


REMEDIES = ("absorbing-1-masked", "absorbing-4-clipped")     # BD3-LM's remedies, beside the sweep (not in it)


def block_rows(blocks):
    "The sweep's rows: absorbing diffusion by block length (the last is L' = the context), the GPT, uniform by L'."
    rows = {k: r for k, r in blocks["rows"].items() if k not in REMEDIES}
    absorbing = sorted((r for r in rows.values() if r["graph"] == "absorbing"), key=lambda r: r["block_len"])
    uniform = sorted((r for r in rows.values() if r["graph"] == "uniform"), key=lambda r: r["block_len"])
    return absorbing, rows.get("autoregressive"), uniform


def bound_change(a, b):
    "b's bound − a's with its standard error, '+0.123 ± 0.010 bits/char' (', within noise' under two standard errors)."
    d, se = b["bpc"] - a["bpc"], math.hypot(a["bpc_se"], b["bpc_se"])
    if se == 0:                                     # both exact (the GPT; L' = 1 from mask sets)
        return f"{d:+.3f} bits/char (both exact)", d != 0
    return f"{d:+.3f} ± {se:.3f} bits/char" + ("" if abs(d) > 2 * se else ", within noise"), abs(d) > 2 * se


def block_label(r):
    if r["graph"] == "autoregressive":
        return "GPT"
    return f"{r['graph']}, L′ = {r['block_len']}"


def block_scale(blocks):
    "The sweep's scale in words, from its rows: the preset, the size, the steps and the batch of its models."
    tr = blocks["rows"]["absorbing"]["train"]
    return (f"{tr['preset']} preset, {tr['params'] / 1e6:.2f}M parameters each, {tr['steps']:,} steps of "
            f"{tr['batch_size']} windows of {blocks['context']} characters")


def blocks_table(blocks):
    "Part 12's table: every model of the sweep, its bound, its samples' measures and its seconds."
    absorbing, ar, uniform = block_rows(blocks)
    S = blocks["sweep"]
    lo, hi = S["length"], S["long"]
    lines = [f"| model | bound, bits/char | real words | repeated words | unigram entropy | judge NLL | "
             f"{blocks.get('ngram_order', 5)}-gram NLL | s for {lo:,} chars (batch 1 / {max(S['batches'])}) | "
             f"s for {hi:,} chars (batch 1 / {max(S['batches'])}) | real words in {hi:,} chars |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in ([ar] if ar else []) + absorbing + uniform:
        sec = lambda n, r=r: " / ".join(f"{r['seconds'][f'{n}/{b}']:.1f}" for b in (1, max(S["batches"])))
        bound = f"{r['bpc']:.3f} (exact)" if r["graph"] == "autoregressive" else f"{r['bpc']:.3f} ± {r['bpc_se']:.3f}"
        lines.append(f"| {block_label(r)} | {bound} | {quality_cells(r['quality'])} "
                     f"| {r['ngram_nll']:.3f} ± {r['ngram_nll_se']:.3f} | {sec(lo)} | {sec(hi)} | "
                     f"{100 * r['long_real_words']:.1f}% |")
    return "\n".join(lines)


def block_findings(blocks):
    """What the sweep says, in sentences, every number from the entry "blocks" of results.json; a difference is
    worded as one only beyond two standard errors."""
    absorbing, ar, uniform = block_rows(blocks)
    if not absorbing or ar is None:
        return []
    out, S = [], blocks["sweep"]
    first, last = absorbing[0], absorbing[-1]
    steps = ", ".join(pm_se(r["bpc"], r["bpc_se"], 3) for r in absorbing)
    lens = ", ".join(str(r["block_len"]) for r in absorbing)
    pairs = list(pairwise(absorbing))
    ups = [bound_change(a, b)[1] for a, b in pairs]                          # beyond noise?
    rises = sum(1 for real, (a, b) in zip(ups, pairs, strict=True) if real and b["bpc"] > a["bpc"])
    falls = sum(1 for real, (a, b) in zip(ups, pairs, strict=True) if real and b["bpc"] < a["bpc"])
    trend = (f"it rises beyond noise at each of the {len(ups)} steps" if rises == len(ups) else
             f"it rises beyond noise at {rises} of the {len(ups)} steps" + (f" and falls at {falls}" if falls else "")
             + ", the others within noise")
    one, one_real = bound_change(ar, first)
    train = ar.get("train", {})
    out.append(f"**The bound against the block length.** With models of one size and recipe "
               f"({train.get('params', 0) / 1e6:.2f}M parameters, {train.get('steps', 0):,} steps of "
               f"{train.get('batch_size', 0)} windows, the same windows for all), the absorbing block bound on "
               f"{blocks['windows']} validation windows is {steps} bits/char for L′ = {lens}: {trend}. The GPT's exact "
               f"NLL is {ar['bpc']:.3f}; block diffusion at L′ = 1 differs from it by {one}, and at "
               f"L′ = {last['block_len']} (absorbing diffusion itself) by {bound_change(ar, last)[0]}.")
    gap = last["bpc"] - ar["bpc"]
    if gap > 0:
        shares = ", ".join(f"{100 * (r['bpc'] - ar['bpc']) / gap:.0f}% at L′ = {r['block_len']}"
                           for r in absorbing[:-1])
        line = (f"**Where the gap comes from.** Of the {gap:.3f} bits/char between absorbing diffusion and the GPT, "
                f"block diffusion stands at {shares} (its bound's distance from the GPT's, as a share of the whole). "
                f"With exact conditionals every block length gives the same bound (the checks above), so what "
                f"separates block lengths after training is what each network learned and how noisy its training "
                f"loss was, which can depend on L′ too; the sweep measures their sum.")
        if one_real and first["bpc"] > ar["bpc"]:
            line += (f" At L′ = 1 no character is predicted out of order, yet the bound is {one} above the GPT's: the "
                     f"two estimate the same conditionals, but the GPT's loss reads every character exactly, while the "
                     f"block bound's reads a character only when it is masked (probability t), weighted 1/t, a "
                     f"noisier estimate of the same loss at equal steps (BD3-LM report the same gap at L′ = 1 and "
                     f"trace it to this variance; the next section measures it, and what removing it buys).")
        out.append(line)
    q = lambda r: r["quality"]
    said = ", ".join(f"{pm(q(r), 'real_words')} (L′ = {r['block_len']})" for r in absorbing)
    best = max(absorbing, key=lambda r: q(r)["real_words"])
    vs_gpt = change(q(ar), q(best), "real_words")
    out.append(f"**The samples.** Real words: {said}, against the GPT's {pm(q(ar), 'real_words')} "
               f"({S['samples']} samples of {S['length']} characters each, one network call per character, judged "
               f"by the shipped GPT and a 5-gram model of the training text). The best block length, "
               f"L′ = {best['block_len']}, against the GPT: {vs_gpt}. Unigram entropy "
               + ", ".join(f"{pm(q(r), 'unigram_bits')}" for r in absorbing)
               + f" (GPT {pm(q(ar), 'unigram_bits')}); 5-gram NLL "
               + ", ".join(f"{r['ngram_nll']:.3f} ± {r['ngram_nll_se']:.3f}" for r in absorbing)
               + f" (GPT {ar['ngram_nll']:.3f} ± {ar['ngram_nll_se']:.3f}).")
    b = BLOCK_LONG_BATCH if f"{S['long']}/{BLOCK_LONG_BATCH}" in ar["seconds"] else max(S["batches"])
    key, key1 = f"{S['long']}/{b}", f"{S['long']}/1"
    secs = ", ".join(f"{r['seconds'][key]:.1f} s (L′ = {r['block_len']})" for r in absorbing)
    out.append(f"**Speed.** Writing {S['long']:,} characters, {S['long'] // blocks['context']} times the context, at "
               f"batch {b} (on the CPU that the sweep's caption names): {secs}, against {ar['seconds'][key]:.1f} s for "
               f"the GPT with its cache "
               f"(batch 1: " + ", ".join(f"{r['seconds'][key1]:.1f}" for r in absorbing)
               + f" and {ar['seconds'][key1]:.1f} s). Every model makes about one network call per character; a call "
               f"on L′ positions costs more as L′ grows, and each finished block costs one more call to cache it. "
               f"Real words over the whole {S['long']:,} characters: "
               + ", ".join(f"{100 * r['long_real_words']:.1f}%" for r in absorbing)
               + f" (GPT {100 * ar['long_real_words']:.1f}%); past the context, each block reads the kept keys and "
               f"values of at most the last {blocks['context']} − L′ characters, and the GPT those of the last "
               f"{blocks['context'] - 1}.")
    def unbeaten(cand):          # no other is both faster and better in real words, beyond noise
        return [r for r in cand if not any(o is not r and o["seconds"][key] < r["seconds"][key] and
                                           q(o)["real_words"] > q(r)["real_words"] and
                                           beyond_noise(q(r), q(o), "real_words") for o in cand)]
    front, among = unbeaten([ar] + absorbing), unbeaten(absorbing)
    line = (f"**Quality per second.** Counting real words against seconds for {S['long']:,} characters at batch {b}, "
            + ("the GPT is faster than every block length and writes more real words, beyond noise"
               if front == [ar] else f"the models no other beats on both are {', '.join(map(block_label, front))}"))
    lens_said = ", ".join(f"L′ = {r['block_len']}" for r in among)
    out.append(line + f". Among the block lengths, those no other block length beats on both: {lens_said}.")
    u = {r["block_len"]: r for r in uniform}
    a = {r["block_len"]: r for r in absorbing}
    if 16 in u and 16 in a:
        line = (f"**Uniform noise in blocks.** At L′ = 16 the uniform model's bound is {u[16]['bpc']:.3f} ± "
                f"{u[16]['bpc_se']:.3f} bits/char, {bound_change(a[16], u[16])[0]} against absorbing at L′ = 16")
        whole = max(u)
        if whole != 16:
            line += (f"; uniform at L′ = {whole} (one block, the cpu preset) is {u[whole]['bpc']:.3f}"
                     f" ± {u[whole]['bpc_se']:.3f}, so blocks of 16 move uniform diffusion by "
                     f"{bound_change(u[whole], u[16])[0]}")
        line += (f". Real words {pm(q(u[16]), 'real_words')} at L′ = 16"
                 + (f" and {pm(q(u[whole]), 'real_words')} at L′ = {whole}" if whole != 16 else "") + ".")
        out.append(line)
    return out


# ------------------------------------------------------------- Part 12: the estimator's variance, and BD3-LM's remedies


def schedule_label(r):
    "The law of t a model trained on: 'U[0, 1]', 't = 1' or 'U[0.3, 0.8]'."
    lo, hi = r.get("variance", {}).get("clip") or r.get("clip") or (0.0, 1.0)
    return "t = 1" if lo == hi == 1 else f"U[{lo:g}, {hi:g}]"


def variance_rows(blocks):
    "The rows measured at fixed weights: the GPT, absorbing by block length, then the remedies."
    absorbing, ar, _ = block_rows(blocks)
    rows = [ar] + absorbing + [blocks["rows"][k] for k in REMEDIES if k in blocks["rows"]]
    return [r for r in rows if r and "variance" in r]


def variance_label(r):
    return block_label(r) + {"absorbing-1-masked": ", every character masked",
                             "absorbing-4-clipped": ", clipped"}.get(r["name"], "")


def variance_table(blocks):
    "Part 12's second table: at each model's weights, how noisy its loss and its gradient are."
    lines = ["| model | trained on | characters with a loss | sd of one draw of a window's bound, drawing t "
             "(bits/char) | the same, from mask sets | sd of its training loss (nats/char) | gradient norm on one "
             "batch, mean ± sd | gradient noise, one batch | gradient noise, fresh batches |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in variance_rows(blocks):
        v, fixed = r["variance"], r["variance"]["grad_fixed_batch"]
        ms = v.get("bound_sd_mask_sets")
        lines.append(f"| {variance_label(r)} | {schedule_label(r) if r['graph'] != 'autoregressive' else '–'} | "
                     f"{100 * v['loss_share']:.0f}% | {v['bound_sd']:.3f} | {'–' if ms is None else f'{ms:.3f}'} | "
                     f"{v['train_loss_sd']:.3f} | "
                     f"{fixed['norm']:.3f} ± {fixed['norm_sd']:.3f} | {fixed['noise']:.3f} | "
                     f"{v['grad_fresh_batches']['noise']:.3f} |")
    v = variance_rows(blocks)[0]["variance"]
    return "\n".join(lines), (
        f"Each at its trained weights: a window's bound drawn {v['draws']} times on each of {v['windows']} held-out "
        f"windows; the gradient of the training loss (batch {v['batch_size']}) drawn {v['batches']} times on one fixed "
        f"batch (only the times and masks change) and on {v['batches']} fresh batches; gradient noise is "
        f"E|g − ḡ|² / |ḡ|². The GPT's loss and gradient on a fixed batch are exact (no draw).")


def sd_ratio_interval(n, z=1.96):
    """The range within which (sample sd / true sd) of n normal draws falls 95% of the time (Wilson-Hilferty's
    approximation of the chi-square quantiles): a spread outside it is a real difference."""
    k = n - 1
    q = lambda zz: k * (1 - 2 / (9 * k) + zz * math.sqrt(2 / (9 * k))) ** 3
    return math.sqrt(q(-z) / k), math.sqrt(q(z) / k)


def masked_pair(blocks):
    """L' = 1 masked and the sweep's L' = 1, as `bits_per_char` measured them: ((value, se), (value, se)), or None.
    At L' = 1 the mask-set estimate has nothing to draw, so both are the bound itself (se 0)."""
    rows = blocks.get("rows", {}) if blocks else {}
    if not all(k in rows for k in ("absorbing-1-masked", "absorbing-1")):
        return None
    return tuple((rows[k]["bpc"], rows[k]["bpc_se"]) for k in ("absorbing-1-masked", "absorbing-1"))


def remedy_findings(blocks):
    """What the variance measurements and BD3-LM's remedies say, every number from results.json's "blocks"; a
    difference is called one only beyond two standard errors."""
    rows, out = blocks["rows"], []
    absorbing, ar, _ = block_rows(blocks)
    var = {r["name"]: r["variance"] for r in variance_rows(blocks)}
    sweep = [r for r in absorbing if r["name"] in var]
    if sweep and ar and ar["name"] in var:
        sds = ", ".join(f"{var[r['name']]['bound_sd']:.2f}" for r in sweep)
        ms = [var[r["name"]].get("bound_sd_mask_sets") for r in sweep]
        ms = ("" if None in ms else f" drawing t, and by {', '.join(f'{x:.2f}' for x in ms)} from mask sets (what "
              f"`bits_per_char` draws)")
        noise_ = ", ".join(f"{var[r['name']]['grad_fixed_batch']['noise']:.3f}" for r in sweep)
        out.append(f"**The variance, measured.** At each model's weights, one draw of a window's bound spreads by "
                   f"{sds} bits/char (sd) for L′ = {', '.join(str(r['block_len']) for r in sweep)}{ms}; the GPT's loss "
                   f"is exact. On one fixed batch the gradient's noise from the times and masks alone, "
                   f"E|g − ḡ|²/|ḡ|², is {noise_}, where the GPT's is 0; across fresh batches the GPT's is "
                   f"{var[ar['name']]['grad_fresh_batches']['noise']:.3f} (the data alone). A diffusion step learns "
                   f"from "
                   f"about {100 * var[sweep[0]['name']]['loss_share']:.0f}% of its characters (those masked), a GPT's "
                   f"from all.")
    eb = blocks.get("error_bars", {})
    m, one, pair = rows.get("absorbing-1-masked"), rows.get("absorbing-1"), masked_pair(blocks)
    if m and one and ar and pair:
        (vm, sm), (v1, s1) = pair
        gap, gap_m = v1 - ar["bpc"], vm - ar["bpc"]
        closed, se = v1 - vm, math.hypot(s1, sm)
        out.append(f"**Every character masked, at L′ = 1.** Trained with t = 1 (the same steps, batches and seed), "
                   f"the L′ = 1 model's bound is {pm_se(vm, sm, unit=' bits/char')}, against {pm_se(v1, s1)} for the "
                   f"sweep's L′ = 1 model. At L′ = 1 the mask-set estimate has nothing to draw (each block's one "
                   f"character is masked), so both are the bound itself: the network's left-to-right NLL, up to ε. "
                   f"Of the {gap:.3f} bits/char between the sweep's L′ = 1 model and the GPT "
                   f"({ar['bpc']:.3f}), masking every character closes {closed:.4f}" + (f" ± {se:.4f}" if se else "")
                   + (" (within noise)" if abs(closed) <= 2 * se else f" ({100 * closed / gap:.0f}%)")
                   + f"; {gap_m:+.4f} bits/char remain."
                   + (f" Its samples: {pm(m['quality'], 'real_words')} real words, against "
                      f"{pm(one['quality'], 'real_words')} for the sweep's L′ = 1 model and the GPT's "
                      f"{pm(ar['quality'], 'real_words')}." if "quality" in m else ""))
    c, four = rows.get("absorbing-4-clipped"), rows.get("absorbing-4")
    search = blocks.get("clip_search", {})
    if c and four and "absorbing-4" in search:
        g = {tuple(x["clip"]): x["variance"] for x in search["absorbing-4"]["grid"]}
        chosen = tuple(search["absorbing-4"]["chosen"])
        d = c["bpc"] - four["bpc"]
        se = math.hypot(c["bpc_se"], four["bpc_se"])
        out.append(f"**A clipped schedule, at L′ = 4.** BD3-LM's search picks t ~ U[{chosen[0]:g}, {chosen[1]:g}], "
                   f"whose training loss varies {g[chosen]:.4f} (nats/char)² against {g[(0.0, 1.0)]:.4f} with U[0, 1]. "
                   f"Retrained on it, the L′ = 4 model's bound (the whole integral over t, from mask sets, so still a "
                   f"bound) is {c['bpc']:.3f} ± "
                   f"{c['bpc_se']:.3f} bits/char against {four['bpc']:.3f} ± {four['bpc_se']:.3f}: {d:+.3f} ± {se:.3f}"
                   + (", within noise." if abs(d) <= 2 * se else ".")
                   + (f" Real words: {pm(c['quality'], 'real_words')} against {pm(four['quality'], 'real_words')} "
                      f"({change(four['quality'], c['quality'], 'real_words')})." if "quality" in c else ""))
        if "absorbing-16" in search:
            g16 = {tuple(x["clip"]): x["variance"] for x in search["absorbing-16"]["grid"]}
            c16 = tuple(search["absorbing-16"]["chosen"])
            out[-1] += (f" At L′ = 16 the search picks U[{c16[0]:g}, {c16[1]:g}], {g16[c16]:.4f} against "
                        f"{g16[(0.0, 1.0)]:.4f} (not retrained).")
    said = {}
    for est in ("times", "bound"):
        for k in ("absorbing-1", "absorbing-4"):
            e = eb.get(k, {}).get(est)
            if not e:
                continue
            if e["mean_se"] == 0:
                said.setdefault(est, []).append(f"L′ = {rows[k]['block_len']}: the bound itself every time "
                                                f"(nothing to draw)")
                continue
            lo, hi = sd_ratio_interval(e["evaluations"])
            ratio = e["spread"] / e["mean_se"]
            said.setdefault(est, []).append(
                f"L′ = {rows[k]['block_len']}: spread {e['spread']:.4f} against a mean reported error of "
                f"{e['mean_se']:.4f} (ratio {ratio:.2f}"
                + (")" if lo <= ratio <= hi else ", so the reported error " +
                   ("understates" if ratio > hi else "overstates") + " the spread)"))
    if said:
        e = max((x for k in eb.values() for x in k.values()), key=lambda x: x["evaluations"])
        lo, hi = sd_ratio_interval(e["evaluations"])
        out.append(f"**Are the error bars honest?** {e['evaluations']} independent evaluations of the same model's "
                   f"bound (every window, {e['passes']} passes each, new draws each time) against the error each "
                   f"reports; when the error is right, the ratio of the two falls within {lo:.2f} to {hi:.2f} "
                   f"(95%). "
                   + " ".join(f"{label}: " + "; ".join(said[est]) + "." for est, label in
                              (("times", "Drawing t (Part 5's estimator)"),
                               ("bound", "From mask sets (what `bits_per_char` reports)")) if est in said))
    return out


def remedy_findings_markdown(blocks):
    return "\n".join(f"- {line}" for line in remedy_findings(blocks))


# ----------------------------------------------------------------------- Part 13: when diffusion beats the GPT


def epoch_groups(epochs):
    "{U: {'gpt': the better GPT row (lower best bpc), 'gpts': both, 'diffusion': row}}, by U ascending."
    out = {}
    for r in epochs["rows"].values():
        g = out.setdefault(r["chars"], {"gpts": []})
        if r["graph"] == "autoregressive":
            g["gpts"].append(r)
        else:
            g["diffusion"] = r
    for g in out.values():
        if g["gpts"]:
            g["gpt"] = min(g["gpts"], key=lambda r: r["best_bpc"])
    return dict(sorted(out.items()))


def crossing_epoch(gpt, diffusion):
    "The first epoch at which diffusion's validation curve is below the GPT's best on it (same windows), or None."
    best = min(gpt["val_bpc"])
    return next((e for e, v in zip(diffusion["epochs"], diffusion["val_bpc"], strict=True) if v < best), None)


def epochs_table(epochs):
    "Part 13's table: per U, each model's best bits/char, the epoch it came at, and the difference."
    lines = ["| unique characters U | model | best bits/char | at epoch | epochs trained | diffusion − GPT |",
             "|---|---|---|---|---|---|"]
    for u, g in epoch_groups(epochs).items():
        for r in sorted(g["gpts"], key=lambda r: r["dropout"]) + [g.get("diffusion")]:
            if r is None:
                continue
            name = f"GPT, dropout {r['dropout']:g}" if r["graph"] == "autoregressive" else "absorbing diffusion"
            val = (f"{r['best_bpc']:.3f} (exact)" if r["graph"] == "autoregressive"
                   else f"{r['best_bpc']:.3f} ± {r['best_bpc_se']:.3f} (bound)")
            diff = ""
            if r["graph"] != "autoregressive" and g.get("gpt"):
                d, se = r["best_bpc"] - g["gpt"]["best_bpc"], math.hypot(r["best_bpc_se"], g["gpt"]["best_bpc_se"])
                diff = f"{d:+.3f} ± {se:.3f}" + (" (noise)" if abs(d) <= 2 * se else "")
            lines.append(f"| {u:,} | {name} | {val} | {r['best_epoch']:.1f} | "
                         f"{r['train']['steps'] * r['epochs'][0] / r['steps'][0]:.1f} | {diff} |")
    return "\n".join(lines)


def epochs_findings(epochs):
    """The answer, per U, from two standard errors: whether diffusion's best beats the GPT's best, after how many
    epochs its curve first dips below the GPT's best, or by how much it still lags."""
    out = []
    for u, g in epoch_groups(epochs).items():
        d_row, gpt = g.get("diffusion"), g.get("gpt")
        if not d_row or not gpt:
            continue
        d, se = d_row["best_bpc"] - gpt["best_bpc"], math.hypot(d_row["best_bpc_se"], gpt["best_bpc_se"])
        ep = crossing_epoch(gpt, d_row)
        head = (f"**U = {u:,} characters.** The GPT's best (dropout {gpt['dropout']:g}) is {gpt['best_bpc']:.3f} "
                f"bits/char at epoch {gpt['best_epoch']:.1f}; diffusion's bound is {d_row['best_bpc']:.3f} ± "
                f"{d_row['best_bpc_se']:.3f} at epoch {d_row['best_epoch']:.1f}")
        if d < -2 * se:
            out.append(head + f": diffusion beats the GPT by {-d:.3f} ± {se:.3f} bits/char, and its curve first dips "
                              f"below the GPT's best at epoch {ep:.1f}.")
        elif d > 2 * se:
            out.append(head + f": diffusion still lags by {d:.3f} ± {se:.3f} bits/char after "
                              f"{d_row['epochs'][-1]:.0f} epochs.")
        else:
            out.append(head + f": the two are within noise ({d:+.3f} ± {se:.3f}).")
    return out


def epochs_findings_markdown(epochs):
    return "\n".join(f"- {line}" for line in epochs_findings(epochs))


def block_examples(blocks, width=100):
    "The start of one sample of each model, on a line each (line breaks shown as ⏎)."
    absorbing, ar, uniform = block_rows(blocks)
    rows = ([ar] if ar else []) + absorbing + uniform
    pad = max(len(block_label(r)) for r in rows)
    return "\n".join(f"{block_label(r):>{pad}}: {r['quality']['example'][:width].replace(chr(10), '⏎')}" for r in rows)


def block_findings_markdown(blocks):
    return "\n".join(f"- {line}" for line in block_findings(blocks))


# -------------------------------------------------------------------------------------- the README's generated blocks


def findings_markdown(r, blocks=None, epochs=None):
    """The findings of the entry `r` and, when given, of Part 12's sweep and its remedies (the entry "blocks") and
    of Part 13's runs (the entry "epochs"), as bullets."""
    lines = findings(r) + (block_findings(blocks) + remedy_findings(blocks) if blocks else [])
    return "\n".join(f"- {line}" for line in lines + (epochs_findings(epochs) if epochs else []))


def headline(r, blocks=None, epochs=None):
    """The findings in a few plain sentences for the README's front page, rounded, every number from the entry `r`
    (and Part 12's sweep, `blocks`); the sentences of `findings` give each with its standard error. Sections that
    were not measured are left out."""
    out = []
    b, q = r.get("bits_per_char"), r.get("quality")
    if b:
        a, ar = b["absorbing"], b["autoregressive"]
        out.append(f"The diffusion model's likelihood bound is {a['bpc'] / ar['bpc']:.2f}× the GPT's negative "
                   f"log-likelihood on the same validation text ({a['bpc']:.2f} against {ar['bpc']:.2f} bits per "
                   f"character, lower is better): same network, data and training steps.")
    if q:
        qa = quoted(q["runs"]["absorbing/tweedie"])
        out.append(f"Of the words it writes, {100 * qa['real_words']:.0f}% are real words (words that occur in the "
                   f"training text), against {100 * q['ar_samples']['real_words']:.0f}% of the GPT's and "
                   f"{100 * q['validation']['real_words']:.0f}% of held-out Shakespeare's.")
    inf = r.get("infill")
    if inf and "autoregressive/prefix" in inf["runs"]:
        side = infill_sides(inf)
        said = ("both judges still prefer the GPT's continuation of the left end alone"
                if set(side.values()) == {"continuation"} else
                "both judges prefer its fills to the GPT's continuation of the left end alone"
                if set(side.values()) == {"fill"} else
                "the two judges do not agree, beyond noise, on whether its fills beat the GPT's continuation of the "
                "left end alone")
        out.append(f"It can fill a hole between two fixed ends, which a GPT cannot; at this training budget {said}.")
    c = r.get("correctors")
    if c:
        rows = {(x["graph"], x["setting"]): x for x in c["rows"]}
        ex, co = equal_calls(c["base_steps"])[1]
        if ("absorbing", ex) in rows and ("absorbing", co) in rows:
            d, se = noise(rows["absorbing", ex], rows["absorbing", co], "real_words")
            out.append(f"A second look at revealed characters (a corrector) moves real words by {100 * d:+.0f} points "
                       f"at equal network calls" + (" (within noise)." if abs(d) <= 2 * se else "."))
    absorbing, ar, _ = block_rows(blocks) if blocks else ([], None, [])
    if absorbing and ar:
        one, whole = absorbing[0], absorbing[-1]
        out.append(f"Between the two ends, block diffusion writes left to right in blocks of L′ characters, diffusion "
                   f"inside each block, with a key/value cache. In smaller models of one recipe, trained on a CPU, its "
                   f"bound goes from {one['bpc']:.2f} bits per character at L′ = {one['block_len']} (a GPT of that "
                   f"size: {ar['bpc']:.2f}) to {whole['bpc']:.2f} at L′ = {whole['block_len']}, and its real words "
                   f"from {100 * one['quality']['real_words']:.0f}% to {100 * whole['quality']['real_words']:.0f}% "
                   f"(that GPT: {100 * ar['quality']['real_words']:.0f}%).")
    pair = masked_pair(blocks)
    if ar and pair:
        (vm, sm), (v1, s1) = pair
        out.append(f"Trained with every character masked (t = 1), block diffusion at L′ = 1 goes from {v1:.2f} to "
                   f"{vm:.2f} bits per character, against that GPT's {ar['bpc']:.2f}"
                   + (": most of its gap was the noise of its loss, not the order of prediction"
                      if v1 - vm > (v1 - ar["bpc"]) / 2 else "")
                   if v1 - vm > 2 * math.hypot(s1, sm) else
                   f"Trained with every character masked (t = 1), block diffusion at L′ = 1 stays at {vm:.2f} bits per "
                   f"character (from {v1:.2f}, within noise), against that GPT's {ar['bpc']:.2f}")
        out[-1] += "."
    groups = epoch_groups(epochs) if epochs else {}
    said, diffs = [], []
    for u, g in groups.items():
        if g.get("gpt") and g.get("diffusion"):
            d, gpt = g["diffusion"], g["gpt"]
            diff, se = d["best_bpc"] - gpt["best_bpc"], math.hypot(d["best_bpc_se"], gpt["best_bpc_se"])
            verdict_ = "below" if diff < -2 * se else "above" if diff > 2 * se else "within noise of"
            diffs.append((diff, se))
            said.append(f"on {u:,} characters ({d['train']['steps'] * d['epochs'][0] / d['steps'][0]:.0f} epochs) "
                        f"diffusion's best bound is {d['best_bpc']:.2f}, {verdict_} the GPT's best NLL "
                        f"({gpt['best_bpc']:.2f})")
    if said:
        turns = any(d < -2 * se for d, se in diffs)
        shrinks = all(a[0] < b[0] for a, b in zip(diffs, diffs[1:], strict=False))
        lead = ("the ranking turns" if turns else "the GPT's lead shrinks, without turning" if shrinks
                else "the ranking holds")
        out.append(f"When unique text is scarce and repeated, {lead}. With the same small network and "
                   f"{epochs['steps']:,} training steps, " + "; ".join(said) + ".")
    return out


def readme_blocks(r, blocks=None, epochs=None):
    """The README's generated blocks, by marker name, from the shipped entry `r` of results.json, Part 12's sweep and
    Part 13's runs."""
    out = {"headline": "\n".join(f"- {line}" for line in headline(r, blocks, epochs)),
           "findings": findings_markdown(r, blocks, epochs), "results": results_table(r), "samplers": samplers_table(r),
           "correctors": correctors_table(r["correctors"])}
    if blocks:
        out["blocks"] = blocks_table(blocks)
    if epochs:
        out["epochs"] = epochs_table(epochs)
    return out


def write_readme(path, r, blocks=None, epochs=None):
    "Regenerate every block of the README between <!-- NAME:start --> and <!-- NAME:end --> from results.json."
    text = open(path, encoding="utf-8").read()
    for name, block in readme_blocks(r, blocks, epochs).items():
        text, n = re.subn(rf"<!-- {name}:start -->.*?<!-- {name}:end -->",
                          lambda m, name=name, block=block: f"<!-- {name}:start -->\n{block}\n<!-- {name}:end -->",
                          text, flags=re.S)
        if n != 1:
            raise ValueError(f"{path} has {n} '{name}' blocks, expected one")
    nb().atomic_write(path, lambda f: f.write(text), mode="w")


if __name__ == "__main__":
    # python scripts/report.py readme: regenerate the README's tables and findings from assets/results.json
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from notebook import ROOT, load_notebook_exports
    load_notebook_exports()
    if sys.argv[1:] != ["readme"]:
        raise SystemExit("usage: python scripts/report.py readme")
    stored = json.load(open(ROOT / "assets" / "results.json"))
    write_readme(str(ROOT / "README.md"), stored["gpu"], stored.get("blocks"), stored.get("epochs"))
    print("README.md: blocks regenerated from assets/results.json")
