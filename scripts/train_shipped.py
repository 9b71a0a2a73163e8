"""Train the models that ship in assets/ with the notebook's own code, on one GPU, within a wall-clock budget.

The notebook's `export` cells and its parameters cell are executed (as the tests do), so the models, the
loss, the training loop and the checkpoint format are exactly the notebook's. Each job (a graph and its
dropout) trains in its own process; all of them share the GPU. After a short speed probe the jobs agree on
one step count that fits the budget, so every model gets the same number of steps (the same budget), and
`train` keeps the EMA weights with the lowest validation loss (early stopping). Each job then measures
bits/char on every validation window and draws the sample-quality sweep; the texts are scored on any
machine afterwards.

    python scripts/train_shipped.py --out OUT --budget 400             # on the GPU (preset gpu)
    python scripts/train_shipped.py --out /tmp/t --budget 60 --tiny    # a CPU rehearsal with a tiny model

What comes back under OUT: each shipped checkpoint split into parts of at most 15 MiB
(`gpu-absorbing.pt.part0`, ...; join them with `cat`) and `jobs.tar.gz` with every job's JSON and log.
"""
import argparse
import glob
import json
import math
import os
import pathlib
import subprocess
import sys
import tarfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
JOBS = {  # name: (graph, dropout)
    "absorbing": ("absorbing", 0.1),
    "absorbing-nodropout": ("absorbing", 0.0),
    "uniform": ("uniform", 0.1),
    "autoregressive": ("autoregressive", 0.2),
}
PART = 15 * 2 ** 20


def load_notebook(preset):
    "The notebook's export cells, then its parameters cell with DIFFUSION_PRESET=preset: a module."
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import load_notebook_exports
    nb = load_notebook_exports()
    cells = json.loads((ROOT / "annotated_diffusion.ipynb").read_text(encoding="utf-8"))["cells"]
    params = next(c for c in cells if "parameters" in c.get("metadata", {}).get("tags", []))
    os.environ["DIFFUSION_PRESET"] = preset
    exec("".join(params["source"]), nb.__dict__)
    return nb


def load_data(nb):
    "Tiny Shakespeare as the notebook reads it: (text, vocab, train ids, validation ids), split 90/10."
    import torch
    text = nb.load_text(str(ROOT / "data" / "input.txt"))
    vocab = nb.Vocab.from_text(text)
    data = torch.tensor(vocab.encode(text), dtype=torch.long)
    n = int(0.9 * len(data))
    return text, vocab, data[:n], data[n:]


