"""scripts/train.py: DDP under torchrun (gloo on the CPU) trains exactly as one process with the whole batch,
only rank 0 writes, a run cut off by a killed rank resumes, and a run continues from a checkpoint's weights
within a wall-clock budget. Each case runs the real script in fresh processes, as a reader would."""
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

SCRIPT = str(ROOT / "scripts" / "train.py")
SMOKE = ["--preset", "smoke", "--graph", "absorbing", "--max-iters", "8", "--eval-interval", "4", "--no-compile",
         "--resume-every", "0"]


# scripts/train.py, with the process of rank 1 killed at the start of step 5 (the fault is injected from here:
# the notebook's lr_at, which train_at_scale looks up at every step, exits the process instead)
KILL_RANK_1 = """import os, sys
sys.path.insert(0, {scripts!r})
import notebook  # noqa: F401
import train

real_load_notebook = train.load_notebook

def load_notebook(*args, **kwargs):
    nb = real_load_notebook(*args, **kwargs)
    if int(os.environ["RANK"]) == 1:
        lr_at = nb.lr_at
        nb.lr_at = lambda it, tc: os._exit(3) if it == 5 else lr_at(it, tc)
    return nb

train.load_notebook = load_notebook
train.main()
"""


def train(out, *args, nproc=1, check=True, script=SCRIPT):
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"] if nproc > 1 else []
    r = subprocess.run([sys.executable, *launcher, str(script), "--out", str(out), *SMOKE, *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    if check:
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


def state(out):
    return torch.load(out / "absorbing.state.pt", map_location="cpu", weights_only=True)   # plain types only


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {"ddp": (base / "ddp", train(base / "ddp", "--batch-size", "4", nproc=2)),
            "one": (base / "one", train(base / "one", "--batch-size", "8"))}


def test_two_ranks_of_batch_b_train_as_one_process_of_batch_2b(runs):
    a, b = state(runs["ddp"][0]), state(runs["one"][0])
    assert a["it"] == b["it"] == 8
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6, rtol=1e-5), k
    ha, hb = a["history"], b["history"]
    assert ha["step"] == hb["step"] == list(range(1, 9))
    assert ha["val_bpc"] == pytest.approx(hb["val_bpc"], rel=1e-5)


def test_only_rank_0_writes_and_the_notebook_loads_what_it_wrote(runs, nb):
    out, r = runs["ddp"]
    assert sorted(p.name for p in out.iterdir()) == ["absorbing.json", "absorbing.pt", "absorbing.state.pt"]
    assert r.stdout.count("best validation bound") == 1
    assert r.stdout.count("graph: absorbing   device:") == 1          # the parameters cell prints on rank 0 only
    from notebook import load_data
    _, vocab, _, val = load_data(nb)
    model, blob = nb.load_checkpoint(str(out / "absorbing.pt"), None, vocab)
    assert blob["metrics"]["processes"] == 2 and blob["metrics"]["batch_size"] == 8
    assert torch.isfinite(nb.model_nll(model, val[None, :256])).all()


def test_a_run_cut_off_by_a_killed_rank_resumes(runs, tmp_path):
    wrapper = tmp_path / "kill_rank_1.py"
    wrapper.write_text(KILL_RANK_1.format(scripts=str(ROOT / "scripts")))
    r = train(tmp_path, "--batch-size", "4", nproc=2, check=False, script=wrapper)
    assert r.returncode != 0
    assert state(tmp_path)["it"] == 5                       # the last state written before rank 1 died
    r = train(tmp_path, "--batch-size", "4", nproc=2)       # the same command again
    assert "resumed" in r.stdout and "at step 5" in r.stdout
    a, b = state(tmp_path), state(runs["ddp"][0])
    assert a["history"]["step"] == list(range(1, 9))
    for k in a["model"]:                                    # (no dropout in the smoke preset: the same run)
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-6), k


def test_a_budgeted_run_continues_from_a_checkpoints_weights(runs, tmp_path, nb):
    first = runs["one"][0] / "absorbing.pt"
    r = train(tmp_path, "--batch-size", "8", "--budget", "6", "--init-from", str(first), "--eval-interval", "2")
    assert f"warm start from {first}" in r.stdout
    plan = json.loads((tmp_path / "absorbing.plan.json").read_text())
    metrics = json.loads((tmp_path / "absorbing.json").read_text())
    assert plan["max_iters"] == metrics["max_iters"] >= 2 and metrics["init_from"] == str(first)
    assert metrics["train_seconds"] < 6 + 5                  # the budget, and one step or evaluation past it
    # the first step starts from the checkpoint's weights, not from a fresh initialisation
    assert metrics["history"]["train_loss"][0] < json.loads((runs["one"][0] / "absorbing.json").read_text())[
        "history"]["train_loss"][0] - 0.05
    bad = train(tmp_path / "bad", "--graph", "uniform", "--init-from", str(first), check=False)
    assert bad.returncode != 0 and "cannot start from" in bad.stderr and "another config" in bad.stderr


def test_parts_split_and_join_round_trip(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    import parts
    blob = os.urandom(5000)
    (tmp_path / "f.pt").write_bytes(blob)
    names = parts.split(str(tmp_path / "f.pt"), mib=2000 / 2 ** 20, remove=True)
    assert len(names) == 3 and not (tmp_path / "f.pt").exists()
    parts.join(str(tmp_path / "f.pt"))
    assert (tmp_path / "f.pt").read_bytes() == blob
    os.remove(names[1])
    with pytest.raises(FileNotFoundError, match="missing"):
        parts.join(str(tmp_path / "f.pt"))
