"""Parts 10 and 11's measurements for the shipped models, with the notebook's own functions: the `gpu` entry of
assets/results.json gains "infill" (both judges), "samplers" (speed and quality of every sampler), "pages" (text
longer than the context), "knobs" (temperature, top-p, confidence order) and "correctors" (Part 11.3). Each section
is saved as soon as it is done.

    python scripts/measure_sampling.py [--sections infill,samplers,pages,knobs,correctors] [--size KEY=VALUE ...]

The sizes are the gpu preset's (measure.SIZES["gpu"]); --size overrides one, for a slower device, e.g.
`--size knob_samples=16 --size sampler_batches=1,8`; each section records the sizes it was measured with.
Timings are only meaningful on an otherwise idle machine; the entry records the device and its threads. If some
were not (another program ran meanwhile), `--sections samplers --only "tweedie 64,tweedie 64 + cache"` re-times
those samplers alone and keeps the rest of the section.
"""
import argparse

from notebook import ROOT, load_data, load_notebook
import measure


def sizes(overrides):
    "measure.SIZES['gpu'] with KEY=VALUE overrides (VALUE an integer, or integers separated by commas)."
    M = dict(measure.SIZES["gpu"])
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in M or not value:
            raise SystemExit(f"--size {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(M))}")
        M[key] = [int(v) for v in value.split(",")] if isinstance(M[key], list) else int(value)
    return M


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sections", default="infill,samplers,pages,knobs,correctors")
    ap.add_argument("--size", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--only", default="", metavar="NAMES",
                    help="samplers: re-time only these (names separated by commas), keeping the section's others")
    ap.add_argument("--results", default=str(ROOT / "assets" / "results.json"),
                    help="the file whose gpu entry gains them")
    args = ap.parse_args()
    M = sizes(args.size)
    nb = load_notebook("gpu")
    dev = nb.pick_device()
    text, vocab, train_data, val_data = load_data(nb)
    lexicon = set(nb.words_of(text[:len(train_data)]))
    models = {g: nb.load_checkpoint(str(ROOT / "assets" / f"gpu-{g}.pt"), None, vocab, dev)[0]
              for g in ("absorbing", "uniform", "autoregressive")}
    ar, L = models["autoregressive"], nb.P["block_size"]
    path = args.results
    steps, batches = M["sampler_steps"], M["sampler_batches"]
    sections = {
        "infill": lambda: measure.measure_infill(models, ar, nb.windows_of(val_data, L), M["infill_passages"],
                                                 M["infill_hole"], 64, nb.seed, dev,
                                                 measure.CharNgram(train_data, len(vocab))),
        "samplers": lambda: retime(measure.measure_samplers(
            {k: f for k, f in zoo.items() if k in only or not only}, ar, vocab, lexicon, L, batches, nb.seed, dev,
            measure.too_slow_without_cache(steps, batches, dev))),
        "pages": lambda: measure.measure_pages(models, ar, vocab, lexicon, M["page_chars"], M["page_keep"], M["pages"],
                                               nb.seed, dev),
        "knobs": lambda: measure.knob_sweep(models["absorbing"], ar, vocab, lexicon, L, measure.KNOB_SETTINGS,
                                            M["knob_samples"], nb.seed, dev),
        "correctors": lambda: measure.corrector_sweep(models, ar, vocab, lexicon, L, M["corrector_samples"],
                                                      steps[0], nb.seed, dev)}
    zoo = measure.sampler_zoo(models["absorbing"], ar, steps)
    only = [name for name in args.only.split(",") if name]
    if set(only) - set(zoo):
        raise SystemExit(f"--only: no sampler {sorted(set(only) - set(zoo))}; the samplers are {', '.join(zoo)}")

    def retime(new):
        "The stored section with the re-timed samplers' entries replaced (all of it when --only is not given)."
        if not only:
            return new
        old = nb.json.load(open(path))["gpu"]["samplers"]
        if (old["batches"], old.get("repeats"), old["length"]) != (new["batches"], new["repeats"], new["length"]):
            raise SystemExit("--only: the stored samplers were measured with other batches, repeats or length; "
                             "re-time them all")
        for key in ("seconds", "runs", "quality"):
            old[key].update({k: v for k, v in new[key].items()})
        return old

    for section in args.sections.split(","):
        if section not in sections:
            raise SystemExit(f"unknown section {section!r}: choose among {', '.join(sections)}")
    for section in args.sections.split(","):
        res = nb.json.load(open(path))["gpu"]              # re-read: each section is saved on its own
        res[section] = sections[section]()
        measure.save_results(path, res)
        print(f"saved {section} to {path}", flush=True)


if __name__ == "__main__":
    main()
