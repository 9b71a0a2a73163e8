"""Import the notebook through its `export` cells: run alone, in order, they define the library."""
import json
import pathlib
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "annotated_diffusion.ipynb"


def load_notebook_exports(path=NOTEBOOK, name="annotated_diffusion"):
    nb = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"]
             if c["cell_type"] == "code" and "export" in c.get("metadata", {}).get("tags", [])]
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module          # dataclasses look their module up here
    for cell in cells:
        exec(compile("".join(cell["source"]), f"{path}:export", "exec"), module.__dict__)
    return module


@pytest.fixture(scope="session")
def nb():
    return load_notebook_exports()
