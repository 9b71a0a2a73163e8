"""The appendix on engineering (scripts/scale.py) changes how fast, not what is computed: the scaled trainer gives
Part 7's recipe's weights and history, the in-place rotary kernel is Part 6's formula and its gradient, and the
key/value cache draws the autoregressive model's characters exactly as the plain loop does. And Part 10's
sample_given, run with exact scores on a toy law, draws the exact conditional law."""
import copy

import pytest
import torch


def tiny_model(nb, graph, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = nb.ModelConfig(n_tokens=8, graph=graph, noise="none" if graph == "autoregressive" else "loglinear",
                         block_size=16, n_layer=1, n_head=2, n_embd=16, cond_dim=8, **kw)
    return nb.DiffusionGPT(cfg)


# ---- the recipe at scale is the recipe -------------------------------------------------------------------------

@pytest.mark.parametrize("graph", ["absorbing", "autoregressive"])
def test_the_scaled_trainer_gives_the_recipes_weights_and_history(nb, scale, graph):
    """On one CPU, with nothing switched on (no compile, budget or resume file), train_at_scale is Part 7's train:
    the same batches, times and noise from the same seed, so the same EMA weights and validation curve, up to
    fused AdamW's and the in-place rotary kernel's rounding."""
    data = torch.randint(8, (3000,), generator=torch.Generator().manual_seed(1))
    model = tiny_model(nb, graph)
    twin, init = copy.deepcopy(model), copy.deepcopy(model).state_dict()
    tc = nb.TrainConfig(max_iters=12, batch_size=4, lr=3e-3, warmup_iters=2, eval_interval=6, eval_batches=2,
                        ema_decay=0.5)
    ema_a, h_a = nb.train(model, data[:2400], data[2400:], tc)
    ema_b, h_b = scale.train_at_scale(twin, data[:2400], data[2400:], scale.ScaleConfig(**nb.asdict(tc), compile=False))
    assert all(b.attn.rotate == scale.Rotary.apply for b in twin.blocks)       # the fast kernel did run
    assert all(b.attn.rotate is nb.apply_rotary for b in model.blocks)
    sa, sb = ema_a.state_dict(), ema_b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.allclose(sa[k], sb[k], atol=1e-5, rtol=0), (k, (sa[k] - sb[k]).abs().max().item())
    assert max((sa[k] - init[k]).abs().max() for k in sa) > 1e-3                 # (and training did move them)
    assert h_a["step"] == h_b["step"] == list(range(1, 13)) and h_a["val_step"] == h_b["val_step"] == [6, 12]
    assert h_a["train_loss"] == pytest.approx(h_b["train_loss"], rel=1e-5, abs=1e-6)
    assert h_a["val_bpc"] == pytest.approx(h_b["val_bpc"], rel=1e-5, abs=1e-6)
    assert h_a["best_step"] == h_b["best_step"] and h_a["best_val_bpc"] == pytest.approx(h_b["best_val_bpc"], rel=1e-5)
    assert not ema_a.training and not ema_b.training


def test_scale_config_is_the_recipe_plus_the_engineering(nb, scale):
    recipe = set(nb.asdict(nb.TrainConfig()))
    engineering = {"compile", "max_seconds", "resume_path", "resume_every", "clip", "patience"}
    assert set(nb.asdict(scale.ScaleConfig())) == recipe | engineering
    assert not engineering & recipe
    assert isinstance(scale.ScaleConfig(), nb.TrainConfig)
    # compile only on CUDA, and only for runs long enough to pay for compiling
    assert not scale.use_compile(scale.ScaleConfig(max_iters=5000), "cpu")
    assert scale.use_compile(scale.ScaleConfig(max_iters=5000), "cuda")
    assert not scale.use_compile(scale.ScaleConfig(max_iters=10), "cuda")
    assert scale.use_compile(scale.ScaleConfig(max_iters=10, compile=True), "cpu")


# ---- resumable state: plain tensors, numbers and strings, loaded with weights_only ------------------------------

class Cut(Exception):
    pass


def test_a_cut_off_run_resumes_to_the_same_weights_from_a_plain_state_file(nb, scale, tmp_path):
    """The state file loads with weights_only=True, and a run cut off after its third step (state saved every
    step) and started again ends with the weights of the run that was never cut, dropout and all."""
    data = torch.randint(8, (3000,), generator=torch.Generator().manual_seed(1))
    kw = dict(max_iters=8, batch_size=4, lr=3e-3, warmup_iters=2, eval_interval=4, eval_batches=1, ema_decay=0.5,
              compile=False, resume_every=0.0)
    whole, _ = scale.train_at_scale(tiny_model(nb, "absorbing", dropout=0.1), data[:2400], data[2400:],
                                    scale.ScaleConfig(**kw))
    path = str(tmp_path / "run.state.pt")

    def cut(step, ema):
        raise Cut(step)
    with pytest.raises(Cut):                 # the evaluation at step 4 comes before that step's state is written
        scale.train_at_scale(tiny_model(nb, "absorbing", dropout=0.1), data[:2400], data[2400:],
                             scale.ScaleConfig(**kw, resume_path=path), on_eval=cut)
    assert torch.load(path, map_location="cpu", weights_only=True)["it"] == 3
    resumed, h = scale.train_at_scale(tiny_model(nb, "absorbing", seed=7, dropout=0.1), data[:2400], data[2400:],
                                      scale.ScaleConfig(**kw, resume_path=path))
    assert h["step"] == list(range(1, 9))
    a, b = whole.state_dict(), resumed.state_dict()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), (k, (a[k] - b[k]).abs().max().item())


