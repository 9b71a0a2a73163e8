"""Score the texts the shipped models wrote, with the notebook's own functions, into the `gpu` entry of
assets/results.json: the training curve, Part 9's quality sweep and Part 15.2's pages.

    python scripts/score_shipped.py [--threads 1]

Nothing is sampled here; every text was drawn before and is kept:
- `training_curve`: each checkpoint keeps its run's history, the validation bound (the NLL for AR) at every
  evaluation and the samples the run drew as it trained;
- `quality`: assets/gpu-training-log.json keeps the sweep's texts (64 per row, drawn on the GPU that trained the
  models); the validation references are re-read from the text with the notebook's seed;
- `pages`: the entry keeps every page in full.
Each is scored the way the notebook scores samples (real words, repeated words, unigram entropy and the AR judge's
NLL, each with its standard error), leaving the entry's other sections as they are.
"""
import argparse
import json

import torch

from notebook import ROOT, load_data, load_notebook
import measure


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    nb = load_notebook("gpu")
    dev = torch.device("cpu")
    text, vocab, train_data, val_data = load_data(nb)
    lexicon = set(nb.words_of(text[:len(train_data)]))
    models, blobs = {}, {}
    for g in ("absorbing", "uniform", "autoregressive"):
        models[g], blobs[g] = nb.load_checkpoint(str(ROOT / "assets" / f"gpu-{g}.pt"), None, vocab, dev)
    ar = models["autoregressive"]
    path = str(ROOT / "assets" / "results.json")
    res = json.load(open(path))["gpu"]                              # the entry of the shipped models
    encode = lambda texts: torch.tensor([vocab.encode(t) for t in texts])
    curve = measure.training_meta({g: (models[g], blobs[g]["metrics"]) for g in models})["training_curve"]
    for g, pts in curve.items():
        for e in blobs[g]["metrics"]["history"]["extra"]:
            if e and "samples" in e:                              # the samples the run drew at this evaluation
                p = next(p for p in pts if p["step"] == e["step"])
                p.update({k: v for k, v in nb.sample_quality(encode(e["samples"]), vocab, ar, lexicon).items()
                          if k != "example"})
    res["training_curve"] = curve
    score = lambda texts: nb.sample_quality(encode(texts), vocab, ar, lexicon)
    log = json.load(open(ROOT / "assets" / "gpu-training-log.json"))
    q = res["quality"]
    for key, rows in q["runs"].items():                        # "absorbing/tweedie": rows by steps
        graph, method = key.split("/")
        for row in rows:
            row.update(**score(log[graph]["quality"][f"{method}/{row['steps']}"]))
    q["ar_samples"] = score(log["autoregressive"]["quality"]["ar/T=1"])
    val_windows = nb.windows_of(val_data, nb.P["block_size"])
    pick = torch.randperm(len(val_windows), generator=torch.Generator().manual_seed(nb.seed))[:q["samples"]]
    q["validation"] = nb.sample_quality(val_windows[pick], vocab, ar, lexicon)
    pages = res["pages"]
    for run in pages["runs"].values():
        run["along"] = measure.quality_along(encode(run["text"]), vocab, ar, lexicon, pages["stretch"])
    measure.save_results(path, res)
    print(f"training_curve, quality and pages of the gpu entry written to {path}")


if __name__ == "__main__":
    main()
