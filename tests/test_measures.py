"""The functions behind every number in the findings, against hand counts; and every wording of the findings,
on synthetic entries, so that a difference is called one only beyond two standard errors."""
import copy
import math
import os

import pytest
import torch

ALPHABET = "ab cd\nefgh'"       # 11 characters: ids 0..10 decode to these


class Vocab:
    "A tiny vocabulary: ids 0..10 are ALPHABET, id 11 is never used."
    def decode(self, ids): return "".join(ALPHABET[i] for i in ids)
    def encode(self, s): return [ALPHABET.index(c) for c in s]
    def __len__(self): return 12


def tiny_judge(nb, block_size=16):
    torch.manual_seed(0)
    cfg = nb.build_config(dict(block_size=block_size, n_layer=1, n_head=2, n_embd=32, cond_dim=8), 12, "autoregressive")
    return nb.DiffusionGPT(cfg).eval()


# ---- the measures, by hand -------------------------------------------------------------------------------------

def test_words_of_counts_words_as_a_reader_does(nb):
    assert nb.words_of("ROMEO: But, soft! what light") == ["romeo", "but", "soft", "what", "light"]
    assert nb.words_of("'Tis o'er the 'end' 42 x_y café") == ["tis", "o'er", "the", "end", "x", "y", "café"]
    assert nb.words_of("'' 3 -- !") == []                 # apostrophes alone, digits and punctuation are no words


def test_unigram_entropy_by_hand(nb):
    x = torch.tensor([[0, 0, 1]])                         # frequencies 2/3, 1/3
    hand = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert nb.unigram_entropy(x, 5) == pytest.approx(hand, abs=1e-12)
    assert nb.unigram_entropy(torch.arange(8)[None], 8) == pytest.approx(3.0)           # uniform over 8: 3 bits
    assert nb.unigram_entropy(torch.zeros(2, 5, dtype=torch.long), 4) == 0


def test_judge_nll_is_the_sum_of_next_character_losses(nb):
    judge, V = tiny_judge(nb), Vocab()
    x = torch.tensor([V.encode("ab cd\nef"), V.encode("hh'a bcd")])
    with torch.no_grad():
        hand = 0.0
        for row in x:                                     # one position at a time, from BOS, by the definition
            for i in range(len(row)):
                ctx = torch.cat([torch.tensor([judge.cfg.n_tokens]), row[:i]])[None]
                hand -= torch.log_softmax(judge(ctx)[0, -1].double(), -1)[row[i]].item()
    assert nb.judge_nll(judge, x) == pytest.approx(hand / x.numel(), rel=1e-5)


def test_sample_quality_against_hand_counts(nb):
    judge, V = tiny_judge(nb, 24), Vocab()
    texts = ["ab ab cd hh cd\nef", "cd ef gh ab ab ab "]   # 17 and 18 characters: pad the first to 18
    texts[0] += " "
    x = torch.tensor([V.encode(t) for t in texts])
    lexicon = {"ab", "cd"}
    q = nb.sample_quality(x, V, judge, lexicon)
    # words: [ab ab cd hh cd ef] and [cd ef gh ab ab ab]: 12 words; real: ab ab cd cd | cd ab ab ab = 8
    assert q["real_words"] == pytest.approx(8 / 12)
    # adjacent pairs: 5 + 5 = 10; repeats: (ab ab) | (ab ab), (ab ab) = 3
    assert q["repeated_words"] == pytest.approx(3 / 10)
    assert q["unigram_bits"] == pytest.approx(nb.unigram_entropy(x, len(V)))
    assert q["judge_nll"] == pytest.approx(nb.judge_nll(judge, x), rel=1e-6)
    assert q["samples"] == 2 and q["example"] == texts[0]


def test_standard_errors_are_zero_for_identical_samples_and_shrink_with_more(nb):
    judge, V = tiny_judge(nb, 24), Vocab()
    same = torch.tensor([V.encode("ab cd ab ef gh cd\n")] * 8)
    q = nb.sample_quality(same, V, judge, {"ab"})
    assert all(q[k + "_se"] == pytest.approx(0, abs=1e-9) for k in ("real_words", "repeated_words", "unigram_bits",
                                                                     "judge_nll"))
    g = torch.Generator().manual_seed(0)
    draw = lambda n: torch.randint(0, 11, (n, 24), generator=g)
    small, big = (nb.sample_quality(draw(n), V, judge, {"a", "b", "c", "d"}) for n in (16, 256))
    for k in ("real_words", "unigram_bits", "judge_nll"):
        assert 0 < big[k + "_se"] < small[k + "_se"]
    for k in ("real_words", "judge_nll"):            # (entropy near its maximum moves at second order: faster)
        assert big[k + "_se"] == pytest.approx(small[k + "_se"] / 4, rel=0.5)          # about 1/sqrt(n)


