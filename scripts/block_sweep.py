"""Part 12's sweep: models of one size and recipe for every block length L', the GPT and absorbing diffusion at the
two ends, and the uniform graph in blocks; then their bounds, samples and timings, into assets/results.json.

    python scripts/block_sweep.py train --preset cpu --out runs/blocks            # resumable: rerun to go on
    python scripts/block_sweep.py train --preset cpu --out runs/blocks --only absorbing-1,absorbing-16
    python scripts/block_sweep.py measure --out runs/blocks --results assets/results.json
    python scripts/block_sweep.py measure --out runs/blocks --parts bound,samples --only absorbing-1   # as they finish

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
    ap.add_argument("what", choices=["train", "measure"])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", help="comma-separated names of " + ", ".join(MODELS))
    ap.add_argument("--results", default="assets/results.json")
    ap.add_argument("--parts", default="bound,samples,timings",
                    help="what `measure` measures: bound, samples, timings (time on an idle machine)")
    args = ap.parse_args(argv)
    names = args.only.split(",") if args.only else list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}: choose from {', '.join(MODELS)}")
    args.names = names
    return args


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


def main(argv=None):
    args = parse(argv)
    if args.what == "train":
        train(args)
    else:
        from notebook import load_notebook
        load_notebook(args.preset)                  # the notebook's definitions, which the measures call
        import measure
        measure.block_sweep_results(args.out, args.names, args.results, parts=tuple(args.parts.split(",")))


if __name__ == "__main__":
    main()
