"""The prepared GPU run (scripts/gpu_run.py), rehearsed end to end on the CPU with tiny models: every stage
runs, and what it writes keeps to 8 files of 16 MiB and loads. The rehearsal sizes its training by step counts
(--steps), not by the clock, and its budget is only a generous limit per stage: it passes on a busy machine too."""
import json
import math
import os
import subprocess
import sys
import tarfile

from conftest import ROOT


def run(*args, timeout=120):
    r = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))   # (a thread each: steady beside other work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def test_the_gpu_run_rehearsed_on_the_cpu(tmp_path, nb):
    for graph in ("absorbing", "autoregressive"):        # tiny stand-ins for the shipped models
        run(ROOT / "scripts" / "train.py", "--preset", "smoke", "--graph", graph, "--out", tmp_path / "start",
            "--max-iters", "4", "--eval-interval", "4", "--no-compile")
    budget = 900                                  # seconds: a limit per stage, not a size (the steps are)
    run(ROOT / "scripts" / "gpu_run.py", "--out", tmp_path / "out", "--tiny", "--budget", budget, "--skip", "nbval",
            "--init-from", tmp_path / "start" / "absorbing.pt", "--ar", tmp_path / "start" / "autoregressive.pt",
            "--batches", "4,8", "--steps", 4, timeout=budget + 60)
    files = sorted(os.listdir(tmp_path / "out"))
    assert len(files) <= 8 and all(os.path.getsize(tmp_path / "out" / f) <= 16 * 2 ** 20 for f in files)
    assert files == ["absorbing.pt.part0", "report.tar.gz"]
    with tarfile.open(tmp_path / "out" / "report.tar.gz") as tar:
        tar.extractall(tmp_path / "report", filter="data")
    rep = lambda name: json.loads((tmp_path / "report" / f"{name}.json").read_text())
    assert {k: v["status"] for k, v in rep("report")["stages"].items()} == dict(
        env="ok", nbval="skipped", fp16="ok", bench="ok", sweep="ok", train="ok", samplers="ok")
    assert rep("fp16")["finite"]
    bench = next(iter(rep("throughput").values()))
    assert set(bench["models"]) == {"absorbing", "uniform", "autoregressive", "nanogpt"}
    # a number for each model (with 1 and 2 steps the rehearsal's times are noise: their sign is not checked)
    assert all(math.isfinite(m["chars_per_s"]) and m["params"] > 0 for m in bench["models"].values())
    sweep = rep("sweep")["runs"]
    assert [(s["batch_size"], s["start"]) for s in sweep] == [(4, "warm"), (8, "warm"), (8, "scratch")]
    assert all(s["val_bpc"] > 0 and s["steps"] == 4 for s in sweep)
    train = rep("train")
    best = min(sweep, key=lambda s: s["val_bpc"])
    assert train["metrics"]["batch_size"] == best["batch_size"]
    assert train["metrics"]["init_from"].endswith("sweep-best.pt")
    assert len(train["samples"]["tweedie/128"]) == len(train["samples"]["first hitting"]) > 0
    assert set(rep("samplers")["seconds"]) >= {"first hitting", "autoregressive"}
    sys.path.insert(0, str(ROOT / "scripts"))
    import parts
    from notebook import load_data
    parts.join(str(tmp_path / "out" / "absorbing.pt"))
    _, vocab, _, _ = load_data(nb)
    model, blob = nb.load_checkpoint(str(tmp_path / "out" / "absorbing.pt"), None, vocab)
    assert blob["metrics"]["history"]["last_step"] == train["metrics"]["history"]["last_step"]

