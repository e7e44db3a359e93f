"""The house rule for paths: every results file name is spelled in ``io/layout.py`` only.

The names come from :class:`~mouseface.io.layout.ResultsLayout` itself (every path it gives,
methods called with a sample argument), so a file added there is checked from then on. A
module elsewhere in the package fails when it spells one of them as a path:

- a string literal that is a results file name (``"neurons.csv"``, ``"model/model.json"``);
- an f-string whose pattern is one (``f"dose_{column}.csv"``);
- a figure stem or a results folder joined onto a path (``out / "psth"``, ``root / "neural"``,
  ``out / f"qc_{animal}"``).

Prose is free to name files (docstrings, help texts, messages: literals with spaces), and so
are the few input files that share a name with a results file (:data:`NOT_RESULTS`).
"""

import ast
from pathlib import Path

import pytest

from mouseface.io.layout import ModelFiles, NeuralFiles, ResultsLayout

SRC = Path(__file__).resolve().parents[2] / "src" / "mouseface"
LAYOUT = SRC / "io" / "layout.py"
ROOT = Path("R")
SAMPLE = "SAMPLE"  # the argument of layout methods; stands for ``{}`` in f-string patterns

#: (module, literal): files of the inputs or of the simulated experiment named like results.
NOT_RESULTS = {
    ("synth/experiment.py", "sessions.csv"): "the simulated experiment's sessions table",
    ("synth/experiment.py", "events.csv"): "the simulated experiment's events table",
}


def _paths(obj, depth: int = 0) -> set[Path]:
    """Every path a layout object gives (methods called with :data:`SAMPLE` / defaults)."""
    out = set()
    for name in dir(type(obj)):
        if name.startswith("_") or name in ("root", "folder", "is_results",
                                            "stored_sessions"):
            continue
        attr = getattr(type(obj), name)
        if isinstance(attr, property):
            values = [getattr(obj, name)]
        elif callable(attr):
            values = []
            for args in ((), (SAMPLE,)):
                try:
                    values.append(getattr(obj, name)(*args))
                except TypeError:
                    continue
            if name in ("trial_metrics", "trial_metrics_figure"):
                values.append(getattr(obj, name)(True))
        else:
            continue
        for v in values:
            if isinstance(v, ModelFiles | NeuralFiles) and depth < 2:
                out |= _paths(v, depth + 1)
            elif isinstance(v, Path):
                out.add(v)
    return out


def _names() -> tuple[set[str], set[str]]:
    """(file names with their suffix, stems and folders): patterns with ``{}`` for SAMPLE."""
    files, joined = set(), set()
    for p in _paths(ResultsLayout(ROOT)):
        rel = p.relative_to(ROOT).as_posix().replace(SAMPLE, "{}")
        name = p.name.replace(SAMPLE, "{}")
        if p.suffix:
            files |= {name, rel}
        if p.suffix or name != "{}":
            joined.add(name.removesuffix(p.suffix) if p.suffix else name)
    return files, joined


FILES, JOINED = _names()


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _literal_part(pattern: str, suffix: str = "") -> str:
    return pattern.replace("{}", "").removesuffix(suffix)


def _spelled(path: Path, rel: str | None = None) -> list[str]:
    """Results paths spelled in the module at ``path`` (``rel``: its name in the package):
    ``line: literal``."""
    tree = ast.parse(path.read_text())
    prose = {id(n.value) for n in ast.walk(tree)
             if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    prose |= {id(k.value) for n in ast.walk(tree) if isinstance(n, ast.Call)
              for k in n.keywords if k.arg == "help"}
    in_fstring = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
                  for v in n.values}
    joined_on = {id(n.right) for n in ast.walk(tree)
                 if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)}
    rel = rel or path.relative_to(SRC).as_posix()
    out = []
    for node in ast.walk(tree):
        if id(node) in prose or id(node) in in_fstring:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if " " in text or (rel, text) in NOT_RESULTS:
                continue
            hit = text in FILES or any(text.endswith("/" + f) for f in FILES)
            hit |= id(node) in joined_on and text in JOINED
        elif isinstance(node, ast.JoinedStr):
            text = _pattern(node)
            if " " in text:
                continue
            # a pattern must say more than "{}" and a suffix (f"{session}.mp4" of inputs); a
            # stem only counts joined onto a path (f"dose_{c}" also names an analysis)
            hit = any(text == f and len(_literal_part(f, Path(f).suffix)) >= 2
                      for f in FILES | (JOINED if id(node) in joined_on else set()))
        else:
            continue
        if hit:
            out.append(f"{node.lineno}: {text!r}")
    return sorted(out, key=lambda h: int(h.split(":")[0]))


MODULES = sorted(p for p in SRC.rglob("*.py") if p != LAYOUT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_results_path_is_spelled_outside_the_layout(path):
    bad = _spelled(path)
    assert not bad, (f"{path.relative_to(SRC)} spells results paths (ask "
                     f"mouseface.io.layout.ResultsLayout instead): {bad}")


def test_the_names_come_from_the_layout():
    assert {"frames.parquet", "neurons.csv", "neural/neurons.csv", "model.json",
            "classification.json", "dose_{}.csv", "trial_metrics_normalized.csv",
            "compare_{}.json", "qc_{}.png"} <= FILES
    assert {"psth", "confusion", "qc_{}", "neural", "model"} <= JOINED


def test_the_check_sees_a_spelled_path(tmp_path):
    text = ('"""Writes neurons.csv."""\n'
            'a = out / "neurons.csv"\n'
            'b = f"dose_{column}.csv"\n'
            'c = out / "psth"\n'
            'd = "see summary in neural/neural_summary.json"\n'
            'e = f"{session}.mp4"\n'
            'f = root / "analysis"\n'
            'g = {f"dose_{column}": 1}\n')
    bad = tmp_path / "m.py"
    bad.write_text(text)
    hits = _spelled(bad, "workflows/m.py")
    assert sorted(int(h.split(":")[0]) for h in hits) == [2, 3, 4, 7]


def test_asking_for_a_path_creates_no_folder(tmp_path):
    from mouseface.io.results import Results

    layout = ResultsLayout(tmp_path)
    layout.frames.touch()
    layout.trials.touch()
    r = Results(tmp_path)
    assert not hasattr(r, "analysis_dir")
    for p in _paths(r.layout):
        assert str(p).startswith(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.parquet", "trials.csv"]