def worker(args):
    name = args.worker
    graph, dropout = JOBS[name]
    work = pathlib.Path(args.work)
    nb = load_notebook("smoke" if args.tiny else "gpu")
    P = dict(nb.P)
    if args.tiny:   # a rehearsal: tiny model, few evaluations
        P.update(n_layer=2, n_head=2, n_embd=32, cond_dim=16, batch_size=8, eval_interval=20, eval_batches=2,
                 quality_steps=[4, 16], quality_samples=4, eval_windows=16, eval_passes=2, warmup_iters=10)
    import torch
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    dev = nb.pick_device()
    text, vocab, train_data, val_data = load_data(nb)
    cfg = nb.build_config(P, len(vocab), graph, dropout=dropout)
    tc = nb.TrainConfig(**{k: P[k] for k in ("max_iters", "batch_size", "lr", "warmup_iters",
                                             "eval_interval", "eval_batches")}, seed=nb.seed)

    # 1. speed probe (all jobs at once, so the GPU is shared as in the real run)
    nb.seed_everything(nb.seed)
    probe = nb.DiffusionGPT(cfg).to(dev)
    quick = dict(nb.asdict(tc), eval_interval=10 ** 9, eval_batches=1)
    nb.train(probe, train_data, val_data, nb.TrainConfig(**dict(quick, max_iters=10)), desc="warm-up")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.time()
    nb.train(probe, train_data, val_data, nb.TrainConfig(**dict(quick, max_iters=args.probe_steps)), desc="probe")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    rate = args.probe_steps / (time.time() - t0)
    del probe
    (work / f"rate-{name}.json").write_text(json.dumps({"rate": rate}))
    print(f"[{name}] probe: {rate:.2f} steps/s", flush=True)
    wanted = set(args.jobs.split(","))
    while len(rates := {p.name[5:-5]: json.loads(p.read_text())["rate"]
                        for p in work.glob("rate-*.json")}) < len(wanted) and time.time() < t0 + 60:
        time.sleep(1)
    remaining = args.deadline - time.time()
    # one step count for every job: what the slowest fits into the time left, in whole eval intervals
    tc.max_iters = max(tc.eval_interval, int(min(rates.values()) * remaining * 0.85) // tc.eval_interval * tc.eval_interval)
    tc.max_seconds = remaining
    print(f"[{name}] rates {rates}; {tc.max_iters} steps in at most {remaining:.0f} s", flush=True)

    # 2. train, with a few samples at every other evaluation (sample quality against training time)
    def on_eval(step, ema):
        if step % (2 * tc.eval_interval) and step != tc.max_iters:
            return None
        try:
            return draw(step, ema)
        except Exception as e:              # a sampling bug must not cost the training run
            return {"step": step, "error": repr(e)}

    def draw(step, ema):
        g = torch.Generator(device=dev).manual_seed(nb.seed)
        if cfg.causal:
            x = nb.generate_ar(ema, 16, cfg.block_size, generator=g, progress=False)
        else:
            gr, nz = nb.graph_and_noise(cfg)
            x = nb.sample(nb.make_denoiser(ema, gr), gr, nz, 16, cfg.block_size, 128, device=dev, generator=g,
                          progress=False)
        return {"step": step, "samples": [vocab.decode(r.tolist()) for r in x]}

    nb.seed_everything(nb.seed)
    model = nb.DiffusionGPT(cfg).to(dev)
    t0 = time.time()
    ema, history = nb.train(model, train_data, val_data, tc, desc=name, on_eval=on_eval)
    seconds = time.time() - t0
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    metrics = dict(history=history, train_seconds=seconds, device=device_name, torch=torch.__version__,
                   preset="gpu", max_iters=tc.max_iters, best_step=history["best_step"], dropout=dropout,
                   batch_size=tc.batch_size, concurrent_jobs=sorted(wanted), probe_rates=rates,
                   date=time.strftime("%Y-%m-%d"))
    nb.save_checkpoint(str(work / f"{name}.pt"), ema, vocab, history["best_step"], metrics, half=True)
    print(f"[{name}] trained {history['last_step']} steps in {seconds:.0f} s; best val {history['best_val_bpc']:.4f} "
          f"bits/char at step {history['best_step']}", flush=True)

    # 3. measure: bits/char on every validation window, and the sample-quality sweep (texts only)
    ema = ema.float()
    windows = nb.windows_of(val_data, cfg.block_size)[:P["eval_windows"]]
    t1 = time.time()
    bpc, se = nb.bits_per_char(ema, windows, passes=P["eval_passes"], batch_size=64, seed=nb.seed)
    result = dict(job=name, graph=graph, dropout=dropout, bpc=bpc, se=se, windows=len(windows),
                  passes=1 if cfg.causal else P["eval_passes"], metrics=metrics, quality={})
    print(f"[{name}] {bpc:.4f} ± {se:.4f} bits/char on {len(windows)} windows ({time.time() - t1:.0f} s)", flush=True)
    g = torch.Generator(device=dev)
    n_q = P["quality_samples"]
    if cfg.causal:
        g.manual_seed(nb.seed)
        x = nb.generate_ar(ema, n_q, cfg.block_size, generator=g, progress=False)
        result["quality"]["ar/T=1"] = [vocab.decode(r.tolist()) for r in x]
    else:
        gr, nz = nb.graph_and_noise(cfg)
        for method in ("tweedie", "euler"):
            for steps in P["quality_steps"]:
                if time.time() > args.deadline + args.eval_seconds:
                    print(f"[{name}] out of time: sweep stops before {method} {steps}", flush=True)
                    break
                g.manual_seed(nb.seed)
                try:
                    x = nb.sample(nb.make_denoiser(ema, gr), gr, nz, n_q, cfg.block_size, steps, method,
                                  device=dev, generator=g, progress=False)
                except Exception as e:
                    print(f"[{name}] sampling failed: {e!r}", flush=True)
                    break
                result["quality"][f"{method}/{steps}"] = [vocab.decode(r.tolist()) for r in x]
    (work / f"{name}.json").write_text(json.dumps(result))
    print(f"[{name}] done ({time.time() - t0:.0f} s after training began)", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--budget", type=float, default=400, help="seconds from now until training ends")
    ap.add_argument("--eval-seconds", type=float, default=90, help="seconds after that for measurements")
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--probe-steps", type=int, default=40)
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--worker")
    ap.add_argument("--work")
    ap.add_argument("--deadline", type=float)
    args = ap.parse_args()
    if args.worker:
        return worker(args)

    out = pathlib.Path(args.out); out.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"train-shipped-{os.getpid()}"
    work.mkdir(parents=True)
    deadline = time.time() + args.budget
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_DISABLE="1", OMP_NUM_THREADS="2")
    procs = {}
    for name in args.jobs.split(","):
        log = open(work / f"{name}.log", "w")
        procs[name] = subprocess.Popen(
            [sys.executable, __file__, "--worker", name, "--work", str(work), "--deadline", str(deadline),
             "--jobs", args.jobs, "--probe-steps", str(args.probe_steps), "--eval-seconds", str(args.eval_seconds)]
            + (["--tiny"] if args.tiny else []), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    for name, p in procs.items():
        p.wait()
        lines = (work / f"{name}.log").read_text().splitlines()
        shown = lines[-12:] if p.returncode else [l for l in lines if l.startswith(f"[{name}]")][-3:]
        print(f"{name}: exit {p.returncode}\n  " + "\n  ".join(l[:300] for l in shown), flush=True)

    # ship the better absorbing model (by its best validation bound) and the others; split into parts
    done = {n: json.loads((work / f"{n}.json").read_text()) for n in procs if (work / f"{n}.json").exists()}
    absorbing = [n for n in done if done[n]["graph"] == "absorbing"]
    best_val = lambda n: done[n]["metrics"]["history"]["best_val_bpc"]
    ship = {"absorbing": min(absorbing, key=best_val) if absorbing else None}
    ship.update({g: g for g in ("uniform", "autoregressive") if g in done})
    (work / "shipped.json").write_text(json.dumps(ship))
    for graph, job in ship.items():
        if job is None:
            continue
        blob = (work / f"{job}.pt").read_bytes()
        for i in range(math.ceil(len(blob) / PART)):
            (out / f"gpu-{graph}.pt.part{i}").write_bytes(blob[i * PART:(i + 1) * PART])
    with tarfile.open(out / "jobs.tar.gz", "w:gz") as tar:
        for f in sorted(glob.glob(str(work / "*.json")) + glob.glob(str(work / "*.log"))):
            tar.add(f, arcname=os.path.basename(f))
    print("shipped:", ship, "files:", sorted(os.listdir(out)))


if __name__ == "__main__":
    main()
