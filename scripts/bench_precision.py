"""Time a training step of the `gpu` preset's absorbing model under each autocast dtype (on a GPU).

    python scripts/bench_precision.py [--out precision.json]

The notebook picks bf16 on GPUs of compute capability 8.0 and above and fp16 (with a GradScaler) below;
this measures what each choice costs on the GPU at hand, through the notebook's own `train`.
"""
import argparse
import json
import time

import torch

from notebook import load_data, load_notebook


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    nb = load_notebook("gpu")
    dev = nb.pick_device()
    _, vocab, train_data, val_data = load_data(nb)
    cfg = nb.build_config(nb.P, len(vocab), "absorbing")
    res = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
           "capability": list(torch.cuda.get_device_capability(dev)) if dev.type == "cuda" else None,
           "torch": torch.__version__, "batch_size": nb.P["batch_size"], "ms_per_step": {}}
    for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16), ("fp32", None)):
        nb.amp_dtype = lambda device, dtype=dtype: dtype if torch.device(device).type == "cuda" else None
        model = nb.DiffusionGPT(cfg).to(dev)
        tc = nb.TrainConfig(batch_size=nb.P["batch_size"], eval_interval=10 ** 9, eval_batches=1, max_iters=10)
        nb.train(model, train_data, val_data, tc, desc="warm-up")
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        nb.train(model, train_data, val_data, nb.TrainConfig(**dict(nb.asdict(tc), max_iters=args.steps)))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        res["ms_per_step"][name] = 1000 * (time.perf_counter() - t0) / args.steps
        print(f"{name}: {res['ms_per_step'][name]:.1f} ms per training step (includes one evaluation)", flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
