"""The shipped models and their results: complete, honest about their error, the same numbers as the README."""
import hashlib
import json
import math
import re

import pytest
import torch

from conftest import NOTEBOOK, ROOT

CELLS = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]

RESULTS = ROOT / "assets" / "results.json"
GRAPHS = ("absorbing", "uniform", "autoregressive")


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def notebook_parameters(monkeypatch, nb, preset="gpu"):
    params = next("".join(c["source"]) for c in json.loads((ROOT / "annotated_diffusion.ipynb").read_text())["cells"]
                  if "parameters" in c.get("metadata", {}).get("tags", []))
    monkeypatch.setenv("DIFFUSION_PRESET", preset)
    ns = dict(vars(nb))
    exec(params, ns)
    return ns


def test_readme_table_is_generated_from_results_json(results, report):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- results:start -->\n(.*?)\n<!-- results:end -->", readme, re.S)
    assert block, "README.md has no results block"
    assert block.group(1).strip() == report.results_table(results["gpu"]).strip()


def test_results_are_complete_and_measured(results):
    r = results["gpu"]
    assert r["preset"] == "gpu" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["date"])
    for name in GRAPHS:
        b = r["bits_per_char"][name]
        assert 0.5 < b["bpc"] < 6 and math.isfinite(b["bpc"]) and b["windows"] == 435
    for name in ("absorbing", "uniform"):
        assert 0 < r["bits_per_char"][name]["se"] < 0.1 and r["bits_per_char"][name]["passes"] == 16
    assert r["bits_per_char"]["autoregressive"]["se"] == 0           # exact
    runs = r["quality"]["runs"]
    assert set(runs) == {"absorbing/tweedie", "uniform/tweedie", "uniform/euler"}   # absorbing: Euler is Tweedie
    assert all([row["steps"] for row in rows] == [8, 16, 32, 64, 128, 256] for rows in runs.values())
    for row in [x for rows in runs.values() for x in rows] + [r["quality"]["ar_samples"], r["quality"]["validation"]]:
        assert 0 <= row["real_words"] <= 1 and 0 <= row["repeated_words"] <= 1 and 3 < row["unigram_bits"] < 6.1
    assert r["quality"]["validation"]["real_words"] > 0.9           # real text is made of real words
    assert set(r["training_curve"]) == set(GRAPHS)
    assert set(r["infill"]["runs"]) == {"absorbing/tweedie", "uniform/tweedie", "uniform/euler",
                                        "autoregressive/prefix"}
    assert "speed_seconds" not in r              # one speed table: Part 11.3's samplers


def test_shipped_checkpoints_fit_and_say_how_they_were_trained(nb, results):
    for name in GRAPHS:
        path = ROOT / "assets" / f"gpu-{name}.pt"
        assert path.stat().st_size < 25e6
        blob = torch.load(path, map_location="cpu", weights_only=True)
        vocab = nb.Vocab(blob["vocab"])
        model, blob = nb.load_checkpoint(str(path), None, vocab)          # its own config
        m = blob["metrics"]
        assert m["history"]["best_step"] == blob["step"] <= m["max_iters"] == results["gpu"]["train_steps"]
        assert m["device"] and m["train_seconds"] > 0 and m["batch_size"] == 64
        assert nb.count_params(model) == results["gpu"]["params"][name]
        assert model.cfg.time_conditioning == (name == "uniform")       # the absorbing denoiser reads no σ̄


def test_manifest_lists_the_shipped_files_with_their_hashes():
    manifest = json.loads((ROOT / "assets" / "manifest.json").read_text())
    assert {"assets/gpu-absorbing.pt", "assets/gpu-uniform.pt", "assets/gpu-autoregressive.pt", "assets/results.json",
            "scripts/measure.py", "scripts/figures.py", "scripts/report.py"} <= set(manifest)  # the appendix ships too
    for name, sha in manifest.items():
        assert hashlib.sha256((ROOT / name).read_bytes()).hexdigest() == sha, f"re-run the manifest: {name}"


def test_gpu_preset_reproduces_the_shipped_models(nb, monkeypatch):
    """DIFFUSION_PRESET=gpu DIFFUSION_LOAD=0 builds the shipped configs and trains them for the same steps."""
    ns = notebook_parameters(monkeypatch, nb)
    for name in GRAPHS:
        blob = torch.load(ROOT / "assets" / f"gpu-{name}.pt", map_location="cpu", weights_only=True)
        saved = dict({"block_len": 0}, **blob["config"])          # (saved before Part 12 added block_len)
        assert nb.asdict(nb.build_config(ns["P"], len(blob["vocab"]), name)) == saved
        m = blob["metrics"]
        assert (m["max_iters"], m["batch_size"]) == (ns["P"]["max_iters"], ns["P"]["batch_size"])