def test_bootstrap_agrees_with_the_ratio_estimators_standard_error(nb):
    "For a pooled share Σa/Σb the bootstrap's standard error matches the delta method's."
    g = torch.Generator().manual_seed(1)
    words = torch.randint(20, 40, (200,), generator=g).double()
    real = torch.binomial(words, torch.full((200,), 0.6, dtype=torch.float64), generator=g)
    k = {"real": real, "words": words, "nats": words, "chars": words, "repeats": real * 0, "pairs": words,
         "hist": torch.ones(200, 3, dtype=torch.float64)}
    R = real.sum() / words.sum()
    delta = ((real - R * words).pow(2).sum() * 200 / 199).sqrt() / words.sum()
    pick = torch.randint(200, (4000, 200), generator=torch.Generator().manual_seed(2))
    boot = nb.measures({m: v[pick].sum(1) for m, v in k.items()})["real_words"].std()
    assert boot.item() == pytest.approx(delta.item(), rel=0.08)


def test_char_ngram_is_a_normalised_law_that_knows_its_text(measure):
    data = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 3] * 20)
    m = measure.CharNgram(data, 5, order=3)
    for ctx in ([0, 1], [2, 0], [4, 4], []):                                   # seen, seen, never seen, no context
        x = torch.tensor([ctx + [c] for c in range(5)])
        p = torch.exp(-m.char_nll(x)[:, -1])
        assert p.sum().item() == pytest.approx(1.0, abs=1e-12)
    after = torch.exp(-m.char_nll(torch.tensor([[0, 1, c] for c in range(5)]))[:, -1])
    assert after[2] > after[3] > after[4] > 0               # after 0 1 the text has 2 (40 times), 3 (20), never 4
    # Witten-Bell by hand at order 1 (a context of one character): after 1 the text has 2 (40 times) and 3 (20)
    m1 = measure.CharNgram(data, 5, order=2)
    c = torch.bincount(data, minlength=5).double()
    p0 = (c + 4 * (1 / 5)) / (len(data) + 4)                                   # 4 types seen, uniform below them
    hand = (40 + 2 * p0[2]) / (60 + 2)
    assert torch.exp(-m1.char_nll(torch.tensor([[1, 2]]))[0, 1]).item() == pytest.approx(hand.item(), rel=1e-12)


# ---- formatting and noise ----------------------------------------------------------------------------------------

def row(real=0.6, se=0.01, bits=4.8, bits_se=0.02, judge=2.5, judge_se=0.03, rep=0.003, rep_se=0.001, n=64):
    return dict(real_words=real, real_words_se=se, unigram_bits=bits, unigram_bits_se=bits_se, judge_nll=judge,
                judge_nll_se=judge_se, repeated_words=rep, repeated_words_se=rep_se, samples=n)


def test_change_says_noise_under_two_standard_errors(report):
    a, b = row(real=0.60, se=0.01), row(real=0.62, se=0.01)        # +2.0 ± 1.41 points: noise
    assert report.change(a, b, "real_words") == "+2.0 ± 1.4 points, within noise"
    c = row(real=0.64, se=0.01)                                    # +4.0 ± 1.41: beyond
    assert report.change(a, c, "real_words") == "+4.0 ± 1.4 points"
    assert report.beyond_noise(a, c, "real_words") and not report.beyond_noise(a, b, "real_words")
    assert report.pm(a, "judge_nll") == "2.500 ± 0.030" and report.pm(a, "unigram_bits") == "4.80 ± 0.02 bits"
    assert report.verdict(row(bits=4.84), {"x": row(bits=4.83), "y": row(bits=4.70), "z": row(bits=4.95)},
                           "unigram_bits") == "within noise of real text: x; below it: y; above it: z"


# ---- the findings, branch by branch, on synthetic entries --------------------------------------------------------

