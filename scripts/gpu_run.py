"""The GPU run, prepared: everything worth doing on a machine with a CUDA GPU, in one call that ends on time and
writes at most 8 files of at most 16 MiB (so that they pass copies or uploads that limit each file).

    python scripts/gpu_run.py --out runs/gpu --budget 540              # on the GPU (see the README)
    python scripts/gpu_run.py --out /tmp/r --tiny --steps 4 --skip nbval --ar AR.pt    # a CPU rehearsal

Stages, each in its own process with its own time limit, so that one failure or overrun costs only itself:
  env       the GPU, the driver and the versions
  nbval     the notebook's smoke preset under nbval on CUDA (scripts/device_wheels.sh: wheels for a machine offline)
  fp16      the smoke preset trained with float16 autocast and a GradScaler forced, as on Colab's T4
  bench     scripts/bench_throughput.py: our three models against nanoGPT's GPT, same run, same device
  sweep     the bound after equal wall time for batch 64, 128, 256 and 512 (learning rate ∝ √batch), each
            warm-started from the shipped absorbing model, and one from scratch: the settings to train with
  train     the absorbing model, from the best sweep run's weights, for the rest of the budget (about 30% of it;
            a second call can give it all: --skip nbval,fp16,bench,sweep --init-from the first call's model
            --train-batch B --train-lr LR, from the first call's sweep); then its bound
            on every validation window and 64 samples of 256 characters (Tweedie 128 and first hitting)
  samplers  Part 11's sampler timings at batch 1 and 32 on this device (one run each after a warm-up; for medians
            of several, scripts/measure_sampling.py), with the trained model and the AR judge

What it writes under --out: the trained model in float32, split into parts of 15 MiB (`absorbing.pt.part0`, ...;
`python scripts/parts.py join absorbing.pt`; continue from it with `scripts/train.py --init-from`), and
`report.tar.gz`: report.json (every stage's status, time and results) and every stage's log.
"""
import argparse
import copy
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from notebook import ROOT, load_data, load_notebook  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402

STAGES = ["env", "nbval", "fp16", "bench", "sweep", "train", "samplers"]
SHARE = {"nbval": 0.15, "fp16": 0.04, "bench": 0.2, "sweep": 0.2, "samplers": 0.08}   # of the budget, at most
RESERVE = 0.04                                      # of the budget, kept for packing


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole run, packing included")
    ap.add_argument("--skip", default="", help="stages to leave out, comma-separated")
    ap.add_argument("--tiny", action="store_true", help="a rehearsal: the smoke preset, tiny everything")
    ap.add_argument("--init-from", default=str(ROOT / "assets" / "gpu-absorbing.pt"))
    ap.add_argument("--ar", default=str(ROOT / "assets" / "gpu-autoregressive.pt"), help="the AR judge")
    ap.add_argument("--batches", default="64,128,256,512")
    ap.add_argument("--train-batch", type=int, help="the train stage's batch size (default: the sweep's best)")
    ap.add_argument("--train-lr", type=float, help="the train stage's learning rate (default: the sweep's best)")
    ap.add_argument("--steps", type=int, help="a rehearsal: every training run (fp16, sweep, train) takes this many "
                    "steps, whatever the clock says, and the budget is only a limit on the whole")
    ap.add_argument("--stage")
    ap.add_argument("--work")
    ap.add_argument("--deadline", type=float, help="(a stage's) the time.time() by which it must be done")
    return ap.parse_args(argv)


def notebook(args):
    global scale
    nb = load_notebook("smoke" if args.tiny else "gpu")
    import scale                                    # (after the notebook: it builds on the notebook's definitions)
    return nb, nb.pick_device()


def put(work, name, value):
    (pathlib.Path(work) / f"{name}.json").write_text(json.dumps(value, indent=1, default=str))


# ---------------------------------------------------------------------------------------------------- stages
def stage_env(args):
    import torch
    info = dict(torch=torch.__version__, cuda=torch.version.cuda, python=sys.version.split()[0],
                device=measure.here("cuda" if torch.cuda.is_available() else "cpu"),
                capability=torch.cuda.get_device_capability() if torch.cuda.is_available() else None)
    smi = shutil.which("nvidia-smi")
    info["nvidia_smi"] = subprocess.run([smi], capture_output=True, text=True).stdout if smi else None
    print(json.dumps(info, indent=1))
    put(args.work, "env", info)