def test_readme_sampler_table_is_generated_from_results_json(results, report):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- samplers:start -->\n(.*?)\n<!-- samplers:end -->", readme, re.S)
    assert block, "README.md has no samplers block"
    assert block.group(1).strip() == report.samplers_table(results["gpu"]).strip()


QUALITY = ("real_words", "repeated_words", "unigram_bits", "judge_nll")


def scored(q, n=None):
    "A set of samples scored with every measure and its standard error (over n samples, when given)."
    assert all(0 <= q[k + "_se"] < 0.2 for k in QUALITY), q
    assert 0 <= q["real_words"] <= 1 and 0 <= q["repeated_words"] <= 1 and 3 < q["unigram_bits"] < 6.1
    assert n is None or q["samples"] == n
    return True


def test_every_sample_quality_carries_its_standard_error(results):
    r = results["gpu"]
    q = r["quality"]
    assert all(scored(row, q["samples"]) for rows in q["runs"].values() for row in rows)
    assert scored(q["ar_samples"], q["samples"]) and scored(q["validation"], q["samples"])
    s = r["samplers"]
    assert all(scored(x, s["repeats"] * max(s["batches"])) for x in s["quality"].values())
    assert all(scored(x, r["knobs"]["samples"]) for x in r["knobs"]["rows"])
    assert all(scored(x, r["correctors"]["samples"]) for x in r["correctors"]["rows"])
    assert all(scored(x, r["pages"]["pages"]) for run in r["pages"]["runs"].values() for x in run["along"])
    for run in r["infill"]["runs"].values():                          # both judges, each with its error
        assert set(run) == {"ar", "ngram"} and all(0 < run[j]["se"] < 0.5 for j in run)


