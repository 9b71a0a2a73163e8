"""The shipped results: complete, honest about their error, and the same numbers as the README."""
import json
import math
import os
import re

import pytest

from conftest import ROOT

RESULTS = ROOT / "assets" / "results.json"


@pytest.fixture(scope="module")
def results():
    return json.loads(RESULTS.read_text())


def test_readme_table_is_generated_from_results_json(nb, results):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- results:start -->\n(.*?)\n<!-- results:end -->", readme, re.S)
    assert block, "README.md has no results block"
    assert block.group(1).strip() == nb.results_table(results["cpu"]).strip()


def test_results_are_complete_and_measured(results):
    cpu = results["cpu"]
    assert cpu["preset"] == "cpu" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", cpu["date"])
    for name in ("absorbing", "uniform", "autoregressive"):
        b = cpu["bits_per_char"][name]
        assert 0.5 < b["bpc"] < 6 and math.isfinite(b["bpc"])
    for name in ("absorbing", "uniform"):
        assert 0 < cpu["bits_per_char"][name]["se"] < 0.01            # the bound's Monte Carlo error
    assert cpu["bits_per_char"]["autoregressive"]["se"] == 0           # exact
    runs = cpu["quality"]["runs"]
    assert set(runs) == {"absorbing/tweedie", "absorbing/euler", "uniform/tweedie", "uniform/euler"}
    assert all([r["steps"] for r in rows] == [8, 16, 32, 64, 128, 256] for rows in runs.values())
    assert set(cpu["speed_seconds"]["diffusion"]) == {"1", "32"}


def test_shipped_checkpoints_load_with_the_cpu_preset(nb, results):
    ns = dict(vars(nb))
    params = next(c for c in json.loads((ROOT / "annotated_diffusion.ipynb").read_text())["cells"]
                  if "parameters" in c.get("metadata", {}).get("tags", []))
    old = os.environ.get("DIFFUSION_PRESET")
    os.environ["DIFFUSION_PRESET"] = "cpu"
    try:
        exec("".join(params["source"]), ns)
    finally:
        os.environ.pop("DIFFUSION_PRESET") if old is None else os.environ.__setitem__("DIFFUSION_PRESET", old)
    for name in ("absorbing", "uniform", "autoregressive"):
        path = ROOT / "assets" / f"cpu-{name}.pt"
        assert path.stat().st_size < 20e6
        import torch
        vocab = nb.Vocab(torch.load(path, weights_only=True)["vocab"])
        model, blob = nb.load_checkpoint(str(path), nb.build_config(ns["P"], len(vocab), name), vocab)
        assert blob["step"] == ns["P"]["max_iters"]
        if name == "absorbing":                            # the notebook's main model
            assert nb.count_params(model) == results["cpu"]["params"]
