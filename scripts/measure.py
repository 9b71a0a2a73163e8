"""The notebook's appendix, in three modules by job. This one measures; `figures.py` draws; `report.py` words.

Nothing here is part of the lesson. These are the sweeps, timings and judges of Parts 9 to 15 and the bookkeeping
of `assets/results.json` that turn the notebook's functions into the numbers it prints. The notebook imports the
three modules after making its own definitions importable as `annotated_diffusion`; scripts and tests get them
through the one loader, `scripts/notebook.py`. Each function imports what it uses from the notebook when it is
called, so a cell you rerun in the notebook is what the measurement uses.

    sys.modules["annotated_diffusion"] = sys.modules[__name__]      # in the notebook
    import measure
    R = measure.Results.open(...)                                  # stored, or measured here and saved
    quality = R.section("quality", lambda: measure.quality_sweep(...))
"""
import json
import math
import os
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


SIZES["gpu"] = dict(SIZES["cpu"], quality_samples=64, corrector_samples=64, infill_passages=200,
                    sampler_batches=[1, 32])


# The sampler knobs of Part 15.3 ({} is the exact sampler).
KNOB_SETTINGS = [{}, {"temperature": 0.8}, {"temperature": 0.6}, {"top_p": 0.9}, {"top_p": 0.7},
                 {"order": "confidence"}]


# ------------------------------------------------------------- the notebook's definitions and where a measurement ran


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


# ------------------------------------------------------------------------------------------------------- results.json


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


# --------------------------------------------------------------------------- Part 7: rotary against learned positions


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


# --------------------------------------------------------------------------- Part 9: the bound, and the training runs


def bound_section(models, val_windows, passes, seed, device):
    "Bits per character of each model on every validation window: the bound for diffusion, the exact NLL for AR."
    out = {}
    for name, m in models.items():
        bpc, se = nb().bits_per_char(m, val_windows, passes=passes, seed=seed)
        out[name] = {"bpc": bpc, "se": se, "windows": len(val_windows), "passes": 1 if m.cfg.causal else passes,
                     "device": here(device)}
    return out


def live_bound_check(models, stored, val_windows, seed, n=8, passes=2):
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


def training_meta(trained):
    "What results.json records of the training runs, from train_or_load's (model, metrics) per graph."
    curve = {g: [{"step": s, "minutes": sec / 60, "val_bpc": v} for s, sec, v in
                 zip(m["history"]["val_step"], m["history"]["val_seconds"], m["history"]["val_bpc"], strict=True)]
             for g, (_, m) in trained.items()}
    return {"best_steps": {g: m["history"]["best_step"] for g, (_, m) in trained.items()},
            "train_seconds": {g: m["train_seconds"] for g, (_, m) in trained.items()}, "training_curve": curve}


# --------------------------------------------------------------------------------------------- Part 9: sample quality


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


# ---------------------------------------------------------------- Part 10: the second judge, an n-gram, and infilling


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
    judges = {"ar": lambda x: ar_nll(judge, x).cpu().double(), "ngram": lambda x: ngram.char_nll(x).sum(-1)}
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


# ------------------------------------------------------------------------------------ Part 15.1: every sampler, timed


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


def timed(fn, device):
    "(seconds, result) of one call of fn(), synchronising the device before and after."
    out = {}
    return wall_time(lambda: out.setdefault("result", fn()), device), out["result"]


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
            runs = [wall_time(lambda out=out, fn=fn, bs=bs, g=g: out.append(fn(bs, L, g)), device)
                    for _ in range(repeats)]
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


def speedup(samplers, slow, fast, b):
    "How many times faster `fast` is than `slow` at batch b: the ratio of medians, and its range over the runs."
    (m1, lo1, hi1), (m2, lo2, hi2) = spread(samplers, slow, b), spread(samplers, fast, b)
    return m1 / m2, lo1 / hi2, hi1 / lo2


# --------------------------------------------------------------------------------- Part 15.2: longer than the context


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


# ----------------------------------------------------------------------------------------------- Part 15.3: the knobs


def knob_sweep(model, judge, vocab, lexicon, L, settings, n_samples, seed, device):
    "Quality of first-hitting samples under each setting, a dict of the knobs (temperature, top_p, order)."
    from annotated_diffusion import (by_confidence, first_hitting_sample, graph_and_noise, make_denoiser,
                                     sample_quality, sharpened, tqdm)
    gr, nz = graph_and_noise(model.cfg)
    orders = {"random": None, "confidence": by_confidence}           # None: a uniformly random position (exact)
    rows = []
    for knobs in tqdm(settings, desc="knobs"):
        g = torch.Generator(device=device).manual_seed(seed)
        den = sharpened(make_denoiser(model, gr), gr, knobs.get("temperature", 1.0), knobs.get("top_p", 1.0))
        x = first_hitting_sample(den, gr, nz, n_samples, L, device=device, generator=g, progress=False,
                                 choose=orders[knobs.get("order", "random")])
        rows.append(dict(knobs=knobs, **sample_quality(x, vocab, judge, lexicon)))
    return {"samples": n_samples, "device": here(device), "rows": rows}