def test_part_11_measurements_are_complete(measure, results):
    """Every sampler was timed at every batch (or marked too slow), several times after a warm-up, and scored;
    pages and knobs too."""
    r, P = results["gpu"], measure.SIZES["gpu"]
    s = r["samplers"]
    assert s["length"] == 256 and s["batches"][0] == 1 and s["repeats"] >= 3
    names = ([f"tweedie {n}{c}" for n in P["sampler_steps"] for c in ("", " + cache")]
             + ["first hitting", "autoregressive"])
    assert list(s["seconds"]) == names
    for name, by_batch in s["seconds"].items():
        assert by_batch["1"] is not None                                   # everything is timed at batch 1
        for b, median in by_batch.items():
            runs = s["runs"][name][b]
            assert (median is None) == (runs is None)
            assert median is None or (len(runs) == s["repeats"] and median == sorted(runs)[len(runs) // 2] > 0)
        q = s["quality"].get(name) or s["quality"][name + " + cache"]
        assert scored(q)
    for n in P["sampler_steps"]:                                           # the cache never changes the samples
        if f"tweedie {n}" in s["quality"]:
            assert s["quality"][f"tweedie {n}"] == s["quality"][f"tweedie {n} + cache"]
    pages = r["pages"]
    assert set(pages["runs"]) == set(GRAPHS) and pages["chars"] >= 2000
    for run in pages["runs"].values():
        assert len(run["text"]) == pages["pages"] and all(len(t) == pages["chars"] for t in run["text"])
        assert len(run["along"]) == pages["chars"] // pages["stretch"]
    assert [row["knobs"] for row in r["knobs"]["rows"]] == measure.KNOB_SETTINGS
    assert r["knobs"]["samples"] >= 16


def test_correctors_are_measured_at_equal_calls_and_the_readme_shows_them(measure, results, report):
    """11.6: Tweedie and a corrector at the same network calls, twice, for both graphs, samples of 256 characters;
    the README's table is generated from the same entry."""
    c = results["gpu"]["correctors"]
    assert c["samples"] >= 32 and c["length"] == 256 and c["base_steps"] == measure.SIZES["gpu"]["sampler_steps"][0]
    S = c["base_steps"]
    for graph in ("absorbing", "uniform"):
        rows = {r["setting"]: r for r in c["rows"] if r["graph"] == graph}
        assert list(rows) == [label for label, _ in measure.corrector_settings(S)]
        for tweedie, corrector in measure.equal_calls(S):
            assert abs(rows[tweedie]["calls"] - rows[corrector]["calls"]) <= 1    # (the corrector's own time)
        assert all(r["seconds"] > 0 and scored(r, c["samples"]) for r in rows.values())
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- correctors:start -->\n(.*?)\n<!-- correctors:end -->", readme, re.S)
    assert block, "README.md has no correctors block"
    assert block.group(1).strip() == report.correctors_table(c).strip()


# ---- What we found: the sentences of Part 9, Part 14 and the README's first screen -----------------------------

def test_findings_are_computed_from_results_json(results, report):
    """Every number in the findings comes from the entry: change the entry and the sentences follow."""
    import copy
    r = results["gpu"]
    text = report.findings_markdown(r)
    b = r["bits_per_char"]
    assert f"{b['absorbing']['bpc']:.3f} ± {b['absorbing']['se']:.3f} bits per character" in text
    assert f"{b['absorbing']['bpc'] / b['autoregressive']['bpc']:.2f}×" in text
    moved = copy.deepcopy(r)
    moved["bits_per_char"]["absorbing"]["bpc"] = 3.0
    moved["quality"]["ar_samples"]["judge_nll"] = r["quality"]["validation"]["judge_nll"] + 0.5
    moved_text = report.findings_markdown(moved)
    assert f"3.000 ± {b['absorbing']['se']:.3f} bits per character" in moved_text
    assert f"{3.0 / b['autoregressive']['bpc']:.2f}×" in moved_text
    assert "The judge is partial" in text and "The judge is partial" not in moved_text   # worded from the numbers
    for section in ("samplers", "infill", "correctors", "training_curve"):
        del moved[section]
    assert len(report.findings(moved)) < len(report.findings(r))                      # unmeasured: left out


def test_readme_findings_and_notebook_summaries_match_results_json(results, report):
    entries = results["gpu"], results["blocks"], results["epochs"]
    findings = report.findings_markdown(*entries)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- findings:start -->\n(.*?)\n<!-- findings:end -->", readme, re.S)
    assert block and block.group(1).strip() == findings.strip()
    plain = re.search(r"<!-- headline:start -->\n(.*?)\n<!-- headline:end -->", readme, re.S)   # the plain bullets
    assert plain and plain.group(1).strip() == "\n".join(f"- {line}" for line in report.headline(*entries))
    table = re.search(r"<!-- blocks:start -->\n(.*?)\n<!-- blocks:end -->", readme, re.S)        # Part 12's sweep
    assert table and table.group(1).strip() == report.blocks_table(results["blocks"]).strip()
    table = re.search(r"<!-- epochs:start -->\n(.*?)\n<!-- epochs:end -->", readme, re.S)        # Part 13's runs
    assert table and table.group(1).strip() == report.epochs_table(results["epochs"]).strip()
    cells = json.loads((ROOT / "annotated_diffusion.ipynb").read_text(encoding="utf-8"))["cells"]
    shown = ["".join(o["data"]["text/markdown"]) for c in cells if "report.findings_markdown(" in "".join(c["source"])
             for o in c.get("outputs", []) if "text/markdown" in o.get("data", {})]
    assert len(shown) == 1 and shown[0].strip() == report.findings_markdown(results["gpu"]).strip()   # Part 15.4
    assert report.block_findings_markdown(results["blocks"]) not in shown[0]      # (Part 12 shows its own, once)


# ---- the notebook's worded claims, each against the numbers it words -------------------------------------------

def test_the_notebooks_worded_claims_hold_in_the_data(measure, results, report):
    r = results["gpu"]
    q, ars = r["quality"], r["quality"]["ar_samples"]
    far_below = lambda x, ref, key: x[key] < ref[key] and report.beyond_noise(x, ref, key)
    # Part 9: "at every step count the diffusion samples stay far behind the baseline" on real words and the judge
    for rows in q["runs"].values():
        for row in rows:
            assert far_below(row, ars, "real_words") and far_below(ars, row, "judge_nll")
    # Part 9: "the diffusion models still improve at the end"; "the autoregressive model peaks early"
    assert (r["best_steps"]["absorbing"] == r["best_steps"]["uniform"] == r["train_steps"]
            > r["best_steps"]["autoregressive"])
    # Part 11.4: "the last stretch's real words are within noise of the first's for every model"
    for run in r["pages"]["runs"].values():
        assert not report.beyond_noise(run["along"][0], run["along"][-1], "real_words")
    # Part 11.3: "the diffusion samplers' real words lie within noise of one another, far below the AR model's"
    s = r["samplers"]
    diffusion = [measure.sampler_quality(s, n) for n in s["seconds"] if n != "autoregressive"]
    assert not any(report.beyond_noise(a, b, "real_words") for a in diffusion for b in diffusion)
    assert all(far_below(x, measure.sampler_quality(s, "autoregressive"), "real_words") for x in diffusion)
    # Part 11.3: "the cache pays little below 256 steps, and more the more steps": speed-ups grow with the steps
    ups = [measure.speedup(s, f"tweedie {n}", f"tweedie {n} + cache", 1)[0]
           for n in measure.SIZES["gpu"]["sampler_steps"]]
    assert ups == sorted(ups) and ups[-1] > 2 and ups[0] < 1.3
    # Part 11.6: "at equal calls a corrector buys real words and a lower judge NLL where more Tweedie steps buy
    # nothing beyond noise, with unigram entropy within noise; it gains most for the uniform model"
    c = r["correctors"]
    rows = {(x["graph"], x["setting"]): x for x in c["rows"]}
    pairs = measure.equal_calls(c["base_steps"])
    gain = {}
    for g in ("absorbing", "uniform"):
        for tweedie, corrector in pairs:
            a, b = rows[g, tweedie], rows[g, corrector]
            assert far_below(a, b, "real_words") and far_below(b, a, "judge_nll")
            assert not report.beyond_noise(a, b, "unigram_bits")
            gain[g] = gain.get(g, 0) + b["real_words"] - a["real_words"]
        assert not report.beyond_noise(rows[g, pairs[0][0]], rows[g, pairs[1][0]], "real_words")
    assert gain["uniform"] > gain["absorbing"]
    # Part 11.5: "temperature and top-p buy real words and a lower judge NLL with entropy below the data's;
    # confidence order goes furthest, and repeated words multiply"
    k = r["knobs"]["rows"]
    exact = next(x for x in k if not x["knobs"])
    for x in k:
        if "temperature" in x["knobs"] or "top_p" in x["knobs"]:
            assert far_below(exact, x, "real_words") and far_below(x, exact, "judge_nll")
            assert far_below(x, q["validation"], "unigram_bits")
    confidence = next(x for x in k if x["knobs"].get("order") == "confidence")
    assert confidence["real_words"] == max(x["real_words"] for x in k)
    assert far_below(exact, confidence, "repeated_words")
    # Part 14: "correctors ... stay well short of the baseline's"
    assert all(far_below(x, ars, "real_words") for (g, setting), x in rows.items() if "corrector" in setting)
    # Part 14: "at unchanged unigram entropy, correctors move real words furthest (temperature and confidence order
    # move them further by giving up diversity)": every knob that beats the absorbing correctors' largest gain over
    # the exact sampler pays for it in entropy, and temperature and confidence order are among them
    best = max(rows["absorbing", co]["real_words"] - rows["absorbing", ex]["real_words"] for ex, co in pairs)
    further = [x for x in k if x["real_words"] - exact["real_words"] > best]
    assert all(far_below(x, exact, "unigram_bits") for x in further)
    assert {"temperature", "order"} <= {key for x in further for key in x["knobs"]}


def test_the_worded_claims_of_parts_10_and_12_hold_in_the_data(results, report):
    r = results["gpu"]
    b, q = r["bits_per_char"], r["quality"]
    # Part 10 and Part 14: "even there the fills read worse, under both judges, than a continuation blind to the
    # right side"
    for judge in ("ar", "ngram"):
        d, se = report.infill_gap(r["infill"], judge)
        assert d > 2 * se, judge
    # Part 14: "the diffusion models are worse language models than the baseline, in bound and in samples"
    for g in ("absorbing", "uniform"):
        assert b[g]["bpc"] - 2 * b[g]["se"] > b["autoregressive"]["bpc"]
        for row in q["runs"][f"{g}/tweedie"]:
            assert row["real_words"] < q["ar_samples"]["real_words"]
            assert report.beyond_noise(row, q["ar_samples"], "real_words")
    # Part 8: "Part 15's table finds 64 and 128 steps within noise of each other"
    s = r["samplers"]
    q64, q128 = s["quality"]["tweedie 64 + cache"], s["quality"]["tweedie 128 + cache"]
    assert not report.beyond_noise(q64, q128, "real_words")
    # Part 14: "On a CPU the diffusion samplers are also slower per character than a GPT with its key/value cache"
    ar = s["seconds"]["autoregressive"]
    assert "CPU" in s["device"]
    assert all(t[str(bs)] > ar[str(bs)] for n, t in s["seconds"].items() if n != "autoregressive"
               for bs in s["batches"] if t[str(bs)] is not None)


def test_part_7s_word_on_the_position_ablation_is_the_stored_run(nb, monkeypatch):
    "Part 7: the stored ablation is the cpu preset's short run: 750 steps."
    stored = json.loads((ROOT / "assets" / "cpu-position-ablation.json").read_text())
    steps = notebook_parameters(monkeypatch, nb)["PRESETS"]["cpu"]["ablation_iters"]
    assert steps == 750 and all(run["step"][-1] == steps for run in stored.values())


def test_part_12s_word_on_dropout_is_the_presets(nb, monkeypatch):
    "Part 14: each model with its own recipe's dropout: 0.1 for diffusion, 0.2 for the GPT."
    assert notebook_parameters(monkeypatch, nb)["PRESETS"]["gpu"]["dropout"] == {"absorbing": 0.1, "uniform": 0.1,
                                                                                  "autoregressive": 0.2}


# ---- Part 12's sweep: complete, with its errors, where and when, and worded from the numbers --------------------

def test_the_block_sweep_is_complete_with_its_errors_devices_and_dates(results, report):
    from block_sweep import MODELS
    b = results["blocks"]
    assert set(b["rows"]) == set(MODELS) and b["measured_on"] and re.match(r"\d{4}-\d{2}-\d{2}", b["date"])
    sweep = {k: r for k, r in b["rows"].items() if k not in report.REMEDIES}
    lens = sorted(r["block_len"] for r in sweep.values() if r["graph"] == "absorbing")
    assert lens == [1, 4, 16, 64, 256]
    assert b["rows"]["absorbing-4-clipped"]["clip"] == b["clip_search"]["absorbing-4"]["chosen"]
    for name, r in b["rows"].items():
        assert r["train"]["device"] and r["train"]["date"] and r["train"]["steps"] == 2000, name
        assert r["train"]["preset"] == "cpu" and r["train"]["batch_size"] == 16
        exact = r["graph"] == "autoregressive" or (r["graph"] == "absorbing" and r["block_len"] == 1)   # mask sets
        assert 0.5 < r["bpc"] < 8 and (r["bpc_se"] > 0) == (not exact), name
        q = r["quality"]
        assert q["samples"] == b["sweep"]["samples"] and all(q[k + "_se"] >= 0 for k in ("real_words", "judge_nll"))
        if name in report.REMEDIES:                                  # bound and samples only: not timed
            continue
        assert set(r["seconds"]) == {f"{n}/{k}" for n in (256, 2048) for k in (1, 8)}
        assert all(s > 0 for s in r["seconds"].values()) and 0 <= r["long_real_words"] <= 1
    params = {r["train"]["params"] for r in b["rows"].values() if r["graph"] == "absorbing"}
    assert len(params) == 1                                          # one size: the block length adds no weights


def test_the_block_findings_are_worded_from_the_numbers(results, report):
    import copy
    b = results["blocks"]
    text = report.block_findings_markdown(b)
    one = b["rows"]["absorbing-1"]
    assert report.pm_se(one["bpc"], one["bpc_se"], 3) in text
    moved = copy.deepcopy(b)
    moved["rows"]["absorbing-1"]["bpc"] = b["rows"]["autoregressive"]["bpc"] + 0.5
    moved["rows"]["absorbing-1"]["bpc_se"] = 0.001
    moved_text = report.block_findings_markdown(moved)
    assert report.pm_se(one["bpc"], one["bpc_se"], 3) not in moved_text
    said = moved_text.split("L′ = 1 differs from it by")[1].split(", and at")[0]
    assert said.startswith(" +0.500 ± ") and "within noise" not in said
    del moved["rows"]["uniform-16"]
    assert "Uniform noise in blocks" in text and "Uniform noise in blocks" not in report.block_findings_markdown(moved)


def test_the_conclusions_words_on_block_diffusion_hold_in_the_data(results, report):
    absorbing, ar, _ = report.block_rows(results["blocks"])                  # the sweep, without the remedies
    a = {r["block_len"]: r for r in absorbing}
    gap = a[256]["bpc"] - ar["bpc"]
    beyond = lambda x, y: abs(x["bpc"] - y["bpc"]) > 2 * math.hypot(x["bpc_se"], y["bpc_se"])
    # Part 14: "climbs from under half of the way between the GPT and diffusion at one character per block"
    assert 0 < a[1]["bpc"] - ar["bpc"] < gap / 2 and beyond(a[1], ar)
    # "to all of it by blocks of 16; longer blocks do no worse, and blocks of 64 a little better"
    assert beyond(a[4], a[16]) and a[4]["bpc"] < a[16]["bpc"] and a[16]["bpc"] - ar["bpc"] >= gap - 2 * a[16]["bpc_se"]
    assert not any(beyond(a[16], a[L]) and a[L]["bpc"] > a[16]["bpc"] for L in (64, 256))
    assert beyond(a[16], a[64]) and 0 < a[16]["bpc"] - a[64]["bpc"] < 0.1 and not beyond(a[64], a[256])
    # "it trails the GPT, which is faster and writes more real words at every block length"
    for r in a.values():
        assert r["seconds"]["2048/8"] > ar["seconds"]["2048/8"] and r["seconds"]["2048/1"] > ar["seconds"]["2048/1"]
        assert report.beyond_noise(r["quality"], ar["quality"], "real_words")
        assert r["quality"]["real_words"] < ar["quality"]["real_words"]
    # "at this budget the smallest blocks write best"
    assert all(report.beyond_noise(a[1]["quality"], r["quality"], "real_words") and
               a[1]["quality"]["real_words"] > r["quality"]["real_words"] for L, r in a.items() if L > 1)


def test_part_12s_words_on_the_estimators_noise_hold_in_the_data(results, report):
    """Part 12: "most of the gap to the GPT was the estimator"; "its gradient on a fixed batch no longer moves";
    "What remains is smaller than what was closed"; the error bars hold at L' = 1 and not at L' = 4, where "one
    evaluation in ten met a rare draw"."""
    b = results["blocks"]
    text = next("".join(c["source"]) for c in CELLS if "**What the measurements say.**" in "".join(c["source"]))
    eb, rows, ar = b["error_bars"], b["rows"], b["rows"]["autoregressive"]
    (vm, sm), (v1, s1) = report.masked_pair(b)                 # exact: at L' = 1 mask sets draw nothing
    assert sm == s1 == 0 and b["rows"]["absorbing-1-masked"]["bpc_se"] == 0
    gap, closed, se = v1 - ar["bpc"], v1 - vm, math.hypot(s1, sm)
    assert "most of the gap to the GPT was the estimator" in text and closed > gap / 2 and closed > 2 * se
    assert "What remains is smaller than what was closed" in text and 0 < vm - ar["bpc"] < closed
    var = {k: rows[k]["variance"]["grad_fixed_batch"] for k in ("absorbing-1", "absorbing-1-masked")}
    assert "no longer moves from draw to draw" in text
    assert var["absorbing-1-masked"]["noise"] < var["absorbing-1"]["noise"] / 100
    # "The clipped schedule helps at $L' = 4$ too: it cuts the training loss's variance severalfold, and the model
    # trained on it has a lower bound, still measured with $U[0, 1]$"
    assert "The clipped schedule helps at $L' = 4$ too" in text
    c, four, search = rows["absorbing-4-clipped"], rows["absorbing-4"], b["clip_search"]["absorbing-4"]
    var = {tuple(x["clip"]): x["variance"] for x in search["grid"]}
    assert var[tuple(search["chosen"])] < var[(0.0, 1.0)] / 3
    assert c["bpc"] < four["bpc"] - 2 * math.hypot(c["bpc_se"], four["bpc_se"])
    ratio = lambda e: e["spread"] / e["mean_se"]
    lo, hi = report.sd_ratio_interval(10)
    assert "Drawing $t$, the error bars hold at $L' = 1$" in text and lo <= ratio(eb["absorbing-1"]["times"]) <= hi
    e4 = eb["absorbing-4"]["times"]
    assert "At $L' = 4$ they do not" in text and ratio(e4) > hi and e4["evaluations"] == 10
    # "Most evaluations fall below their mean, and now and then one meets a rare draw ... which moves the whole
    # estimate and its own error"
    assert "Most evaluations fall below their mean" in text and sum(v < e4["mean"] for v in e4["values"]) > 5
    ses = sorted(e4["ses"])
    assert "now and then one meets a rare draw" in text and ses[-1] > 3 * ses[-2]
    # "From mask sets the tail is gone. At L' = 4 ten evaluations spread as their errors say, and those errors are
    # several times smaller; at L' = 1 nothing is drawn at all"
    m4, m1 = eb["absorbing-4"]["bound"], eb["absorbing-1"]["bound"]
    assert "ten evaluations spread as their errors say" in text and lo <= ratio(m4) <= hi and m4["evaluations"] == 10
    assert "several times smaller" in text and e4["mean_se"] > 3 * m4["mean_se"]
    assert "nothing is drawn at all" in text and m1["mean_se"] == 0 and m1["spread"] < 1e-9
    assert abs(m4["mean"] - e4["mean"]) < 2 * math.hypot(e4["spread"], m4["spread"]) / 10 ** 0.5   # one bound
    # "The gain shrinks as blocks grow: over a whole window, how many characters are masked is most of the spread,
    # with either estimator"
    absorbing, _, _ = report.block_rows(b)
    v = [r["variance"] for r in absorbing]
    ms = [x["bound_sd_mask_sets"] for x in v]
    assert "The gain shrinks as blocks grow" in text and all(a < c for a, c in zip(ms, ms[1:], strict=False))
    assert ms[-1] > 0.8 * v[-1]["bound_sd"] and ms[1] < v[1]["bound_sd"] / 2


def test_part_13s_words_on_scarce_data_hold_in_the_data(results, report):
    """Part 13, "What the runs say", against the runs: each sentence's claim, from two standard errors."""
    from data_sweep import MODELS
    e = results["epochs"]
    assert set(e["rows"]) == set(MODELS) - {"autoregressive-all-d0.2"} or set(e["rows"]) == set(MODELS)
    text = next("".join(c["source"]) for c in CELLS if "**What the runs say.**" in "".join(c["source"]))
    groups = report.epoch_groups(e)
    assert len(groups) == 3
    diff = lambda g: (g["diffusion"]["best_bpc"] - g["gpt"]["best_bpc"],
                      math.hypot(g["diffusion"]["best_bpc_se"], g["gpt"]["best_bpc_se"]))
    gaps = [diff(g) for g in groups.values()]                              # by U, ascending
    # "The fewer unique characters, the smaller the GPT's lead, but within this budget diffusion does not overtake it"
    assert "the smaller the GPT's lead, but within this budget diffusion does not overtake it" in text
    assert all(a[0] < b[0] for a, b in zip(gaps, gaps[1:], strict=False)) and all(d > 2 * se for d, se in gaps)
    # "The GPT's best comes after tens of epochs, and then its validation loss climbs; dropout 0.2 delays the climb
    # without lowering the best"
    scarce = [g for u, g in groups.items() if u < max(groups)]
    for g in scarce:
        gpt = {r["dropout"]: r for r in g["gpts"]}
        assert 10 <= gpt[0.0]["best_epoch"] < 100 and gpt[0.0]["val_bpc"][-1] > min(gpt[0.0]["val_bpc"]) + 0.1
        assert gpt[0.2]["best_step"] > gpt[0.0]["best_step"] and gpt[0.2]["best_bpc"] > gpt[0.0]["best_bpc"]
    # "Diffusion's best comes at the end of its budget, after hundreds of epochs on the smallest set, where its curve
    # is nearly flat"; "There the two end a few hundredths of a bit apart: beyond two standard errors"
    for g in scarce:
        d = g["diffusion"]
        assert d["best_step"] >= 0.9 * d["train"]["steps"] and d["train"]["steps"] == e["steps"]
    small = groups[min(groups)]["diffusion"]
    assert small["best_epoch"] >= 200 and abs(small["val_bpc"][-1] - small["val_bpc"][-5]) < 0.02
    assert "a few hundredths of a bit apart: beyond two standard errors" in text and 0.01 <= gaps[0][0] < 0.1


def test_part_13s_takeaways_hold_in_the_data(results, report, measure):
    "Each takeaway of Part 14, against the numbers it stands on."
    r, blocks = results["gpu"], results["blocks"]
    b, q, ars = r["bits_per_char"], r["quality"], r["quality"]["ar_samples"]
    far_below = lambda x, ref, key: x[key] < ref[key] and report.beyond_noise(x, ref, key)
    takeaways = next("".join(c["source"]) for c in CELLS if "".join(c["source"]).startswith("### Takeaways"))
    said = lambda *words: all(w in takeaways for w in words)
    # "The GPT is the better language model ... its samples hold more real words than diffusion's at every number of
    # steps, with or without a corrector"
    assert said("better language model", "every number of steps, with or without a corrector")
    for g in ("absorbing", "uniform"):
        assert b[g]["bpc"] - 2 * b[g]["se"] > b["autoregressive"]["bpc"]
    diffusion_rows = [x for rows in q["runs"].values() for x in rows] + r["correctors"]["rows"]
    assert diffusion_rows and all(far_below(x, ars, "real_words") for x in diffusion_rows)
    # "At this budget its fills still cost more, under both judges, than a GPT's continuation that ignores the right
    # end"
    assert said("under both judges", "ignores the right end")
    assert all(report.infill_gap(r["infill"], judge)[0] > 2 * report.infill_gap(r["infill"], judge)[1]
               for judge in ("ar", "ngram"))
    # "At equal network calls, a corrector buys more real words than extra Tweedie steps do"
    assert said("equal network calls", "corrector buys more real words")
    rows = {(x["graph"], x["setting"]): x for x in r["correctors"]["rows"]}
    pairs = measure.equal_calls(r["correctors"]["base_steps"])
    for g in ("absorbing", "uniform"):
        for tweedie, corrector in pairs:
            assert far_below(rows[g, tweedie], rows[g, corrector], "real_words")
    # "the bound rises from one character per block to blocks of 16; longer blocks do no worse, and blocks of 64 a
    # little better. Even one character per block trails a GPT of the same size"
    assert said("rises from one character per block to blocks of 16; longer blocks do no worse, and blocks of 64 a "
                "little better", "trails a GPT of the same size")
    absorbing, ar, _ = report.block_rows(blocks)
    by = {x["block_len"]: x for x in absorbing}
    assert report.bound_change(by[1], by[4])[1] and report.bound_change(by[4], by[16])[1]
    assert by[1]["bpc"] < by[4]["bpc"] < by[16]["bpc"]
    assert not any(report.bound_change(by[16], by[L])[1] and by[L]["bpc"] > by[16]["bpc"] for L in (64, 256))
    assert report.bound_change(by[16], by[64])[1] and 0 < by[16]["bpc"] - by[64]["bpc"] < 0.1
    assert report.bound_change(ar, by[1])[1] and by[1]["bpc"] > ar["bpc"]
    # "Trained with every character masked, block diffusion at one character per block comes most of the way to a GPT
    # of its size"
    assert said("comes most of the way to a GPT of its size")
    (vm, _), (v1, _) = report.masked_pair(blocks)
    assert v1 - vm > (v1 - ar["bpc"]) / 2
    # "The fewer unique characters, the smaller the GPT's lead. On the smallest set, seen hundreds of times,
    # diffusion's bound ends a few hundredths of a bit above the GPT's best NLL"
    assert said("The fewer unique characters, the smaller the GPT's lead", "ends a few hundredths of a bit above")
    groups = report.epoch_groups(results["epochs"])
    small = groups[min(groups)]
    d = small["diffusion"]
    assert d["best_epoch"] >= 100 and 0.01 <= d["best_bpc"] - small["gpt"]["best_bpc"] < 0.1
    # "A GPT with its key/value cache writes a window in less time than any diffusion sampler, at batch 1 and at
    # batch 8"
    assert said("at batch 1 and at batch 8")
    s = r["samplers"]
    assert s["batches"] == [1, 8] and "CPU" in s["device"]
    assert all(t[str(bs)] > s["seconds"]["autoregressive"][str(bs)] for n, t in s["seconds"].items()
               if n != "autoregressive" for bs in s["batches"] if t[str(bs)] is not None)


def test_part_9s_words_on_the_training_curve_hold_in_the_data(results, report):
    """Part 9: "their real words over the last thousand steps move within noise"; "for the absorbing model those 16
    and Part 9's 64 differ by more than two standard errors"; the samples drawn while training are 16 per point."""
    r = results["gpu"]
    text = next("".join(c["source"]) for c in CELLS if "The autoregressive model peaks early" in "".join(c["source"]))
    assert "move within noise" in text and "16 per point, at 128 Tweedie steps" in text
    assert "For the absorbing model those 16 and Part 9's 64 differ by more than two standard errors" in text
    for g in ("absorbing", "uniform"):
        a, b = [p for p in r["training_curve"][g] if "real_words" in p][-2:]
        assert b["step"] - a["step"] == 1000 and b["samples"] == 16 and r["best_steps"][g] == b["step"]
        assert not report.beyond_noise(a, b, "real_words")
        part9 = next(x for x in r["quality"]["runs"][f"{g}/tweedie"] if x["steps"] == 128)
        assert report.beyond_noise(b, part9, "real_words") == (g == "absorbing")
    assert len(report.late_training_lines(r)) == 2


def test_the_number_on_the_bregman_picture_is_the_bar_it_draws(nb, figures):
    "Part 5's figure: the red bar runs from the tangent at s up to K at r, and its length is the term and its label."
    import matplotlib.pyplot as plt
    fig = figures.plot_score_entropy(nb.score_divergence)
    ax = fig.axes[0]
    (segment,) = [seg for coll in ax.collections for seg in coll.get_segments()]       # the one bar
    (x0, y0), (x1, y1) = segment
    s, r = torch.tensor(fig.bregman["s"], dtype=torch.float64), torch.tensor(fig.bregman["r"], dtype=torch.float64)
    K = lambda a: a * (a.log() - 1)
    assert x0 == x1 == r.item()                                                          # drawn at the true ratio
    assert abs(y0 - (K(s) + s.log() * (r - s)).item()) < 1e-12 and abs(y1 - K(r).item()) < 1e-12
    term = nb.score_divergence(s.log(), r.log()).item()
    assert abs((y1 - y0) - term) < 1e-12
    label = next(t.get_text() for t in ax.get_legend().get_texts() if "gap" in t.get_text())
    assert label.endswith(f"{term:.2f}")
    plt.close(fig)