class Crafted:
    "An object whose unpickling calls open(marker, 'w'): what a malicious state file could make it call instead."
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_state_file_carrying_a_crafted_pickle_is_refused(scale, tmp_path):
    marker, path = tmp_path / "ran", tmp_path / "evil.state.pt"
    torch.save({"it": 3, "model": {}, "payload": Crafted(str(marker))}, path)
    with pytest.raises(ValueError, match="not loaded: unpickling it could run code.*--init-from"):
        scale.load_training_state(str(path))
    assert not marker.exists()                                  # nothing ran
    torch.load(path, weights_only=False)["payload"].close()     # (what the old loader would have run)
    assert marker.exists()


# ---- the in-place rotary kernel --------------------------------------------------------------------------------

def test_the_in_place_rotary_kernel_is_part_6s_formula_and_its_gradient(nb, scale):
    T, hs = 12, 8
    cos, sin = (r.double()[:, None] for r in nb.rotary_tables(T, hs))              # (T, 1, hs/2)
    x = torch.randn(2, T, 3, hs, dtype=torch.float64, requires_grad=True)
    fast, plain = scale.Rotary.apply(x, cos, sin), nb.apply_rotary(x, cos, sin)
    assert torch.allclose(fast, plain, atol=1e-12, rtol=0)
    assert torch.allclose(scale.rotate_inplace(x.detach(), cos, sin), plain.detach(), atol=1e-12, rtol=0)
    g = torch.randn_like(plain)
    assert torch.allclose(torch.autograd.grad(fast, x, g)[0], torch.autograd.grad(plain, x, g)[0], atol=1e-12)
    assert torch.autograd.gradcheck(lambda z: scale.Rotary.apply(z, cos, sin), (x,))


def test_fast_rotary_swaps_the_kernel_and_keeps_the_outputs(nb, scale):
    model = tiny_model(nb, "absorbing").eval()
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    x, sigma = torch.randint(9, (3, 16)), torch.rand(3, 1)
    before = model(x, sigma)
    assert scale.fast_rotary(model) is model
    assert all(b.attn.rotate == scale.Rotary.apply for b in model.blocks)
    assert torch.allclose(model(x, sigma), before, atol=1e-6)


# ---- the key/value cache -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("pos_emb", ["rotary", "learned"])
def test_the_cache_draws_what_the_plain_loop_draws(nb, scale, pos_emb):
    model = tiny_model(nb, "autoregressive", pos_emb=pos_emb).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    prompt = torch.tensor([3, 1, 4, 1, 5])
    for kw in (dict(), dict(prompt=prompt), dict(prompt=prompt, temperature=0.7)):
        length = 16 - (len(kw["prompt"]) if "prompt" in kw else 0)
        draw = lambda gen_fn, length=length, kw=kw: gen_fn(model, 5, length, generator=torch.Generator().manual_seed(3),
                                                           progress=False, **kw)
        plain, cached = draw(nb.generate_ar), draw(scale.generate_ar_cached)
        assert plain.shape == (5, length) and plain.max() < 8
        assert torch.equal(plain, cached), kw
    with pytest.raises(ValueError, match="exceeds the context"):
        scale.generate_ar_cached(model, 1, 13, prompt=prompt, progress=False)
    with pytest.raises(ValueError, match="eval mode"):
        scale.generate_ar_cached(model.train(), 1, 4, progress=False)


