"""The notebook's appendix on engineering: Part 7's training recipe at scale, and the autoregressive model's
key/value cache. Nothing here changes what is computed, only how fast.

`train_at_scale` is Part 7's `train` with what a GPU wants. On one device, with none of it switched on (no
compile, no budget, no resume file), it gives the weights of `train` for the same seed, to float rounding
(fused AdamW, the in-place rotary kernel): a test checks it.
It trains the notebook's own models (`train_or_load`) and the scripts' (`scripts/train.py`, `scripts/gpu_run.py`).

**Speed.** A 10M-parameter model on a large GPU is held back by everything except its matrix products: Python,
kernel launches, and the CPU waiting for the GPU. So the text stays on the device and each batch is drawn there;
the loss is read only at evaluations (a `.item()` per step would make the CPU wait for the GPU at every step);
AdamW runs as one fused kernel and the EMA as one `_foreach_lerp_`; on CUDA, for runs long enough to pay for a
minute of compiling, `torch.compile` compiles the network and its loss (the random draws stay outside the
compiled graph), and float32 products may use TF32. Without compile, `fast_rotary` swaps Part 6's rotary
formula for an in-place kernel with its own backward. `scripts/bench_throughput.py` times the three models
against nanoGPT's GPT of the same size on the same device, and writes `assets/throughput.json`.

**More than one GPU.** Under `torchrun` the network is wrapped in PyTorch's `DistributedDataParallel`, and each
of the N processes trains its own rows of every batch. Every process draws the whole batch's windows, times and
noise from one shared generator, so N processes of batch B train exactly as one process of batch NB (a test
checks it). Only rank 0 evaluates, keeps the best weights and writes. It also runs on CPUs, with gloo.

**Precision.** On a GPU the network's matrix products run under autocast, chosen by the chip
(`amp_dtype` in the notebook). GPUs of compute capability 8.0 and above (A100, H100, RTX 30xx and later) compute
bfloat16 natively, and bfloat16 has float32's range, so nothing can overflow. Older GPUs, like Colab's free T4
(7.5), emulate bfloat16 slowly; there we use float16, whose range ends at 65,504, with a `GradScaler` that scales
the loss so that small gradients do not underflow. Everything that exponentiates stays in float32 or float64 on
every device: the scores (a ratio can be e^20), the loss and all probabilities.

**Budgets and resuming.** With `max_seconds` a run stops on a wall-clock budget (keeping its best weights);
with `resume_path` it writes everything a cut-off run needs (weights, optimiser, EMA, scaler, the random states
of every generator, history) every `resume_every` seconds, atomically, and the same call goes on where it
stopped.
"""
import copy
import functools
import os
import pickle
import random
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP



class _Notebook:
    "The notebook's definitions, looked up at call time: a cell rerun in the notebook is what runs here."
    def __getattr__(self, name):
        try:
            return getattr(sys.modules["annotated_diffusion"], name)
        except KeyError:
            raise RuntimeError("import the notebook first: in the notebook, run Part 0; in a script, "
                               "scripts/notebook.py's load_notebook()") from None


nb = _Notebook()


@dataclass
class ScaleConfig(nb.TrainConfig):
    compile: bool = None           # torch.compile the network and loss; None: where it pays (use_compile)
    max_seconds: float = None      # stop early (keeping the best weights so far) after this much wall time
    resume_path: str = None        # a resumable training state is written here, and resumed from if present
    resume_every: float = 600.0    # seconds between two writes of that state
    clip: tuple = None             # block models: train on times (mask rates) from U[β, ω] (Part 12, BD3-LM's clipping)
    patience: int = None           # stop after this many evaluations without a better validation value


def use_compile(tc, dev):
    "Compile on CUDA for runs of 1,000 steps or more: compiling takes a minute, and then each step is faster."
    return tc.compile if tc.compile is not None else (torch.device(dev).type == "cuda" and tc.max_iters >= 1000)


# ------------------------------------------------------------------------------------- a faster rotary kernel
def rotate_inplace(x, cos, sin):
    "Part 6's apply_rotary, written into one output buffer: two passes over x and no temporaries."
    x1, x2 = x.chunk(2, dim=-1)
    out = torch.empty_like(x)
    o1, o2 = out.chunk(2, dim=-1)
    torch.mul(x1, cos, out=o1).addcmul_(x2, sin, value=-1)
    torch.mul(x2, cos, out=o2).addcmul_(x1, sin)
    return out


class Rotary(torch.autograd.Function):
    "Rotary positions; the gradient of a rotation is the rotation by minus the angles."
    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return rotate_inplace(x, cos, sin)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return rotate_inplace(grad, cos, -sin), None, None


def fast_rotary(model):
    "Give every attention layer of `model` the in-place rotary kernel (for eager runs; compile fuses the plain one)."
    for m in model.modules():
        if hasattr(m, "rotate"):                    # an attention layer of the notebook's Part 6
            m.rotate = Rotary.apply
    return model