def stage_nbval(args):
    env = dict(os.environ, DIFFUSION_PRESET="smoke")
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "annotated_diffusion.ipynb"), "--nbval-lax",
           "--nbval-current-env", "-p", "no:cacheprovider", "-q"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    print(r.stdout[-6000:], r.stderr[-3000:])
    put(args.work, "nbval", dict(returncode=r.returncode, summary=r.stdout.strip().splitlines()[-1:]))
    if r.returncode:
        sys.exit(r.returncode)


def stage_fp16(args):
    "The smoke preset trained under float16 autocast with a GradScaler, whatever the chip (as a T4 would)."
    import torch
    nb, dev = notebook(args)
    if dev.type == "cuda":
        nb.amp_dtype = lambda device: torch.float16 if torch.device(device).type == "cuda" else None
    _, vocab, train_data, val_data = load_data(nb)
    model = nb.DiffusionGPT(nb.build_config(nb.P, len(vocab), "absorbing")).to(dev)
    n = args.steps or 60
    tc = scale.ScaleConfig(max_iters=n, batch_size=8, lr=1e-3, warmup_iters=min(5, n), eval_interval=max(1, n // 3),
                           eval_batches=2, compile=False)
    ema, h = scale.train_at_scale(model, train_data, val_data, tc, desc="fp16 smoke")
    finite = all(math.isfinite(x) for x in h["train_loss"] + h["val_bpc"])
    res = dict(dtype="float16" if dev.type == "cuda" else "none (CPU)", finite=finite, val_bpc=h["val_bpc"],
               first_loss=h["train_loss"][0], last_loss=h["train_loss"][-1])
    print(res)
    put(args.work, "fp16", res)
    if not finite:
        sys.exit("fp16 training produced a non-finite loss")


def stage_bench(args):
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_throughput.py"), "--out", str(pathlib.Path(args.work) /
                                                                                      "throughput.json")]
    if args.tiny:
        cmd += ["--preset", "smoke", "--rounds", "1", "--steps", "1", "2"]
    subprocess.run(cmd, check=True)


