"""Import the notebook through its `export` cells, with the project's one loader (scripts/notebook.py)."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "scripts"))
from notebook import NOTEBOOK, ROOT, load_notebook_exports  # noqa: E402,F401


@pytest.fixture(scope="session")
def nb():
    return load_notebook_exports()


@pytest.fixture(scope="session")
def measure(nb):
    "The notebook's appendix on measuring (scripts/measure.py), which calls the notebook's definitions."
    import measure
    return measure


@pytest.fixture(scope="session")
def report(nb):
    "The notebook's appendix on wording (scripts/report.py): the findings, the printed lines, the README's tables."
    import report
    return report


@pytest.fixture(scope="session")
def figures(nb):
    "The notebook's appendix on drawing (scripts/figures.py): the code of every figure."
    import figures
    return figures


@pytest.fixture(scope="session")
def scale(nb):
    "The notebook's appendix on engineering (scripts/scale.py): the recipe at scale and the KV cache."
    import scale
    return scale
