"""Part 12's sweep: models of one size and recipe for every block length L', the GPT and absorbing diffusion at the
two ends, and the uniform graph in blocks; then their bounds, samples and timings, into assets/results.json.

    python scripts/block_sweep.py train --preset cpu --out runs/blocks            # resumable: rerun to go on
    python scripts/block_sweep.py train --preset cpu --out runs/blocks --only absorbing-1,absorbing-16
    python scripts/block_sweep.py measure --out runs/blocks --results assets/results.json
    python scripts/block_sweep.py measure --out runs/blocks --parts bound,samples --only absorbing-1   # as they finish
    python scripts/block_sweep.py clip --out runs/blocks          # BD3-LM's search for L' = 4 and 16 (after they train)
    python scripts/block_sweep.py variance --out runs/blocks      # the estimator's variance at each model's weights
    python scripts/block_sweep.py errors --out runs/blocks        # reported standard errors against 10 evaluations
    python scripts/block_sweep.py errors --out runs/blocks --only absorbing-1 --evaluations 2   # (nothing drawn)

Every model is trained by scripts/train.py (the notebook's recipe: the same steps, batches and seed, so the same
windows), one after another; a model whose checkpoint exists is skipped. L' = 256, the whole context, is Part 5's
absorbing model itself: with one block the block bound is the bound of Part 5 draw for draw (Part 12 checks it),
so the absorbing model is trained once and stands at that end.
"""
import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

# name: (graph, L'); L' = 0 is the plain model (for diffusion, one block: L' = the context)
MODELS = {"autoregressive": ("autoregressive", 0), "absorbing-1": ("absorbing", 1), "absorbing-4": ("absorbing", 4),
          "absorbing-16": ("absorbing", 16), "absorbing-64": ("absorbing", 64), "absorbing": ("absorbing", 0),
          "uniform-16": ("uniform", 16), "uniform": ("uniform", 0),
          # BD3-LM's remedies for the estimator's variance (Part 12): L' = 1 trained with every character masked
          # (t = 1), and L' = 4 trained on the clipped schedule that `clip` chooses (written to CLIP_FILE)
          "absorbing-1-masked": ("absorbing", 1), "absorbing-4-clipped": ("absorbing", 4)}
CLIP_FILE = "clip-search.json"


def clip_of(name, out):
    "The schedule a model trains on: None (U[0, 1]), (1, 1) for the masked L' = 1, the search's choice for -clipped."
    if name.endswith("-masked"):
        return 1.0, 1.0
    if name.endswith("-clipped"):
        path = pathlib.Path(out) / CLIP_FILE
        if not path.exists():
            sys.exit(f"{name}: no {path}: run `python scripts/block_sweep.py clip --out {out}` first (it needs "
                     f"{name.removesuffix('-clipped')}.pt)")
        return tuple(json.loads(path.read_text())[name.removesuffix("-clipped")]["chosen"])
    return None


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["train", "measure", "clip", "variance", "errors"])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="comma-separated names of " + ", ".join(MODELS))
    ap.add_argument("--results", default="assets/results.json")
    ap.add_argument("--evaluations", type=int, default=10, help="errors: independent evaluations of each bound")
    ap.add_argument("--parts", default="bound,samples,timings",
                    help="what `measure` measures: bound, samples, timings (time on an idle machine)")
    args = ap.parse_args(argv)
    args.names = chosen(ap, args.only, MODELS)
    return args


def chosen(ap, only, models):
    "The names --only gives (all of `models` without it); an unknown one is the parser's error."
    names = only.split(",") if only else list(models)
    unknown = [n for n in names if n not in models]
    if unknown:
        ap.error(f"unknown model(s) {unknown}: choose from {', '.join(models)}")
    return names


def train(args):
    import train as train_script
    out = pathlib.Path(args.out)
    for name in args.names:
        if (out / f"{name}.pt").exists():
            print(f"{name}: trained already ({out / name}.pt)", flush=True)
            continue
        graph, block_len = MODELS[name]
        clip = clip_of(name, out)
        train_script.main(["--preset", args.preset, "--graph", graph, "--block-len", str(block_len),
                           "--out", str(out), "--name", name, "--resume-every", "60"]
                          + (["--clip", f"{clip[0]!r},{clip[1]!r}"] if clip else []))


def store(args, update):
    "results.json's entry \"blocks\", changed by update(entry) and written at once (atomically)."
    import measure
    res = json.load(open(args.results))
    update(res.setdefault("blocks", {}))
    measure.nb().atomic_write(args.results, lambda f: f.write(json.dumps(res, indent=1)), mode="w")