def fit(nb, model, train_data, val_data, tc, seconds, dev, probe_counts=False, steps=None):
    """Set tc.max_iters (and the warmup) so that the cosine ends as `seconds` of training run out, and
    tc.max_seconds to stop there; the speed probe (and compile) comes on top unless `probe_counts`. With `steps`
    (a rehearsal), tc.max_iters = steps and no clock: the run is the same on an idle machine and a busy one."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train import measure_rate
    t0 = time.time()
    tc.compile = scale.use_compile(tc, dev)               # decided for the preset's length, before max_iters shrinks
    if steps:
        tc.max_seconds, tc.max_iters, rate = None, steps, None
    else:
        rate = measure_rate(nb, model, train_data, val_data, tc, 20, dev)
        tc.max_seconds = seconds - (time.time() - t0 if probe_counts else 0)
        tc.max_iters = max(10, int(rate * tc.max_seconds * 0.9))
    tc.eval_interval, tc.warmup_iters = tc.max_iters, min(tc.warmup_iters, tc.max_iters // 10)
    return rate


def stage_sweep(args):
    "Equal wall time for each batch size (lr ∝ √batch, warm start) and one run from scratch: lowest bound wins."
    import torch
    nb, dev = notebook(args)
    _, vocab, train_data, val_data = load_data(nb)
    cfg = nb.build_config(nb.P, len(vocab), "absorbing")
    try:
        start = nb.load_checkpoint(args.init_from, cfg, vocab, dev)[0]
    except (FileNotFoundError, nb.CheckpointMismatch) as e:
        print(f"no warm start ({e}): from scratch only")
        start = None
    batches = [int(b) for b in args.batches.split(",")]
    runs = [(b, "warm") for b in batches] if start is not None else []
    runs.append((batches[min(2, len(batches) - 1)], "scratch"))
    each = (args.deadline - time.time()) / len(runs)
    res, B0 = [], nb.P["batch_size"]
    for b, how in runs:
        nb.seed_everything(nb.seed)
        model = copy.deepcopy(start) if how == "warm" else nb.DiffusionGPT(cfg).to(dev)
        tc = scale.ScaleConfig(batch_size=b, lr=nb.P["lr"] * math.sqrt(b / B0), warmup_iters=nb.P["warmup_iters"],
                            eval_batches=nb.P["eval_batches"], seed=nb.seed)
        try:
            rate = fit(nb, model, train_data, val_data, tc, each * 0.8, dev, steps=args.steps)
            ema, h = scale.train_at_scale(model, train_data, val_data, tc, desc=f"batch {b} ({how})")
        except torch.cuda.OutOfMemoryError as e:
            res.append(dict(batch_size=b, start=how, error=repr(e)[:200])); torch.cuda.empty_cache(); continue
        with nb.autocast_for(dev):          # the same windows for every run
            bpc = nb.random_batch_bpc(ema, val_data, 40 if not args.tiny else 2, 64 if not args.tiny else 4, seed=0)
        run = dict(batch_size=b, start=how, lr=tc.lr, steps=h["last_step"], seconds=h["seconds"], steps_per_s=rate,
                   chars_per_s=h["last_step"] * b * cfg.block_size / h["seconds"], val_bpc=bpc)
        print(run, flush=True)
        res.append(run)
        if bpc == min(r.get("val_bpc", math.inf) for r in res):
            nb.save_checkpoint(str(pathlib.Path(args.work) / "sweep-best.pt"), ema, vocab, h["best_step"],
                               dict(history=h, **run))
        put(args.work, "sweep", dict(runs=res, seconds_each=each))


def stage_train(args):
    "Train the absorbing model from the best sweep run's weights (or the shipped ones) until the time is up."
    import torch
    nb, dev = notebook(args)
    text, vocab, train_data, val_data = load_data(nb)
    work = pathlib.Path(args.work)
    cfg = nb.build_config(nb.P, len(vocab), "absorbing")
    sweep = json.loads((work / "sweep.json").read_text()) if (work / "sweep.json").exists() else {"runs": []}
    done = [r for r in sweep["runs"] if "val_bpc" in r]
    best = min(done, key=lambda r: r["val_bpc"]) if done else dict(batch_size=nb.P["batch_size"], lr=nb.P["lr"])
    best = dict(best, batch_size=args.train_batch or best["batch_size"], lr=args.train_lr or best["lr"])
    init = work / "sweep-best.pt" if (work / "sweep-best.pt").exists() else pathlib.Path(args.init_from)
    try:
        model = nb.load_checkpoint(str(init), cfg, vocab, dev)[0]
    except (FileNotFoundError, nb.CheckpointMismatch) as e:
        print(f"no warm start ({e}): from scratch")
        model = nb.DiffusionGPT(cfg).to(dev)
    nb.seed_everything(nb.seed)
    tc = scale.ScaleConfig(batch_size=best["batch_size"], lr=best["lr"], warmup_iters=nb.P["warmup_iters"],
                        eval_batches=nb.P["eval_batches"], seed=nb.seed)
    reserve = 30 if not args.tiny else 8                  # seconds kept for the bound and the samples
    t0 = time.time()
    rate = fit(nb, model, train_data, val_data, tc, args.deadline - t0 - reserve, dev, probe_counts=True,
               steps=args.steps)
    tc.eval_interval = max(1, tc.max_iters // 8)
    ema, h = scale.train_at_scale(model, train_data, val_data, tc, desc="training absorbing")
    from train import run_metrics
    metrics = run_metrics(h, tc, cfg, dev, nb.preset, init_from=str(init), probe_steps_per_s=rate)
    nb.save_checkpoint(str(work / "absorbing.pt"), ema, vocab, h["best_step"], metrics)
    ema = ema.float()
    M = measure.SIZES[nb.preset]
    windows = nb.windows_of(val_data, cfg.block_size)[:M["eval_windows"]]
    bpc, se = nb.bits_per_char(ema, windows, passes=M["eval_passes"], batch_size=64, seed=nb.seed)
    g = torch.Generator(device=dev)
    gr, nz = nb.graph_and_noise(cfg)
    den, n = nb.make_denoiser(ema, gr), M["quality_samples"]
    texts = {}
    for name, draw in (("tweedie/128", lambda: nb.sample(den, gr, nz, n, cfg.block_size, 128, device=dev,
                                                         generator=g, progress=False)),
                       ("first hitting", lambda: nb.first_hitting_sample(nb.cached_denoiser(ema, gr), gr, nz, n,
                                                                         cfg.block_size, device=dev, generator=g,
                                                                         progress=False))):
        g.manual_seed(nb.seed)
        texts[name] = [vocab.decode(r.tolist()) for r in draw()]
    res = dict(metrics=metrics, bpc=bpc, se=se, windows=len(windows), passes=M["eval_passes"], samples=texts,
               seconds=time.time() - t0)
    print(f"trained {h['last_step']} steps of {tc.batch_size}; bound {bpc:.4f} ± {se:.4f} bits/char", flush=True)
    put(work, "train", res)


def stage_samplers(args):
    "Part 11's sampler table on this device: batch 1 and 32, the trained model (or the shipped one), the AR judge."
    nb, dev = notebook(args)
    text, vocab, train_data, val_data = load_data(nb)
    work = pathlib.Path(args.work)
    path = work / "absorbing.pt" if (work / "absorbing.pt").exists() else pathlib.Path(args.init_from)
    model = nb.load_checkpoint(str(path), None, vocab, dev)[0]
    ar = nb.load_checkpoint(args.ar, None, vocab, dev)[0]
    lexicon = set(nb.words_of(text[:len(train_data)]))
    M = measure.SIZES[nb.preset]
    steps, batches = M["sampler_steps"], M["sampler_batches"]
    res = measure.measure_samplers(measure.sampler_zoo(model, ar, steps), ar, vocab, lexicon, nb.P["block_size"],
                                   batches, nb.seed, dev, skip=measure.too_slow_without_cache(steps, batches, dev),
                                   repeats=1)          # (one timed run each: this run's time goes to training)
    res.update(model=str(path))                      # measure_samplers names the device
    print(report.samplers_table({"samplers": res}))
    put(work, "samplers", res)


# ---------------------------------------------------------------------------------------------------- driver
def pack(out, work, report):
    "At most 8 files: the trained model in parts of 15 MiB, and one archive of every report and log."
    from parts import split
    out.mkdir(parents=True, exist_ok=True)
    model = work / "absorbing.pt"
    if model.exists():
        shutil.copy(model, out / "absorbing.pt")
        split(str(out / "absorbing.pt"), 15, remove=True)
    (work / "report.json").write_text(json.dumps(report, indent=1, default=str))
    with tarfile.open(out / "report.tar.gz", "w:gz") as tar:
        for f in sorted(work.iterdir()):
            if f.suffix in (".json", ".log"):
                tar.add(f, arcname=f.name)
    files = sorted(os.listdir(out))
    assert len(files) <= 8 and all(os.path.getsize(out / f) <= 16 * 2 ** 20 for f in files), files
    return files


def main(argv=None):
    args = parse(argv)
    if args.stage:
        return globals()[f"stage_{args.stage}"](args)
    if not args.out:
        sys.exit("gpu_run.py: say where the results go: --out DIR")
    t_start = time.time()
    deadline = t_start + args.budget * (1 - RESERVE)
    out = pathlib.Path(args.out)
    work = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"gpu-run-{os.getpid()}"
    work.mkdir(parents=True)
    skip = set(filter(None, args.skip.split(",")))
    report = dict(budget=args.budget, started=time.strftime("%Y-%m-%d %H:%M:%S"), stages={})
    env = dict(os.environ, PYTHONUNBUFFERED="1", TQDM_MININTERVAL="10")     # short logs
    for stage in STAGES:
        if stage in skip:
            report["stages"][stage] = dict(status="skipped")
            continue
        left = deadline - time.time()
        share = lambda s: max(5, SHARE.get(s, 0.05) * args.budget)                # seconds a stage may take
        later = sum(share(s) for s in STAGES[STAGES.index(stage) + 1:] if s not in skip)
        seconds = left if args.steps else left - later if stage == "train" else min(left, share(stage))
        if seconds < 2:
            report["stages"][stage] = dict(status="no time left")
            continue
        cmd = [sys.executable, __file__, "--stage", stage, "--work", str(work),
               "--deadline", str(time.time() + seconds), "--init-from", args.init_from, "--ar", args.ar,
               "--batches", args.batches] + (["--tiny"] * args.tiny) \
            + [f"--train-{k}={v}" for k, v in (("batch", args.train_batch), ("lr", args.train_lr)) if v] \
            + [f"--steps={args.steps}"] * bool(args.steps)
        t0 = time.time()
        with open(work / f"{stage}.log", "w") as log:
            try:
                r = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                                   timeout=seconds + 15)   # a stage that overruns is stopped; the rest goes on
                status = "ok" if r.returncode == 0 else f"failed (exit {r.returncode})"
            except subprocess.TimeoutExpired:
                status = "stopped at its time limit"
        report["stages"][stage] = dict(status=status, seconds=round(time.time() - t0, 1), limit=round(seconds, 1))
        print(f"{stage}: {status} in {time.time() - t0:.0f} s (limit {seconds:.0f} s)", flush=True)
        if status != "ok":
            print("  " + "\n  ".join((work / f"{stage}.log").read_text().splitlines()[-8:]), flush=True)
    report["seconds"] = round(time.time() - t_start, 1)
    print("wrote:", pack(out, work, report), f"after {time.time() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