def entry():
    S = 64
    settings = ["Tweedie 64", "Tweedie 32 + corrector 32", "Tweedie 256", "Tweedie 64 + corrector 192, η=½"]
    calls = [65, 66, 257, 258]
    judged = lambda d, se: {"extra_nats_per_hole_char": d, "se": se}
    return {
        "bits_per_char": {g: {"bpc": b, "se": se, "windows": 435, "passes": 16} for g, b, se in
                          (("absorbing", 2.5, 0.015), ("uniform", 2.7, 0.05), ("autoregressive", 2.08, 0.0))},
        "training_curve": {"autoregressive": [{"step": 500, "val_bpc": 2.2}, {"step": 1000, "val_bpc": 2.07},
                                              {"step": 4000, "val_bpc": 2.3}]},
        "best_steps": {"absorbing": 4000, "uniform": 4000, "autoregressive": 1000}, "train_steps": 4000,
        "quality": {"samples": 64, "steps": [64, 128], "drawn_on": "GPU",
                    "runs": {"absorbing/tweedie": [dict(row(0.6), steps=128)],
                             "uniform/tweedie": [dict(row(0.58, bits=4.6), steps=128)]},
                    "ar_samples": row(0.95, 0.004, judge=1.09, judge_se=0.013),
                    "validation": row(0.925, 0.006, bits=4.84, judge=1.5, judge_se=0.04)},
        "samplers": {"batches": [1, 8], "repeats": 3, "device": "CPU", "length": 256,
                     "seconds": {"tweedie 64": {"1": 3.0, "8": 20.0}, "tweedie 64 + cache": {"1": 2.9, "8": 19.0},
                                 "first hitting": {"1": 12.0, "8": 90.0}, "autoregressive": {"1": 1.5, "8": 2.0}},
                     "runs": {"tweedie 64": {"1": [2.8, 3.0, 3.2], "8": [19, 20, 21]},
                              "tweedie 64 + cache": {"1": [2.85, 2.9, 3.1], "8": [18, 19, 20]},
                              "first hitting": {"1": [11.5, 12, 12.5], "8": [88, 90, 91]},
                              "autoregressive": {"1": [1.4, 1.5, 1.6], "8": [1.9, 2.0, 2.1]}},
                     "quality": {"tweedie 64 + cache": row(0.65, 0.015), "first hitting": row(0.67, 0.015),
                                 "autoregressive": row(0.95, 0.005, n=24)}},
        "infill": {"passages": 48, "hole": 32, "ngram_order": 5, "runs": {
            "absorbing/tweedie": {"ar": judged(1.27, 0.1), "ngram": judged(0.9, 0.1)},
            "autoregressive/prefix": {"ar": judged(0.09, 0.08), "ngram": judged(0.3, 0.1)}}},
        "correctors": {"samples": 32, "length": 256, "base_steps": S, "device": "CPU",
                       "rows": [dict(row(r, 0.01), graph=g, setting=s, calls=c)
                                for g, reals in (("absorbing", (0.66, 0.70, 0.67, 0.75)),
                                                 ("uniform", (0.65, 0.75, 0.67, 0.77)))
                                for s, c, r in zip(settings, calls, reals, strict=True)]}}


def bullet(report, r, name):
    hits = [line for line in report.findings(r) if line.startswith(f"**{name}")]
    assert len(hits) == 1, (name, report.findings(r))
    return hits[0]


def test_findings_bound_and_the_nanogpt_anchor(report):
    text = bullet(report, entry(), "The bound")
    assert "2.500 ± 0.015 bits per character" in text and "1.20×" in text
    assert f"{2.08 * math.log(2):.3f} nats per character" in text and "1.4697" in text and "nanoGPT" in text


def test_findings_training_branches(report):
    assert "Whether longer training closes the gap is not measured" in bullet(report, entry(), "Still improving")
    r = entry()
    r["best_steps"]["absorbing"] = r["best_steps"]["uniform"] = 3000
    assert "3,000" in bullet(report, r, "Training")


def test_findings_samples_say_which_entropies_match_real_text(report):
    text = bullet(report, entry(), "The samples")
    assert "60.0 ± 1.0%" in text and "92.5 ± 0.6%" in text
    assert "within noise of real text: absorbing and autoregressive; below it: uniform" in text


def test_findings_judge_branches(report):
    assert "partial" in bullet(report, entry(), "The judge is partial")
    r = entry()
    r["quality"]["ar_samples"]["judge_nll"] = 1.45                 # 0.05 below real text, 0.042 se: noise
    text = bullet(report, r, "The judge.")
    assert "within noise" in text and not any("partial" in line for line in report.findings(r))


def test_findings_any_order(report):
    text = bullet(report, entry(), "Any order")
    assert "67.0 ± 1.5%" in text and "within noise" in text and "8.0×" in text and "over 3 runs" in text


@pytest.mark.parametrize("ar_fill,ar_cont,ng_fill,ng_cont,expect", [
    (1.27, 0.09, 0.9, 0.3, "Both judges find the blind continuation cheaper"),
    (0.2, 0.9, 0.1, 0.8, "Both judges find the fill cheaper"),
    (0.5, 0.45, 0.5, 0.55, "Under both judges the difference is within noise"),
    (1.27, 0.09, 0.4, 0.45, "The judges disagree (the AR judge finds the continuation cheaper, the n-gram judge no "
                            "difference beyond noise)"),
])
def test_findings_infill_every_verdict(ar_fill, ar_cont, ng_fill, ng_cont, expect, report):
    r = entry()
    runs = r["infill"]["runs"]
    runs["absorbing/tweedie"]["ar"]["extra_nats_per_hole_char"] = ar_fill
    runs["autoregressive/prefix"]["ar"]["extra_nats_per_hole_char"] = ar_cont
    runs["absorbing/tweedie"]["ngram"]["extra_nats_per_hole_char"] = ng_fill
    runs["autoregressive/prefix"]["ngram"]["extra_nats_per_hole_char"] = ng_cont
    text = bullet(report, r, "Infilling")
    assert expect in text and "5-gram" in text
    lines = report.infill_lines(dict(r["infill"], steps=64, original_nats_per_char={"ar": 1.5, "ngram": 1.7}))
    assert lines[-1].startswith(expect) and f"{ar_fill - ar_cont:+.2f} ± 0.13 under the AR judge" in lines[-2]