# ------------------------------------------------------------------------------ DDP, budgets and resumable state
def stop_now(out_of_time, it, world, every=16):
    "Under DDP every rank must stop at the same step: rank 0's clock decides, read every `every` steps."
    if world == 1:
        return out_of_time
    if (it + 1) % every:
        return False
    flag = torch.tensor([float(out_of_time)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def log_losses(history, losses, step):
    "Move the losses of the steps up to `step` (tensors, still on the device) into the history, as numbers."
    if losses:
        history["step"] += list(range(step + 1 - len(losses), step + 1))
        history["train_loss"] += torch.stack(losses).float().tolist()
        losses.clear()


def rng_states(g):
    "Every random state a resumed run needs, as tensors, numbers and strings only (so it loads with weights_only)."
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return dict(data=g.get_state(), torch=torch.get_rng_state(),
                python=dict(version=version, mt=torch.tensor(mt, dtype=torch.int64), gauss=gauss),
                numpy=dict(name=name, keys=torch.from_numpy(keys.astype(np.int64)), pos=int(pos),
                           has_gauss=int(has_gauss), cached=float(cached)),
                cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None)


def set_rng_states(g, r):
    g.set_state(r["data"]); torch.set_rng_state(r["torch"])
    random.setstate((r["python"]["version"], tuple(r["python"]["mt"].tolist()), r["python"]["gauss"]))
    n = r["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    if r["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(r["cuda"])


def save_training_state(path, model, ema, opt, scaler, g, st):
    "Everything a cut-off run needs to go on where it stopped, written atomically: tensors, numbers and strings."
    blob = dict(st, model=model.state_dict(), ema=ema.state_dict(), opt=opt.state_dict(), scaler=scaler.state_dict(),
                rng=rng_states(g))
    nb.atomic_write(path, lambda f: torch.save(blob, f))


def load_training_state(path):
    """A state file, unpickled with weights_only=True: tensors, numbers, strings and containers of them, nothing
    that could run code. A file that holds anything else is refused with an error that says what to do."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path} holds objects other than tensors, numbers and strings, so it was not loaded: unpickling it could "
            f"run code. This script's own state files never do. Delete it to start the run afresh, or continue from "
            f"a checkpoint's weights with --init-from. (PyTorch said: {str(e).splitlines()[0]})") from None


def resume_training(path, model, ema, opt, scaler, g):
    dev = next(model.parameters()).device
    blob = load_training_state(path)
    model.load_state_dict(blob["model"]); ema.load_state_dict(blob["ema"])
    opt.load_state_dict(blob["opt"]); scaler.load_state_dict(blob["scaler"])
    for state in opt.state.values():                                       # optimiser moments onto the device
        for k, v in state.items():
            if torch.is_tensor(v) and k != "step":
                state[k] = v.to(dev)
    set_rng_states(g, blob["rng"])
    print(f"resumed {path} at step {blob['it']} ({blob['seconds'] / 60:.1f} min trained)")
    return {k: blob[k] for k in ("it", "seconds", "best", "history")}


def train_at_scale(model, train_data, val_data, tc, desc="training", on_eval=None):
    """Part 7's `train` with DDP, compile, fused AdamW, mixed precision, budgets and resumable state (see the module's
    notes). tc: a ScaleConfig. on_eval(step, ema) may return a dict, stored in history["extra"]. Under torchrun every
    process trains its share of each batch; only rank 0 evaluates and writes, and its return value is the result."""
    dev = next(model.parameters()).device
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True   # (GPUs only)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    torch.manual_seed(tc.seed + rank)                                       # dropout: each rank its own
    g = torch.Generator(device=dev).manual_seed(tc.seed)                    # windows and noise: shared by all ranks
    train_data = train_data.to(dev)                                         # batches are drawn on the device
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(nb.param_groups(model, tc), lr=tc.lr, betas=(0.9, tc.beta2),
                            fused=dev.type in ("cuda", "cpu"))
    scaler = torch.amp.GradScaler("cuda", enabled=nb.amp_dtype(dev) == torch.float16)   # fp16 needs loss scaling
    compiled = use_compile(tc, dev)
    if not compiled:
        fast_rotary(model)
    ema = copy.deepcopy(model).requires_grad_(False)
    loss_fn = nb.training_loss
    if tc.clip is not None:                                                 # clipped times: block models only
        if not model.cfg.block_len:
            raise ValueError("clip (a clipped schedule) is for block models: give the model a block_len")
        loss_fn = functools.partial(nb.block_loss, clip=tuple(tc.clip))
    loss_fn = torch.compile(loss_fn) if compiled else loss_fn              # network and loss
    net = model
    if world > 1:
        net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        net.cfg = model.cfg                                                 # the loss reads the config
    st = dict(it=0, seconds=0.0, best=None, history={"step": [], "train_loss": [], "val_step": [], "val_bpc": [],
                                                     "val_seconds": [], "extra": []})
    if tc.resume_path and os.path.exists(tc.resume_path):
        st = resume_training(tc.resume_path, model, ema, opt, scaler, g)
        if rank:                                                            # (the state saved is rank 0's)
            torch.manual_seed(tc.seed + rank + st["it"])
    history, t0, last_save, losses = st["history"], time.time() - st["seconds"], time.time(), []
    rows = slice(rank * tc.batch_size, (rank + 1) * tc.batch_size)         # this process's windows
    bar = nb.tqdm(range(st["it"], tc.max_iters), desc=desc, initial=st["it"], total=tc.max_iters, disable=rank > 0)
    for it in bar:
        model.train()
        for group in opt.param_groups:
            group["lr"] = nb.lr_at(it, tc)
        x0 = nb.get_batch(train_data, tc.batch_size * world, model.cfg.block_size, g, dev)
        with nb.autocast_for(dev):
            loss = loss_fn(net, x0, g, rows)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(params, tc.grad_clip)
        scaler.step(opt); scaler.update()
        nb.update_ema(ema, model, min(tc.ema_decay, (1 + it) / (10 + it)))
        losses.append(loss.detach())                     # read at evaluations and saves: no sync per step
        out_of_time = stop_now(tc.max_seconds is not None and time.time() - t0 > tc.max_seconds, it, world)
        patience_out = (tc.patience and st["best"] is not None      # (read at the last evaluation: rank 0's value)
                        and history["val_step"][-1] - st["best"]["step"] >= tc.patience * tc.eval_interval)
        out_of_time = out_of_time or stop_now(bool(patience_out), it, world, every=tc.eval_interval)
        if (it + 1) % tc.eval_interval == 0 or it + 1 == tc.max_iters or out_of_time:
            log_losses(history, losses, it + 1)
            if rank == 0:
                with nb.autocast_for(dev):
                    st["best"] = nb.evaluate(ema, val_data, tc, it + 1, history, st["best"], tc.batch_size * world)
                history["val_seconds"].append(time.time() - t0)
                if on_eval is not None:
                    history["extra"].append(on_eval(it + 1, ema))
                bar.set_postfix(loss=f"{history['train_loss'][-1]:.3f}", val_bpc=f"{history['val_bpc'][-1]:.3f}")
        st["it"], st["seconds"] = it + 1, time.time() - t0
        if rank == 0 and tc.resume_path and (time.time() - last_save > tc.resume_every or out_of_time
                                             or it + 1 == tc.max_iters):
            log_losses(history, losses, it + 1)
            save_training_state(tc.resume_path, model, ema, opt, scaler, g, st); last_save = time.time()
        if out_of_time:
            break
    bar.close()
    history["last_step"], history["seconds"] = st["it"], st["seconds"]
    if rank == 0:
        ema.load_state_dict(st["best"]["state"])
    return ema.eval(), history


# ------------------------------------------------------------------- the autoregressive model's key/value cache
def forward_cached(model, idx, cache, pos):
    """The autoregressive model's forward on the new characters idx (B, T) at positions pos, pos+1, ...: each layer
    attends to the keys and values kept in `cache` (one dict per block) and appends its own: (B, T, N)."""
    B, T = idx.shape
    x = model.wte(idx)                                                   # (B, T, C)
    if model.wpe is not None:
        x = x + model.wpe(torch.arange(pos, pos + T, device=idx.device))
    cos, sin = (r[pos:pos + T, None] for r in (model.rope_cos, model.rope_sin))   # (T, 1, hs/2)
    for block, kv in zip(model.blocks, cache, strict=True):
        a, h = block.attn, block.ln_1(x)
        q, k, v = (z.view(B, T, a.n_head, -1) for z in a.c_attn(h).split(x.shape[-1], dim=2))
        if a.rotary:
            q, k = a.rotate(q, cos, sin), a.rotate(k, cos, sin)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))                # (B, nh, T, hs)
        if "k" in kv:
            k, v = torch.cat([kv["k"], k], dim=2), torch.cat([kv["v"], v], dim=2)
        kv["k"], kv["v"] = k, v
        y = F.scaled_dot_product_attention(q, k, v, is_causal=q.size(2) == k.size(2))   # new rows see all the past
        x = x + a.c_proj(y.transpose(1, 2).reshape(B, T, -1))
        x = x + block.mlp(block.ln_2(x))
    return model.lm_head(model.ln_f(x))


@torch.no_grad()
def generate_ar_cached(model, n_samples, length, temperature=1.0, prompt=None, generator=None, progress=True):
    """Part 8's generate_ar with a key/value cache: each call reads one new character against the cache of the ones
    before, instead of the whole prefix. The same draws from the same generator: (n, length)."""
    if model.training:
        raise ValueError("generate_ar_cached needs the model in eval mode (model.eval()): the cache skips dropout")
    ctx = nb.ar_context(model, n_samples, length, prompt)
    cache = [dict() for _ in model.blocks]
    logits = forward_cached(model, ctx, cache, 0)[:, -1]                             # prefill
    out = []
    for i in nb.tqdm(range(length), desc="sampling (AR, cached)", disable=not progress, leave=False):
        out.append(nb.sample_categorical((logits.float() / temperature).softmax(-1), generator)[:, None])
        if i < length - 1:
            logits = forward_cached(model, out[-1], cache, ctx.shape[1] + i)[:, -1]
    return torch.cat(out, dim=1)