# ---------------------------------------------------------------------------------------------- Part 11.3: correctors


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

            def counted(x, sigma, calls=calls, base=base):
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


# ------------------------------------------------------------ Part 12: block diffusion, swept over the block length

BLOCK_SWEEP = dict(passes=4, samples=32, length=256, long=2048, batches=[1, 8], repeats=2)


def as_blocks(model):
    "A diffusion model with no blocks is block diffusion with one block, L' = the context (Part 12 checks it)."
    import dataclasses
    if not model.cfg.causal and not model.cfg.block_len:
        model.cfg = dataclasses.replace(model.cfg, block_len=model.cfg.block_size)
    return model


@torch.no_grad()
def generate_ar_long(model, n, length, generator=None):
    """The GPT with a rolling key/value cache: each new character reads the keys and values of the last
    block_size - 1 before it, kept from when they were written (the BOS token drops out once the text is longer
    than the context). Within the context it draws exactly what Part 8's generate_ar draws: ids (n, length)."""
    from annotated_diffusion import extend_rotary, sample_categorical
    from scale import forward_cached
    extend_rotary(model, length + 1)
    keep, cache = model.cfg.block_size - 1, [dict() for _ in model.blocks]
    ctx = torch.full((n, 1), model.cfg.n_tokens, device=next(model.parameters()).device)     # BOS
    logits, out = forward_cached(model, ctx, cache, 0)[:, -1], []
    for i in range(length):
        out.append(sample_categorical(logits.float().softmax(-1), generator)[:, None])
        if i < length - 1:
            for kv in cache:
                kv["k"], kv["v"] = (kv[z][:, :, max(0, kv[z].shape[2] - keep):] for z in "kv")
            logits = forward_cached(model, out[-1], cache, 1 + i)[:, -1]
    return torch.cat(out, dim=1)


def write_text(model, n, length, generator=None):
    """`length` characters from any model of the sweep, about one network call per character: the GPT with its
    cache; absorbing blocks by first hitting (one call per character); uniform blocks by L' Tweedie steps each."""
    from annotated_diffusion import block_context, graph_and_noise, sample_blocks
    if model.cfg.causal:
        return generate_ar_long(model, n, length, generator)
    model, dev = as_blocks(model), next(model.parameters()).device
    gr, nz = graph_and_noise(model.cfg)
    Lb = model.cfg.block_len
    method = "first_hitting" if model.cfg.graph == "absorbing" else "tweedie"
    return sample_blocks(block_context(model, gr), gr, nz, n, length, Lb, Lb, method, dev, generator, progress=False)


def sweep_model_row(name, model, judge, ngram, vocab, lexicon, val_windows, seed, device, S=None,
                    parts=("bound", "samples", "timings")):
    """One model of Part 12's sweep: its bound on every validation window, its samples judged, its timings (each
    part measurable on its own: the timings want an idle machine)."""
    from annotated_diffusion import bits_per_char, sample_quality, words_of
    S, row = S or BLOCK_SWEEP, {}
    gen = torch.Generator(device=device)
    if "bound" in parts:
        row["bpc"], row["bpc_se"] = bits_per_char(model, val_windows, passes=S["passes"], seed=seed)
    if "samples" in parts:
        gen.manual_seed(seed)
        x = write_text(model, S["samples"], S["length"], gen)
        per = ngram.char_nll(x).mean(1).double()
        row.update(quality=sample_quality(x, vocab, judge, lexicon), ngram_nll=per.mean().item(),
                   ngram_nll_se=per.std().item() / len(per) ** 0.5)
    if "timings" in parts:
        row["seconds"] = {}
        for length in (S["length"], S["long"]):
            for b in S["batches"]:
                best = math.inf
                for r in range(S["repeats"] if length == S["length"] else 1):   # the best of a few: the least noise
                    gen.manual_seed(seed + r)
                    t, text = timed(lambda b=b, length=length: write_text(model, b, length, gen), device)
                    best = min(best, t)
                row["seconds"][f"{length}/{b}"] = best
                if length == S["long"] and b == max(S["batches"]):     # real words over the whole long text
                    words = [w for row_ in text for w in words_of(vocab.decode(row_.tolist()))]
                    row["long_real_words"] = sum(w in lexicon for w in words) / max(1, len(words))
        row["timed_on"] = here(device)
    cfg = model.cfg
    return dict(row, name=name, graph=cfg.graph, block_len=cfg.block_len if not cfg.causal else 1)


