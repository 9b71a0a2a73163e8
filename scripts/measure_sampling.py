"""Part 11's measurements for the shipped models, with the notebook's own functions: the `gpu` entry of
assets/results.json gains "samplers" (speed and quality of every sampler), "pages" (text longer than the context),
"knobs" (temperature, top-p, confidence order) and "correctors" (Part 11.6). Each section is saved as soon as it
is done.

    python scripts/measure_sampling.py [--sections samplers,pages,knobs,correctors]

Timings are only meaningful on an otherwise idle machine; the entry records the device and its threads.
"""
import argparse
import platform

import torch

from notebook import ROOT, load_data, load_notebook


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="samplers,pages,knobs,correctors")
    args = ap.parse_args()
    nb = load_notebook("gpu")
    P, dev = nb.P, nb.pick_device()
    text, vocab, train_data, val_data = load_data(nb)
    lexicon = set(nb.words_of(text[:len(train_data)]))
    models = {g: nb.load_checkpoint(str(ROOT / "assets" / f"gpu-{g}.pt"), None, vocab, dev)[0]
              for g in ("absorbing", "uniform", "autoregressive")}
    ar, L = models["autoregressive"], P["block_size"]
    here = (f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"
            if dev.type == "cpu" else torch.cuda.get_device_name())
    path = str(ROOT / "assets" / "results.json")
    for section in args.sections.split(","):
        res = nb.json.load(open(path))["gpu"]              # re-read: each section is saved on its own
        if section == "samplers":
            zoo = nb.sampler_zoo(models["absorbing"], ar, P["sampler_steps"])
            skip = nb.too_slow_without_cache(P["sampler_steps"], P["sampler_batches"], dev)
            res["samplers"] = nb.measure_samplers(zoo, ar, vocab, lexicon, L, P["sampler_batches"], nb.seed, dev, skip)
            res["samplers"]["device"] = here
        elif section == "pages":
            res["pages"] = nb.measure_pages(models, ar, vocab, lexicon, P["page_chars"], P["page_keep"], P["pages"],
                                            nb.seed, dev)
            res["pages"]["device"] = here
        elif section == "knobs":
            res["knobs"] = {"samples": P["knob_samples"], "device": here,
                            "rows": nb.knob_sweep(models["absorbing"], ar, vocab, lexicon, L, nb.knob_settings,
                                                  P["knob_samples"], nb.seed, dev)}
        elif section == "correctors":
            S, n = P["sampler_steps"][0], P["quality_samples"]
            res["correctors"] = {"samples": n, "length": L, "base_steps": S, "device": here,
                                 "rows": nb.corrector_sweep(models, ar, vocab, lexicon, L, n, S, nb.seed, dev)}
        else:
            raise SystemExit(f"unknown section {section!r}: choose among samplers, pages, knobs, correctors")
        nb.save_results(path, res)
        print(f"saved {section} to {path}", flush=True)


if __name__ == "__main__":
    main()
