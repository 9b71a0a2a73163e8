"""Part 13's runs, "When diffusion beats the GPT": the GPT and absorbing diffusion, the cpu preset's network, trained
on only the first U characters of the training split and repeated for many epochs; every run validates on the
same held-out 10%. Then each model's best bound (or NLL) on every validation window, into assets/results.json.

    python scripts/data_sweep.py train --out runs/data                 # resumable: rerun to go on
    python scripts/data_sweep.py train --out runs/data --only autoregressive-25k-d0,absorbing-25k
    python scripts/data_sweep.py measure --out runs/data --blocks runs/blocks --results assets/results.json

Every run is scripts/train.py with the cpu preset's recipe (its batch, learning rate and schedule, 2,000 steps),
validated every 50 steps on the same 8 batches. A run stops early once its validation value has not improved for
10 evaluations (500 steps; the best weights are kept). The GPT is trained with dropout 0 and 0.2. On the whole
split, the models of Part 12's sweep (scripts/block_sweep.py, the same recipe) serve: their names are
autoregressive-all-d0 and absorbing-all here, and `measure` reads them from --blocks.
"""
import argparse
import json
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

SIZES = {"25k": 25_000, "100k": 100_000, "all": None}          # U, characters of the training split (None: all)
STEPS, EVAL_INTERVAL, EVAL_BATCHES, PATIENCE = 2000, 50, 8, 10
# name: (graph, U, dropout)
MODELS = {f"{g}-{u}" + (f"-d{d:g}" if g == "autoregressive" else ""): (g, u, d)
          for u in SIZES for g, d in (("autoregressive", 0.0), ("autoregressive", 0.2), ("absorbing", 0.0))}
FROM_SWEEP = {"autoregressive-all-d0": "autoregressive", "absorbing-all": "absorbing"}   # Part 12's models


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["train", "measure"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--blocks", default="runs/blocks", help="where scripts/block_sweep.py trained Part 12's models")
    ap.add_argument("--only", help="comma-separated names of " + ", ".join(MODELS))
    ap.add_argument("--results", default="assets/results.json")
    ap.add_argument("--passes", type=int, default=16, help="passes of the bound over every validation window")
    args = ap.parse_args(argv)
    from block_sweep import chosen
    args.names = chosen(ap, args.only, MODELS)
    return args


def checkpoint(name, args):
    return (pathlib.Path(args.blocks) / f"{FROM_SWEEP[name]}.pt" if name in FROM_SWEEP
            else pathlib.Path(args.out) / f"{name}.pt")


def train(args):
    import train as train_script
    for name in args.names:
        if checkpoint(name, args).exists():
            print(f"{name}: trained already ({checkpoint(name, args)})", flush=True)
            continue
        if name in FROM_SWEEP:
            sys.exit(f"{name} is Part 12's {FROM_SWEEP[name]}: train it with scripts/block_sweep.py "
                     f"(--out {args.blocks})")
        graph, u, dropout = MODELS[name]
        train_script.main(["--preset", "cpu", "--graph", graph, "--out", args.out, "--name", name,
                           "--dropout", str(dropout), "--max-iters", str(STEPS), "--resume-every", "60",
                           "--eval-interval", str(EVAL_INTERVAL), "--eval-batches", str(EVAL_BATCHES),
                           "--patience", str(PATIENCE)] + (["--train-chars", str(SIZES[u])] if SIZES[u] else []))


def row(name, model, blob, val_windows, n_train, passes, seed=1337):
    "A run's row: its validation curve against epochs, and its best weights' bits/char on every window."
    from annotated_diffusion import bits_per_char
    graph, u, dropout = MODELS[name]
    m, cfg = blob["metrics"], model.cfg
    h = m["history"]
    chars = m.get("train_chars") or n_train
    per_step = m["batch_size"] * cfg.block_size
    bpc, se = bits_per_char(model, val_windows, passes=passes, seed=seed)
    return dict(name=name, chars=chars, graph=graph, dropout=m["dropout"], steps=h["val_step"],
                epochs=[s * per_step / chars for s in h["val_step"]], val_bpc=h["val_bpc"],
                best_step=h["best_step"], best_epoch=h["best_step"] * per_step / chars, best_bpc=bpc, best_bpc_se=se,
                train=dict(steps=h["last_step"], seconds=m["train_seconds"], device=m["device"], date=m["date"],
                           eval_interval=h["val_step"][0], from_sweep=name in FROM_SWEEP))


def measure(args):
    from notebook import load_data, load_notebook
    nb = load_notebook("cpu")
    import measure as measure_module
    _, vocab, train_data, val_data = load_data(nb)
    device = nb.pick_device()
    allres = json.load(open(args.results)) if os.path.exists(args.results) else {}
    entry = allres.get("epochs", {})
    entry.update(measured_on=measure_module.here(device), date=time.strftime("%Y-%m-%d"), passes=args.passes,
                 steps=STEPS, eval_interval=EVAL_INTERVAL, eval_batches=EVAL_BATCHES, patience=PATIENCE,
                 rows=entry.get("rows", {}))
    for name in args.names:
        path = checkpoint(name, args)
        if not path.exists():
            print(f"{name}: not trained yet ({path}); skipped", flush=True)
            continue
        model, blob = nb.load_checkpoint(str(path), None, vocab, device)
        val_windows = nb.windows_of(val_data, model.cfg.block_size)
        entry["rows"][name] = r = row(name, model, blob, val_windows, len(train_data), args.passes)
        entry["windows"] = len(val_windows)
        allres["epochs"] = entry
        nb.atomic_write(args.results, lambda f: f.write(json.dumps(allres, indent=1)), mode="w")
        print(f"{name}: best {r['best_bpc']:.4f} ± {r['best_bpc_se']:.4f} bits/char at epoch {r['best_epoch']:.1f} "
              f"(step {r['best_step']}); trained {r['train']['steps']} steps in {r['train']['seconds']:.0f} s",
              flush=True)
    return entry


def main(argv=None):
    args = parse(argv)
    if args.what == "train":
        train(args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
