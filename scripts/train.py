"""Train one of the notebook's models with the notebook's recipe at scale (scripts/scale.py): on one device, or on
several with PyTorch's DistributedDataParallel under torchrun; within a wall-clock budget; from scratch, from a
checkpoint's weights (a warm start) or from a resumable state.

    python scripts/train.py --preset gpu --graph absorbing --out runs/a --budget 300
    python scripts/train.py --preset gpu --graph absorbing --out runs/b --budget 300 --init-from runs/a/absorbing.pt
    python scripts/train.py --preset gpu --graph absorbing --block-len 16 --out runs/blocks --name absorbing-16
    torchrun --standalone --nproc_per_node=2 scripts/train.py --preset smoke --out runs/ddp    # CPU: gloo

What it writes (rank 0 only), under --out:
  NAME.pt        the EMA weights with the best validation loss, in float32, in the notebook's checkpoint format
                 (load_checkpoint reads it; --init-from continues from it; split it with scripts/parts.py)
  NAME.json      the history and where, how long and how fast it trained
  NAME.state.pt  the resumable state (weights, optimiser, EMA, random states): rerun the same command after a
                 crash or a killed process and it goes on from the last state written
  NAME.plan.json the step count chosen for the budget, so that a resumed run keeps the same schedule

--batch-size is per process: two processes of batch B train exactly as one process of batch 2B (each draws
the whole batch's windows and noise and trains on its share), up to the order of floating-point sums.
"""
import argparse
import contextlib
import copy
import io
import json
import os
import pathlib
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from notebook import load_data, load_notebook  # noqa: E402
import measure  # noqa: E402

KNOBS = ("max_iters", "batch_size", "lr", "warmup_iters", "eval_interval", "eval_batches")


def parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="gpu")
    ap.add_argument("--graph", default="absorbing", choices=["absorbing", "uniform", "autoregressive"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--name", help="file names under --out (default: the graph)")
    ap.add_argument("--budget", type=float, help="seconds of training; the step count is fitted to it")
    ap.add_argument("--init-from", help="a checkpoint to start from (warm start: new optimiser, warmup and cosine)")
    ap.add_argument("--dropout", type=float)
    ap.add_argument("--block-len", type=int, default=0,
                    help="block diffusion (Part 12): blocks of this many characters, written left to right; 0: none")
    ap.add_argument("--clip", type=parse_clip, metavar="BETA,OMEGA",
                    help="block models: train on mask rates from U[BETA, OMEGA] (BD3-LM's clipped schedule; 1,1: every "
                         "character masked); the validation bound keeps U[0, 1]")
    ap.add_argument("--train-chars", type=int, help="train on only the first this many characters of the training "
                                                     "split (the data-scarce runs of scripts/data_sweep.py)")
    ap.add_argument("--patience", type=int,
                    help="stop after this many evaluations without a better validation value (the best is kept)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="torch.compile the network (default: on CUDA)")
    ap.add_argument("--resume-every", type=float, default=120.0, help="seconds between two resumable states")
    ap.add_argument("--probe-steps", type=int, default=30)
    ap.add_argument("--seed", type=int)
    for k in KNOBS:
        ap.add_argument("--" + k.replace("_", "-"), type=type(1.0) if k == "lr" else int)
    return ap.parse_args(argv)


def parse_clip(text):
    "'0.3,0.8' -> (0.3, 0.8), with 0 <= β <= ω <= 1."
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give two numbers, BETA,OMEGA, such as 0.3,0.8") from None
    if not 0 <= lo <= hi <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= BETA <= OMEGA <= 1")
    return lo, hi


def setup_distributed():
    "Under torchrun: join the process group (NCCL on GPUs, gloo on CPUs); return (rank, world, device)."
    if "RANK" not in os.environ:
        return 0, 1, None
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    local = int(os.environ["LOCAL_RANK"])
    if cuda:
        torch.cuda.set_device(local)
    else:                                   # share the cores instead of oversubscribing them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ["LOCAL_WORLD_SIZE"])))
    return dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local}" if cuda else "cpu")


def agree(value, rank_device):
    "Rank 0's number, on every rank."
    if not dist.is_initialized():
        return value
    t = torch.tensor([float(value)], device=rank_device)
    dist.broadcast(t, src=0)
    return t.item()


def measure_rate(nb, model, train_data, val_data, tc, probe_steps, dev):
    "Training steps per second: time `probe_steps` steps on a copy, after a warm-up (which compiles)."
    import scale
    quick = dict(nb.asdict(tc), eval_interval=10 ** 9, eval_batches=1, resume_path=None, max_seconds=None)
    probe = copy.deepcopy(model)
    run = lambda steps, desc: scale.train_at_scale(probe, train_data, val_data,
                                                   scale.ScaleConfig(**dict(quick, max_iters=steps)), desc=desc)
    run(5, "warm-up")
    return probe_steps / measure.wall_time(lambda: run(probe_steps, "probe"), dev)


def run_metrics(history, tc, cfg, dev, preset, world=1, **extra):
    "What a checkpoint records of the run that made it: history, where, how long and how fast."
    return dict(history=history, train_seconds=history["seconds"], processes=world, preset=preset,
                device=measure.here(dev), torch=torch.__version__,
                max_iters=tc.max_iters, dropout=cfg.dropout, batch_size=tc.batch_size * world, lr=tc.lr,
                chars_per_s=history["last_step"] * tc.batch_size * world * cfg.block_size / history["seconds"],
                date=time.strftime("%Y-%m-%d"), **extra)


def main(argv=None):
    args = parse(argv)
    rank, world, dev = setup_distributed()
    with contextlib.redirect_stdout(io.StringIO()) if rank else contextlib.nullcontext():
        nb = load_notebook(args.preset)             # (its parameters cell prints: rank 0 only)
    import scale                                    # (after the notebook: it builds on the notebook's definitions)
    dev = dev or nb.pick_device()
    out, name = pathlib.Path(args.out), args.name or args.graph
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    say = print if rank == 0 else (lambda *a, **k: None)
    _, vocab, train_data, val_data = load_data(nb)
    if args.train_chars:
        if args.train_chars <= nb.P["block_size"]:
            sys.exit(f"train.py: --train-chars {args.train_chars} is shorter than a window of "
                     f"{nb.P['block_size'] + 1} characters: give more")
        train_data = train_data[:args.train_chars]
    P = dict(nb.P, **{k: getattr(args, k) for k in KNOBS if getattr(args, k) is not None})
    try:
        cfg = nb.build_config(P, len(vocab), args.graph, block_len=args.block_len,
                              **({} if args.dropout is None else {"dropout": args.dropout}))
    except ValueError as e:
        sys.exit(f"train.py: {e}")
    seed = nb.seed if args.seed is None else args.seed
    nb.seed_everything(seed)
    if args.init_from:                      # checks the vocabulary and the config, then a fresh optimiser
        try:
            model = nb.load_checkpoint(args.init_from, cfg, vocab, dev)[0]
        except (FileNotFoundError, nb.CheckpointMismatch) as e:
            sys.exit(f"train.py: cannot start from {args.init_from}: {e}")
        say(f"warm start from {args.init_from}")
    else:
        model = nb.DiffusionGPT(cfg).to(dev)
    tc = scale.ScaleConfig(**{k: P[k] for k in KNOBS}, seed=seed, compile=args.compile,
                        resume_path=str(out / f"{name}.state.pt"), resume_every=args.resume_every,
                        clip=args.clip, patience=args.patience)
    tc.compile = scale.use_compile(tc, dev)    # decided for the preset's length, before a budget sets max_iters

    plan_path, rate = out / f"{name}.plan.json", None
    t_start = time.time()
    if args.budget and os.path.exists(tc.resume_path) and plan_path.exists():   # a resumed run keeps its plan
        plan = json.loads(plan_path.read_text())
        tc.max_iters, tc.max_seconds = plan["max_iters"], plan["budget"]
    elif args.budget:                       # the cosine ends as the budget runs out (a whole number of evaluations)
        rate = measure_rate(nb, model, train_data, val_data, tc, args.probe_steps, dev)
        tc.max_seconds = args.budget - (time.time() - t_start)
        steps = max(1, int(rate * tc.max_seconds * 0.9) // tc.eval_interval) * tc.eval_interval
        tc.max_iters = int(agree(steps, dev if dev.type == "cuda" else "cpu"))
        if rank == 0:
            nb.atomic_write(str(plan_path), lambda f: f.write(json.dumps(dict(
                max_iters=tc.max_iters, budget=tc.max_seconds, probe_steps_per_s=rate))), mode="w")
    say(f"{name}: {nb.count_params(model) / 1e6:.2f}M parameters, {tc.max_iters} steps of {world} × "
        f"{tc.batch_size} × {cfg.block_size} characters on {world} × {dev}", flush=True)

    t0 = time.time()
    ema, history = scale.train_at_scale(model, train_data, val_data, tc, desc=f"training {name}")
    seconds = time.time() - t0
    if rank == 0:
        metrics = run_metrics(history, tc, cfg, dev, args.preset, world, init_from=args.init_from,
                              probe_steps_per_s=rate, clip=args.clip, train_chars=len(train_data))
        nb.save_checkpoint(str(out / f"{name}.pt"), ema, vocab, history["best_step"], metrics)
        nb.atomic_write(str(out / f"{name}.json"), lambda f: f.write(json.dumps(metrics, default=str)), mode="w")
        say(f"{name}: {history['last_step']} steps in {seconds:.0f} s ({metrics['chars_per_s'] / 1e6:.2f} M chars/s); "
            f"best validation bound {history['best_val_bpc']:.4f} bits/char at step {history['best_step']}", flush=True)
    if dist.is_initialized():
        dist.barrier()                      # every rank done (rank 0 has written) before gloo's threads are torn down
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
