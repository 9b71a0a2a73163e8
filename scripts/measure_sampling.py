"""Part 11's measurements for the shipped models, with the notebook's own functions: the `gpu` entry of
assets/results.json gains "samplers" (speed and quality of every sampler), "pages" (text longer than the context),
"knobs" (temperature, top-p, confidence order) and "correctors" (Part 11.6). Each section is saved as soon as it
is done.

    python scripts/measure_sampling.py [--sections samplers,pages,knobs,correctors]

Timings are only meaningful on an otherwise idle machine; the entry records the device and its threads.
"""
import argparse

from notebook import ROOT, load_data, load_notebook
import measure


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sections", default="samplers,pages,knobs,correctors")
    args = ap.parse_args()
    nb = load_notebook("gpu")
    M, dev = measure.SIZES["gpu"], nb.pick_device()
    text, vocab, train_data, val_data = load_data(nb)
    lexicon = set(nb.words_of(text[:len(train_data)]))
    models = {g: nb.load_checkpoint(str(ROOT / "assets" / f"gpu-{g}.pt"), None, vocab, dev)[0]
              for g in ("absorbing", "uniform", "autoregressive")}
    ar, L = models["autoregressive"], nb.P["block_size"]
    path = str(ROOT / "assets" / "results.json")
    sections = {
        "samplers": lambda: measure.measure_samplers(
            measure.sampler_zoo(models["absorbing"], ar, M["sampler_steps"]), ar, vocab, lexicon, L,
            M["sampler_batches"], nb.seed, dev, measure.too_slow_without_cache(M["sampler_steps"], M["sampler_batches"], dev)),
        "pages": lambda: measure.measure_pages(models, ar, vocab, lexicon, M["page_chars"], M["page_keep"], M["pages"],
                                               nb.seed, dev),
        "knobs": lambda: measure.knob_sweep(models["absorbing"], ar, vocab, lexicon, L, measure.KNOB_SETTINGS,
                                            M["knob_samples"], nb.seed, dev),
        "correctors": lambda: measure.corrector_sweep(models, ar, vocab, lexicon, L, M["quality_samples"],
                                                      M["sampler_steps"][0], nb.seed, dev)}
    for section in args.sections.split(","):
        if section not in sections:
            raise SystemExit(f"unknown section {section!r}: choose among {', '.join(sections)}")
        res = nb.json.load(open(path))["gpu"]              # re-read: each section is saved on its own
        res[section] = sections[section]()
        measure.save_results(path, res)
        print(f"saved {section} to {path}", flush=True)


if __name__ == "__main__":
    main()