def stored(args, key):
    "results.json's entry \"blocks\" as --results holds it now: its `key` ({} when there is none yet)."
    return json.loads(pathlib.Path(args.results).read_text()).get("blocks", {}).get(key, {})


def loaded(args, names):
    "(name, model) for those of `names` trained under --out, with the data."
    from notebook import load_data
    from annotated_diffusion import load_checkpoint, pick_device, windows_of
    import measure
    _, vocab, train_data, val_data = load_data(measure.nb())
    dev = pick_device()
    for name in names:
        path = pathlib.Path(args.out) / f"{name}.pt"
        if not path.exists():
            print(f"{name}: not trained yet ({path}); skipped", flush=True)
            continue
        model = load_checkpoint(str(path), None, vocab, dev)[0]
        yield name, model, train_data, windows_of(val_data, model.cfg.block_size)


def search_clips(args):
    "BD3-LM's clip search at L' = 4 and 16: into --out's CLIP_FILE (training reads it) and results.json."
    import variance
    names = [n for n in ("absorbing-4", "absorbing-16") if n in args.names]        # (--only narrows them)
    found = {name: variance.clip_search(model, val) for name, model, _, val in loaded(args, names)}
    for name, f in found.items():
        var = {tuple(r["clip"]): r["variance"] for r in f["grid"]}
        print(f"{name}: least variance with t ~ U{tuple(f['chosen'])}: {var[tuple(f['chosen'])]:.4f} (nats/char)², "
              f"against {var[(0.0, 1.0)]:.4f} with U[0, 1]; {f['draws']} draws of {f['windows']} windows", flush=True)
    path = pathlib.Path(args.out) / CLIP_FILE
    old = json.loads(path.read_text()) if path.exists() else {}
    import measure
    measure.nb().atomic_write(str(path), lambda f: f.write(json.dumps(dict(old, **found), indent=1)), mode="w")
    store(args, lambda e: e.setdefault("clip_search", {}).update(found))


def variances(args):
    """The estimator's variance at each model's weights: `variance` in each row of results.json's sweep. The
    gradients, slow to draw, are kept from an earlier run; the spreads of one draw are drawn anew."""
    import variance
    rows = stored(args, "rows")
    for name, model, train_data, val in loaded(args, args.names):
        clip, v = clip_of(name, args.out) or (0.0, 1.0), rows.get(name, {}).get("variance")
        if v and "grad_fixed_batch" in v:
            v = dict(v, **variance.draw_sds(model, val, k=v["draws"], n_windows=v["windows"], clip=clip))
        else:
            v = variance.variance_row(model, train_data, val, clip=clip)
        print(f"{name}: bound sd {v['bound_sd']:.3f} bits/char per window drawing t, {v['bound_sd_mask_sets']:.3f} "
              f"from mask sets, training loss sd {v['train_loss_sd']:.3f}, gradient noise "
              f"{v['grad_fixed_batch']['noise']:.3f} (one batch), {v['grad_fresh_batches']['noise']:.3f} (fresh "
              f"batches), loss share {v['loss_share']:.3f}", flush=True)
        store(args, lambda e, name=name, v=v: e["rows"].setdefault(name, {}).update(variance=v))


def errors(args):
    """Reported standard errors against the spread of independent evaluations at L' = 1 and 4: with Part 5's
    estimator (`times`: t from U[0, 1]) and with `bits_per_char`'s, from mask sets (`bound`). An estimator already
    measured for a model is kept."""
    import variance
    done = stored(args, "error_bars")
    for name, model, _, val in loaded(args, [n for n in ("absorbing-1", "absorbing-4") if n in args.names]):
        found = dict(done.get(name, {}))
        for key, clip in (("times", (0.0, 1.0)), ("bound", None)):
            if key not in found:
                found[key] = variance.repeat_bound(model, val, args.evaluations, 4, clip=clip)
            r = found[key]
            print(f"{name} ({key}): {r['evaluations']} evaluations of {r['passes']} passes: mean {r['mean']:.4f}, "
                  f"spread {r['spread']:.4f}, mean reported error {r['mean_se']:.4f}", flush=True)
        store(args, lambda e, name=name, found=found: e.setdefault("error_bars", {}).update({name: found}))


def main(argv=None):
    args = parse(argv)
    if args.what == "train":
        return train(args)
    from notebook import load_notebook
    load_notebook(args.preset)                      # the notebook's definitions, which the measures call
    if args.what == "measure":
        import measure
        measure.block_sweep_results(args.out, args.names, args.results, parts=tuple(args.parts.split(",")))
    else:
        {"clip": search_clips, "variance": variances, "errors": errors}[args.what](args)


if __name__ == "__main__":
    main()
