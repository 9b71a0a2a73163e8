"""Training throughput of the notebook's three models against nanoGPT's GPT of the same size, in one run on
one device: characters per second, milliseconds per step and model FLOPs utilisation (MFU).

    python scripts/bench_throughput.py                      # the cpu preset here, the gpu preset on a GPU
    python scripts/bench_throughput.py --preset gpu --batch-size 256

Our models are timed through the notebook's own `train` (compile, fused AdamW, on-device batches, EMA and
all), as the time of a run of N2 steps minus that of a run of N1 steps, so that set-up and the final
evaluation cancel. nanoGPT's GPT (scripts/nanogpt.py) is timed by the same difference with nanoGPT's own
step (its loss, the same AdamW, clipping, autocast and compile). The models take turns, round after round,
and each number is the median over rounds, so that a slow moment of the machine hits every model alike.

MFU counts nanoGPT's 6N + 12·n_layer·n_embd·T FLOPs per character, against two peaks: the chip's dense
bf16 figure where it is known, and a matrix product measured here in the training precision (the only
honest peak on a CPU). The result is merged into assets/throughput.json under the device's name.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import measure  # noqa: E402
import nanogpt  # noqa: E402
from notebook import ROOT, load_data, load_notebook, load_notebook_exports  # noqa: E402

SPEC_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "T4": 65e12}


def matmul_peak(dev, dtype, n):
    "FLOP/s of an n×n×n matrix product in `dtype` (the best of a few)."
    a, b = (torch.randn(n, n, device=dev, dtype=dtype) for _ in range(2))
    def ten():
        for _ in range(10):
            a @ b
    return 2 * n ** 3 / min(measure.wall_time(ten, dev) / 10 for _ in range(5))


def quiet(bar):
    class Quiet(bar):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **dict(kwargs, disable=True))
    return Quiet


def ours(train, config, model, train_data, val_data, tc):
    "Run a trainer (scale.train_at_scale; a baseline revision's own `train`) for `steps` steps (one evaluation)."
    def run(steps):
        fields = config.__dataclass_fields__
        train(model, train_data, val_data, config(**{k: v for k, v in dict(vars(tc), max_iters=steps).items()
                                                     if k in fields}), desc=None)
    return run


def nanogpt_steps(nb, ref, train_data, tc, dev, workdir):
    """nanoGPT's training step as its train.py takes it: a batch read from a uint16 memmap, pinned and copied
    to the GPU; its loss; the same AdamW, clipping, precision and compile as ours."""
    path = pathlib.Path(workdir) / "train.bin"
    train_data.numpy().astype(np.uint16).tofile(path)
    net = torch.compile(ref) if tc.compile else ref
    def run(steps):
        params = [p for p in ref.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(nb.param_groups(ref, tc), lr=tc.lr, betas=(0.9, tc.beta2), fused=True)
        scaler = torch.amp.GradScaler("cuda", enabled=nb.amp_dtype(dev) == torch.float16)
        ref.train()
        for it in range(steps):
            for group in opt.param_groups:
                group["lr"] = nb.lr_at(it, tc)
            x, y = nanogpt.get_batch(path, tc.batch_size, ref.block_size, dev)
            with nb.autocast_for(dev):
                loss = net(x, y)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
            scaler.step(opt); scaler.update()
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--steps", type=int, nargs=2, metavar=("N1", "N2"))
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--models", default="absorbing,nanogpt,uniform,autoregressive")
    ap.add_argument("--out", default=str(ROOT / "assets" / "throughput.json"))
    ap.add_argument("--baseline", help="a git revision: also time the notebook's models as they were there")
    args = ap.parse_args()
    cuda = torch.cuda.is_available()
    nb = load_notebook(args.preset or ("gpu" if cuda else "cpu"))
    import scale
    nb.tqdm = quiet(nb.tqdm)                                         # no progress bars inside the timings
    dev, P = nb.pick_device(), nb.P
    rounds = args.rounds or (3 if cuda else 5)
    n1, n2 = args.steps or ((10, 60) if cuda else (2, 8))
    _, vocab, train_data, val_data = load_data(nb)
    tc = scale.ScaleConfig(batch_size=args.batch_size or P["batch_size"], eval_interval=10 ** 9, eval_batches=1,
                        warmup_iters=10, compile=cuda if args.compile is None else args.compile, lr=P["lr"])
    T, names = P["block_size"], args.models.split(",")
    workdir = tempfile.mkdtemp()
    runners, sizes = {}, {}
    for name in names:
        nb.seed_everything(0)
        if name == "nanogpt":
            drop = P.get("dropout", {}).get("autoregressive", 0.0)
            model = nanogpt.GPT(len(vocab), T, P["n_layer"], P["n_head"], P["n_embd"], dropout=drop).to(dev)
            runners[name] = nanogpt_steps(nb, model, train_data, tc, dev, workdir)
        else:
            model = nb.DiffusionGPT(nb.build_config(P, len(vocab), name)).to(dev)
            runners[name] = ours(scale.train_at_scale, scale.ScaleConfig, model, train_data, val_data, tc)
        sizes[name] = sum(p.numel() for p in model.parameters())
    if args.baseline:             # the same models and `train`, from the notebook at a revision before scripts/scale.py
        path = pathlib.Path(workdir) / "baseline.ipynb"
        path.write_bytes(subprocess.run(["git", "show", f"{args.baseline}:annotated_diffusion.ipynb"], cwd=ROOT,
                                        check=True, capture_output=True).stdout)
        base = load_notebook_exports(path, "annotated_diffusion_baseline")
        base.tqdm = quiet(base.tqdm)
        for name in [n for n in names if n != "nanogpt"]:
            nb.seed_everything(0)
            model = base.DiffusionGPT(base.build_config(P, len(vocab), name)).to(dev)
            runners[f"{name}@{args.baseline}"] = ours(base.train, base.TrainConfig, model, train_data, val_data, tc)
            sizes[f"{name}@{args.baseline}"] = sizes[name]
        names = names + [n for n in runners if "@" in n]
    dtype = nb.amp_dtype(dev) or torch.float32
    peak = matmul_peak(dev, dtype, 4096 if cuda else 1024)
    spec = next((v for k, v in SPEC_BF16.items() if k in measure.here(dev)), None) if cuda else None
    entry = dict(device=measure.here(dev), torch=torch.__version__, threads=torch.get_num_threads(),
                 preset=nb.preset, batch_size=tc.batch_size, block_size=T, dtype=str(dtype).split(".")[-1],
                 compile=tc.compile, rounds=rounds, steps=[n1, n2], matmul_flops=peak, spec_bf16_flops=spec,
                 date=time.strftime("%Y-%m-%d"), baseline=args.baseline, models={})
    per_step = {name: [] for name in names}
    for r in range(rounds):                  # (a run cut short still leaves every finished measurement on disk)
        for name in names:
            if r == 0:                                               # warm-up: compile, and recompile for
                runners[name](n1); runners[name](n2)                 # whatever changes on the second call
            took = [measure.wall_time(lambda run=runners[name], n=n: run(n), dev) for n in (n1, n2)]
            per_step[name].append((took[1] - took[0]) / (n2 - n1))
            record(entry, name, per_step[name], sizes[name], P, tc.batch_size * T, peak, spec)
            save(nb, args.out, entry)
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1] * 1e3:.1f} ms" for k, v in per_step.items()),
              flush=True)
    for name, b in entry["time_vs_baseline"].items():
        print(f"{name}: {b:.3f}× the step time at {args.baseline}")
    for name, m in entry["models"].items():
        ratio = entry.get("time_vs_nanogpt", {}).get(name)
        print(f"{name:15s} {m['s_per_step'] * 1e3:8.1f} ms/step {m['chars_per_s'] / 1e6:7.3f} M chars/s  "
              f"MFU {m['mfu_vs_matmul']:.1%} of the measured matmul" + (f", {m['mfu_vs_spec']:.1%} of spec"
                                                                          if spec else "")
              + (f"  {ratio:.3f}× nanoGPT's step time" if ratio else ""))
    print(f"written to {args.out}")


def record(entry, name, times, params, P, chars, peak, spec):
    "The median over rounds so far, as characters per second and MFU, and every model's time against nanoGPT's."
    s = statistics.median(times)
    flops = 6 * params + 12 * P["n_layer"] * P["n_embd"] * P["block_size"]       # per character
    entry["models"][name] = dict(params=params, s_per_step=s, steps_per_s=1 / s, chars_per_s=chars / s,
                                 flops_per_char=flops, mfu_vs_matmul=flops * chars / s / peak,
                                 mfu_vs_spec=flops * chars / s / spec if spec else None, all_s_per_step=list(times))
    if "nanogpt" in entry["models"]:
        ref = entry["models"]["nanogpt"]["s_per_step"]
        entry["time_vs_nanogpt"] = {n: m["s_per_step"] / ref for n, m in entry["models"].items() if n != "nanogpt"}
    entry["time_vs_baseline"] = {n.split("@")[0]: entry["models"][n.split("@")[0]]["s_per_step"] / m["s_per_step"]
                                 for n, m in entry["models"].items() if "@" in n and n.split("@")[0] in entry["models"]}


def save(nb, path, entry):
    "Merge the entry into the JSON file under its device, preset and batch size."
    path = pathlib.Path(path)
    results = json.loads(path.read_text()) if path.exists() else {}
    key = f"{entry['device']}, {entry['preset']} preset, batch {entry['batch_size']}, {entry['dtype']}"
    key += f", against {entry['baseline']}" if entry.get("baseline") else ""
    results[key + (", compiled" if entry["compile"] else ", eager")] = entry
    nb.atomic_write(str(path), lambda f: f.write(json.dumps(results, indent=1)), mode="w")


if __name__ == "__main__":
    main()
