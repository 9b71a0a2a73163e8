"""The shipped models' training curve (`training_curve` of the `gpu` entry of assets/results.json), from their
checkpoints, with the notebook's own functions.

    python scripts/score_shipped.py [--threads 1]

Each checkpoint keeps its run's history: the validation bound (the NLL for AR) at every evaluation, and the
samples the run drew as it trained. This scores those samples the way the notebook does (real words, repeated
words, unigram entropy and the AR judge's NLL) and writes the curve of Part 9's figure of quality while training,
leaving the entry's other sections as they are. `DIFFUSION_EVAL=1` in the notebook re-measures those sections on
your device, but its curve keeps only the bound: run this after it.
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
    text, vocab, train_data, _ = load_data(nb)
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
    measure.save_results(path, res)
    print(f"training_curve of the gpu entry written to {path}")


if __name__ == "__main__":
    main()