@pytest.mark.parametrize("pos_emb", ["rotary", "learned"])
def test_cached_logits_are_the_plain_forwards(nb, scale, pos_emb):
    """A prefill of the first characters, then one character at a time against the cache: the logits are those
    of one plain causal pass over the whole sequence, position by position."""
    model = tiny_model(nb, "autoregressive", pos_emb=pos_emb).eval()
    for p in model.parameters():
        p.data.normal_(0, 0.2)
    x = torch.cat([torch.full((4, 1), 8), torch.randint(8, (4, 15))], dim=1)     # BOS, then 15 characters
    full = model(x)                                                               # (4, 16, 8)
    cache = [dict() for _ in model.blocks]
    with torch.no_grad():
        assert torch.allclose(scale.forward_cached(model, x[:, :6], cache, 0), full[:, :6], atol=1e-5)
        for pos in range(6, 16):
            step = scale.forward_cached(model, x[:, pos:pos + 1], cache, pos)[:, -1]
            assert torch.allclose(step, full[:, pos], atol=1e-5), pos
    assert all(kv["k"].shape[2] == 16 for kv in cache)                           # every position kept once


# ---- Part 10: fixed characters -----------------------------------------------------------------------------------

def p3_law(seed):
    p = torch.rand(3, 3, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) ** 3
    return p / p.sum()


@pytest.mark.parametrize("sampler", ["first hitting", "tweedie"])
def test_sample_given_draws_the_exact_conditional_law_row_by_row(nb, sampler):
    """Absorbing graph, exact scores: each row of `fixed` (n, L) is its own condition, and the free positions
    follow p0's conditional law given it (first hitting is exact; 64 Tweedie steps are close)."""
    G, sched, p0 = nb.AbsorbingGraph(3), nb.LogLinearNoise(), p3_law(6)
    n = 40_000
    fixed = torch.tensor([[-1, 0, -1]] * (n // 2) + [[2, -1, -1]] * (n // 2))       # two conditions, two free each
    g = torch.Generator().manual_seed(6)
    if sampler == "first hitting":
        x = nb.sample_given(nb.first_hitting_sample, nb.exact_denoiser(p0, G), G, sched, fixed, n, generator=g,
                            progress=False)
    else:
        x = nb.sample_given(nb.sample, nb.exact_denoiser(p0, G), G, sched, fixed, n, 64, generator=g, progress=False)
    assert x.shape == (n, 3) and x.max() < G.mask
    assert torch.equal(x[fixed >= 0], fixed[fixed >= 0])
    top, bottom = x[: n // 2], x[n // 2:]
    assert nb.total_variation(top[:, [0, 2]], p0[:, 0, :] / p0[:, 0, :].sum()) < 0.02
    assert nb.total_variation(bottom[:, 1:], p0[2] / p0[2].sum()) < 0.02


def test_fix_coordinates_and_unfix(nb):
    fixed = torch.tensor([[5, -1, 7, -1], [-1, 6, -1, 4]])
    x_free = torch.tensor([[1, 2], [3, 0]])
    assert nb.unfix(fixed, x_free).tolist() == [[5, 1, 7, 2], [3, 6, 0, 4]]
    seen = []
    def den(x, sigma):
        seen.append(x)
        return x[..., None].double().expand(*x.shape, 9) + sigma[..., None]
    out = nb.fix_coordinates(den, fixed)(x_free, torch.zeros(2, 1))
    assert seen[0].tolist() == [[5, 1, 7, 2], [3, 6, 0, 4]]                       # whole sequences go in
    assert out.shape == (2, 2, 9) and out[..., 0].tolist() == [[1, 2], [3, 0]]    # the free positions come out
    with pytest.raises(ValueError, match="same number of free positions"):
        nb.fix_coordinates(den, torch.tensor([[5, -1, -1], [-1, 6, 7]]))