def stored_entry(shipped_dir, key, missing):
    """An entry of results.json (a sweep a script made), or a clear error naming `missing`; with where its rows
    were trained, in words: (path, entry, trained)."""
    path = os.path.join(shipped_dir, "results.json")
    entry = json.load(open(path)).get(key) if os.path.exists(path) else None
    if not entry or not entry.get("rows"):
        raise FileNotFoundError(f"{path} holds no {missing} (its docstring gives the two commands)")
    trained = sorted({(r["train"]["device"], r["train"]["date"]) for r in entry["rows"].values()})
    return path, entry, ", ".join(f"{d} ({t})" for d, t in trained)


def stored_blocks(shipped_dir):
    "Part 12's sweep as results.json keeps it (the entry \"blocks\"), saying where and when it was measured."
    path, blocks, trained = stored_entry(shipped_dir, "blocks", "block sweep: train and measure it with "
                                                                  "scripts/block_sweep.py")
    rows = blocks["rows"].values()
    print(f"[blocks: read from {path}; {len(blocks['rows'])} models of the {next(iter(rows))['train']['preset']} "
          f"preset, on Tiny Shakespeare, trained on {trained}, measured on "
          f"{blocks['measured_on']} ({blocks['date']}) by scripts/block_sweep.py]")
    from report import block_scale                  # (report builds on this module)
    print(f"The sweep's models: {block_scale(blocks)}.")
    return blocks


def stored_epochs(shipped_dir):
    "Part 13's data-scarce runs as results.json keeps them (the entry \"epochs\"), saying where and when they ran."
    path, epochs, trained = stored_entry(shipped_dir, "epochs", "data-scarce runs: train and measure them with "
                                                                "scripts/data_sweep.py")
    hours = sum(r["train"]["seconds"] for r in epochs["rows"].values()) / 3600
    print(f"[epochs: read from {path}; {len(epochs['rows'])} runs of the cpu preset's network, trained on "
          f"{trained} ({hours:.1f} hours in all), measured on {epochs['measured_on']} ({epochs['date']}) by "
          f"scripts/data_sweep.py]")
    return epochs


def block_sweep_results(out, names, results_path, seed=1337, S=None, parts=("bound", "samples", "timings")):
    """Part 12's sweep measured from the checkpoints under `out` (scripts/block_sweep.py trains them), into the
    entry "blocks" of results_path; each model's row is saved as soon as it is measured."""
    from notebook import load_data
    from annotated_diffusion import load_checkpoint, pick_device, windows_of, words_of
    n = nb()
    text, vocab, train_data, val_data = load_data(n)
    device = pick_device()
    judge_path = os.path.join(os.path.dirname(results_path), "gpu-autoregressive.pt")
    judge = load_checkpoint(judge_path, None, vocab, device)[0]
    ngram = CharNgram(train_data, len(vocab))
    lexicon = set(words_of(text[:len(train_data)]))
    allres = json.load(open(results_path)) if os.path.exists(results_path) else {}
    entry = allres.get("blocks", {})
    entry.update(sweep=dict(S or BLOCK_SWEEP), judge=judge_path, measured_on=here(device),
                 date=time.strftime("%Y-%m-%d"), rows=entry.get("rows", {}))
    for name in names:
        path = os.path.join(out, f"{name}.pt")
        model, blob = load_checkpoint(path, None, vocab, device)
        val_windows = windows_of(val_data, model.cfg.block_size)
        m = blob["metrics"]
        train_meta = dict(steps=m["history"]["last_step"], seconds=m["train_seconds"], device=m["device"],
                          date=m["date"], preset=m["preset"], batch_size=m["batch_size"],
                          params=sum(p.numel() for p in model.parameters()))
        print(f"{name}: measuring {', '.join(parts)}", flush=True)
        entry["rows"][name] = dict(entry["rows"].get(name, {}), train=train_meta,
                                   **sweep_model_row(name, model, judge, ngram, vocab, lexicon, val_windows, seed,
                                                     device, S, parts))
        if m.get("clip"):                           # trained on a clipped schedule (Part 12's remedies)
            entry["rows"][name]["clip"] = list(m["clip"])
        entry["windows"], entry["context"] = len(val_windows), model.cfg.block_size
        allres["blocks"] = entry
        n.atomic_write(results_path, lambda f: f.write(json.dumps(allres, indent=1)), mode="w")
        r = entry["rows"][name]
        print(f"{name}: {r.get('bpc', math.nan):.4f} ± {r.get('bpc_se', math.nan):.4f} bits/char, real words "
              f"{r.get('quality', {}).get('real_words', math.nan):.3f}, seconds {r.get('seconds')}", flush=True)
    return entry
