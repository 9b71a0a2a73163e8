"""Write the `gpu` entry of assets/results.json for the shipped models, with the notebook's own functions.

    python scripts/score_shipped.py [--infill-passages 48] [--threads 1]

Reads what `train_shipped.py` measured on the GPU (assets/gpu-training-log.json: bits/char on every validation
window, the texts of the sample-quality sweep, the samples drawn during training) and scores the texts here,
the way the notebook does: real words, repeated words, unigram entropy and the AR judge's NLL. The infill
measurement, which the GPU run left out, is measured on this machine; the entry says where each number came from.
"""
import argparse
import json

import torch

from notebook import ROOT, load_data, load_notebook
import measure


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--infill-passages", type=int, default=48)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    nb = load_notebook("gpu")
    dev = torch.device("cpu")
    text, vocab, train_data, val_data = load_data(nb)
    val_windows = nb.windows_of(val_data, 256)
    lexicon = set(nb.words_of(text[:len(train_data)]))
    models, blobs = {}, {}
    for g in ("absorbing", "uniform", "autoregressive"):
        models[g], blobs[g] = nb.load_checkpoint(str(ROOT / "assets" / f"gpu-{g}.pt"), None, vocab, dev)
    ar = models["autoregressive"]
    log = json.loads((ROOT / "assets" / "gpu-training-log.json").read_text())
    here = measure.here(dev)
    m = blobs["absorbing"]["metrics"]
    trained_on = m["device"]
    res = {"preset": "gpu", "device": trained_on, "trained_on": trained_on, "torch": m["torch"],
           "date": m["date"], "params": {g: nb.count_params(x) for g, x in models.items()},
           "train_steps": m["max_iters"], "best_steps": {g: blobs[g]["step"] for g in models},
           "train_seconds": {g: blobs[g]["metrics"]["train_seconds"] for g in models},
           "dropout": {g: blobs[g]["metrics"]["dropout"] for g in models},
           "batch_size": m["batch_size"], "block_size": 256,
           "measured_on": f"bits/char and samples on {trained_on}, scored on {here}"}
    res["bits_per_char"] = {g: {"bpc": log[g]["bpc"], "se": log[g]["se"], "windows": log[g]["windows"],
                                "passes": log[g]["passes"], "device": trained_on} for g in models}
    encode = lambda texts: torch.tensor([vocab.encode(t) for t in texts])
    quality = {"steps": sorted({int(k.split("/")[1]) for k in log["absorbing"]["quality"]}),
               "samples": len(log["absorbing"]["quality"]["tweedie/128"]), "drawn_on": trained_on, "runs": {}}
    for g in ("absorbing", "uniform"):
        for method in ("tweedie", "euler"):
            quality["runs"][f"{g}/{method}"] = [
                dict(steps=s, **nb.sample_quality(encode(log[g]["quality"][f"{method}/{s}"]), vocab, ar, lexicon))
                for s in quality["steps"]]
    quality["ar_samples"] = nb.sample_quality(encode(log["autoregressive"]["quality"]["ar/T=1"]), vocab, ar, lexicon)
    pick = torch.randperm(len(val_windows), generator=torch.Generator().manual_seed(nb.seed))[:quality["samples"]]
    quality["validation"] = nb.sample_quality(val_windows[pick], vocab, ar, lexicon)
    res["quality"] = quality
    curve = {}
    for g in models:
        h = log[g]["metrics"]["history"]
        pts = [{"step": s, "minutes": sec / 60, "val_bpc": v} for s, sec, v in zip(h["val_step"], h["val_seconds"],
                                                                                    h["val_bpc"])]
        for e in h["extra"]:
            if e and "samples" in e:
                p = next(p for p in pts if p["step"] == e["step"])
                p.update({k: v for k, v in nb.sample_quality(encode(e["samples"]), vocab, ar, lexicon).items()
                          if k != "example"})
        curve[g] = pts
    res["training_curve"] = curve
    res["infill"] = measure.measure_infill(models, ar, val_windows, args.infill_passages, 32, 64, nb.seed, dev)
    res["infill"]["device"] = here
    measure.save_results(str(ROOT / "assets" / "results.json"), res)
    print(measure.results_table(res))


if __name__ == "__main__":
    main()