def test_findings_correctors_every_verdict(report):
    text = bullet(report, entry(), "Correctors")
    assert "spending them on a corrector beats" in text and "stays out of reach" in text
    assert "65 and 66 calls" in text and "within noise" in text           # the uniform Tweedie 4× alone: +2 ± 1.4
    r = entry()
    for x in r["correctors"]["rows"]:
        x["real_words"] = 0.66 + 0.001 * ("corrector" in x["setting"])
    assert "the differences are within noise" in bullet(report, r, "Correctors")
    r = entry()
    r["correctors"]["rows"][1]["real_words"] = 0.665                      # absorbing 1×: +0.5 points, noise
    assert "A corrector wins beyond noise in 3 of 4 pairs" in bullet(report, r, "Correctors")
    r["correctors"]["rows"][1]["unigram_bits"] = 4.5                     # entropy falls beyond noise in one pair
    assert "beyond noise in 1 of 4 pairs" in bullet(report, r, "Correctors")
    r["quality"]["ar_samples"]["real_words"] = 0.76                      # the AR model within reach of one
    assert "out of reach" not in bullet(report, r, "Correctors")


def test_sampler_lines_say_when_a_speed_up_is_within_spread(report):
    r = entry()
    line = report.samplers_lines(r["samplers"])[0]
    assert "1.03× at 64 steps (0.90–1.12, within run-to-run spread)" in line and "8.0× the AR model's time" in line
    r["samplers"]["runs"]["tweedie 64"]["1"] = [5.0, 5.5, 6.0]
    r["samplers"]["seconds"]["tweedie 64"]["1"] = 5.5
    assert "within run-to-run spread" not in report.samplers_lines(r["samplers"])[0]


def test_every_bullet_survives_missing_sections(report):
    r = entry()
    for section in ("samplers", "infill", "correctors", "training_curve", "quality"):
        shorter = copy.deepcopy(r)
        del shorter[section]
        assert len(report.findings(shorter)) < len(report.findings(r))


# ---- measuring anew never writes over the tracked assets -----------------------------------------------------------

def test_recomputing_the_shipped_models_writes_to_a_run_folder(measure, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").mkdir()
    shipped = '{"gpu": {"date": "2026-11-27", "measured_on": "GPU", "preset": "gpu", "infill": {"old": 1}}}'
    (tmp_path / "assets" / "results.json").write_text(shipped)
    R = measure.Results.open(True, "gpu", "assets", "assets", recompute=True, meta={"device": "cpu"})
    assert not R.stored and R.path == os.path.join("runs", "shakespeare-gpu", "results.json")
    R.section("infill", lambda: {"new": 2})
    assert (tmp_path / "assets" / "results.json").read_text() == shipped            # untouched
    assert '"new": 2' in (tmp_path / "runs" / "shakespeare-gpu" / "results.json").read_text()
    read = measure.Results.open(True, "gpu", "assets", "assets", recompute=False, meta={})
    assert read.stored and read.section("infill", lambda: 1 / 0) == {"old": 1}


def test_the_parameters_cell_sends_recomputed_runs_to_runs(nb, monkeypatch):
    import json
    from conftest import ROOT
    params = next("".join(c["source"]) for c in json.loads((ROOT / "annotated_diffusion.ipynb").read_text())["cells"]
                  if "parameters" in c.get("metadata", {}).get("tags", []))
    for env, expect in ((dict(DIFFUSION_EVAL="1"), "runs/shakespeare-cpu"), (dict(DIFFUSION_LOAD="0"),
                        "runs/shakespeare-cpu"), ({}, "runs/shipped")):
        for k in ("DIFFUSION_EVAL", "DIFFUSION_LOAD", "DIFFUSION_DATA"):
            monkeypatch.delenv(k, raising=False)
        monkeypatch.setenv("DIFFUSION_PRESET", "cpu")
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        ns = dict(vars(nb))
        monkeypatch.chdir(ROOT)
        exec(params, ns)
        assert ns["ckpt_dir"] == expect, env
