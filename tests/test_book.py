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


def test_the_measured_parts_are_a_small_share_of_the_book():
    parts = by_part()
    code = sum(v[0] for v in parts.values())
    words = sum(v[1] for v in parts.values())
    measured = [parts[p] for p in (9, 10, 11)]
    assert sum(v[0] for v in measured) <= 0.25 * code, "Parts 9-11 hold more than 25% of the code lines"
    assert sum(v[1] for v in measured) <= 0.30 * words, "Parts 9-11 hold more than 30% of the prose"
    assert max(parts) >= 12 and parts[12][1] > 100                       # a conclusion, in words


def test_no_cell_prints_more_than_40_lines_and_parts_2_to_10_check_themselves():
    for part, (_, _, texts) in by_part().items():
        assert all(t.count("\n") <= 40 for t in texts), f"a cell of Part {part} prints more than 40 lines"
        if 2 <= part <= 10:
            assert any("✔" in t for t in texts), f"Part {part} has no ✔ check in its stored outputs"
