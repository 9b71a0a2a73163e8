"""The one loader: the notebook's `export` cells, run alone and in order, define the library.

Scripts and tests import the notebook through this module, so nothing is copied out of it:

    from notebook import load_notebook, load_data
    nb = load_notebook("smoke")          # the export cells, then the parameters cell with that preset
"""
import json
import os
import pathlib
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "annotated_diffusion.ipynb"


def cells_tagged(tag, path=NOTEBOOK):
    nb = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code" and tag in c.get("metadata", {}).get("tags", [])]


def load_notebook_exports(path=NOTEBOOK, name="annotated_diffusion"):
    "A module holding everything the notebook's `export` cells define."
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module          # dataclasses look their module up here
    for cell in cells_tagged("export", path):
        exec(compile("".join(cell["source"]), f"{path}:export", "exec"), module.__dict__)
    return module


def notebook_function(name, path=NOTEBOOK, **imports):
    """One function of the export cells, defined alone in a namespace of `imports` (module objects by name), without
    running the rest: for tools that must not need torch (the post's exporter takes `atomic_write` this way)."""
    import ast
    for cell in cells_tagged("export", path):
        tree = ast.parse("".join(cell["source"]))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                namespace = dict(imports)
                exec(compile(ast.Module([node], []), f"{path}:{name}", "exec"), namespace)
                return namespace[name]
    raise KeyError(f"no function {name!r} in the notebook's export cells")


def load_notebook(preset=None):
    "The export cells, then the parameters cell (DIFFUSION_PRESET=preset when given): a module."
    nb = load_notebook_exports()
    if preset is not None:
        os.environ["DIFFUSION_PRESET"] = preset
    exec("".join(cells_tagged("parameters")[0]["source"]), nb.__dict__)
    return nb


def load_data(nb, path=None):
    "Tiny Shakespeare as the notebook reads it: (text, vocab, train ids, validation ids), split 90/10."
    import torch
    text = nb.load_text(str(path or ROOT / "data" / "input.txt"))
    vocab = nb.Vocab.from_text(text)
    data = torch.tensor(vocab.encode(text), dtype=torch.long)
    n = int(0.9 * len(data))
    return text, vocab, data[:n], data[n:]
