"""The book's Exercises page lists exactly the registered exercises."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_writer():
    spec = importlib.util.spec_from_file_location("write_exercise_page", ROOT / "scripts" / "write_exercise_page.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exercise_page_is_up_to_date():
    writer = load_writer()
    assert writer.PAGE.read_text(encoding="utf-8") == writer.page(), \
        "book/exercises.md is out of date: run `python scripts/write_exercise_page.py`"


def test_anchors_follow_myst_slugs():
    writer = load_writer()
    assert writer.anchor("Exercise 1: the symmetric KL with `F.kl_div` ★★") == "exercise-1-the-symmetric-kl-with-fkl_div-"
