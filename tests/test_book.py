"""The notebook reads as a book: the measured Parts stay a small share of it, no cell floods the page, every Part
from 2 to 10 ends a component with a ✔ check, and the contents list names every Part."""
import json
import re

from conftest import NOTEBOOK

CELLS = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
src = lambda c: "".join(c["source"])


def by_part():
    "Per Part: (code lines that are neither blank nor comments, words of prose, stored output text)."
    part, out = 0, {}
    for c in CELLS:
        m = re.match(r"##\s+Part\s+(\d+)", src(c)) if c["cell_type"] == "markdown" else None
        if m:
            part = int(m.group(1))
        code, words, text = out.get(part, (0, 0, []))
        if c["cell_type"] == "code":
            code += sum(1 for line in src(c).splitlines() if line.strip() and not line.strip().startswith("#"))
            text.append("".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                                for o in c.get("outputs", [])))
        else:
            words += len(re.findall(r"\S+", src(c)))
        out[part] = (code, words, text)
    return out


def code_lines(c):
    return sum(1 for line in src(c).splitlines() if line.strip() and not line.strip().startswith("#"))


def test_the_measured_parts_are_a_small_share_of_the_book():
    """The measurement machinery lives in the appendix (scripts/measure.py, figures.py, report.py): the cells of Parts
    9-11 that drive it hold a small share of the code, and the Parts' prose a small share of the words."""
    parts = by_part()
    code = sum(v[0] for v in parts.values())
    words = sum(v[1] for v in parts.values())
    part, driving = 0, 0
    for c in CELLS:
        m = re.match(r"##\s+Part\s+(\d+)", src(c)) if c["cell_type"] == "markdown" else None
        part = int(m.group(1)) if m else part
        if c["cell_type"] == "code" and 9 <= part <= 11 and re.search(r"\b(measure|figures|report)\.", src(c)):
            driving += code_lines(c)
    assert driving <= 0.10 * code, f"the measurement cells of Parts 9-11 hold {driving} of {code} code lines"
    assert sum(parts[p][1] for p in (9, 10, 11)) <= 0.30 * words, "Parts 9-11 hold more than 30% of the prose"
    assert max(parts) >= 14 and parts[14][1] > 100                       # a conclusion, in words


def reading_path():
    """Per Part, the code a reader scrolls through: non-blank, non-comment lines of code cells that are neither
    collapsed (a Colab form, hidden in JupyterLab) nor in an appendix Part."""
    part, appendix, out = 0, False, {}
    for c in CELLS:
        m = re.match(r"##\s+Part\s+(\d+):\s*(.*)", src(c)) if c["cell_type"] == "markdown" else None
        if m:
            part, appendix = int(m.group(1)), m.group(2).startswith("Appendix")
        if c["cell_type"] == "code" and c["metadata"].get("cellView") != "form" and not appendix:
            out[part] = out.get(part, 0) + code_lines(c)
    return out


def test_the_reading_path_keeps_its_budgets():
    """The whole reading path at most 1,100 lines (1,486 before the lesson came first, 1,132 before the appendix
    Part); Part 11 at most 120; the results, infilling and Part 11 together at most a quarter of it."""
    path = reading_path()
    total = sum(path.values())
    assert total <= 1100, f"{total} lines of code on the reading path"
    assert path[11] <= 120, f"Part 11 shows {path[11]} lines of code"
    measured = path[9] + path[10] + path[11]
    assert measured <= 0.25 * total, f"Parts 9-11 hold {measured} of {total} lines"
    assert 15 not in path                                                     # the appendix is off the path


def test_no_cell_prints_more_than_40_lines_and_parts_2_to_10_and_12_check_themselves():
    for part, (_, _, texts) in by_part().items():
        assert all(t.count("\n") <= 40 for t in texts), f"a cell of Part {part} prints more than 40 lines"
        if 2 <= part <= 10 or part == 12:
            assert any("✔" in t for t in texts), f"Part {part} has no ✔ check in its stored outputs"


def part_cells(n):
    "The cells of Part n, in order."
    part, out = None, []
    for c in CELLS:
        m = re.match(r"##\s+Part\s+(\d+)", src(c)) if c["cell_type"] == "markdown" else None
        part = int(m.group(1)) if m else part
        if part == n:
            out.append(c)
    return out


def sentences(text):
    "Sentences of prose, Markdown marks and maths removed."
    text = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|```.*?```|`[^`]*`|\*\*|\*|^#+ .*$|^\|.*\|$", " ", text, flags=re.S | re.M)
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+|\n\s*\n|\n\* ", text) if len(s.split()) >= 6]


def outputs_markdown(c):
    return "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in c.get("outputs", []))


def test_the_conclusion_reads_as_a_book():
    """Part 14: one table of at most 300 generated words, hand-written takeaways and sections, no sentence over 40
    words, and no sentence that stands elsewhere in the notebook."""
    cells = part_cells(14)
    generated = " ".join(outputs_markdown(c) for c in cells)
    assert generated.count("\n|") >= 5 and len(re.findall(r"\w+", generated)) <= 300
    written = "\n\n".join(src(c) for c in cells if c["cell_type"] == "markdown")
    for heading in ("### Takeaways", "### What worked", "### What falls short", "### When to reach for it",
                    "### What might close the gap", "### Open questions"):
        assert heading in written
    mine = sentences(written) + sentences(generated)
    assert mine and max(len(s.split()) for s in mine) <= 40, max(mine, key=lambda s: len(s.split()))
    elsewhere = "\n".join(src(c) + outputs_markdown(c) for c in CELLS if c not in cells)
    assert not [s for s in mine if s in elsewhere]
