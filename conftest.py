"""pytest settings shared by the unit tests and nbval, for every way of running them.

- nbval's kernels inherit this process's environment, so setting it here makes every run of nbval
  (`make test`, or a plain `pytest --nbval notebooks/`) use the settings that `make execute` stored
  the outputs with: no progress bars, one thread per kernel.
- nbval runs in the current environment and applies `tests/nbval_sanitize.cfg`, unless the command
  line says otherwise.
- Measured cells (metadata `tolerance`) are compared number by number within their tolerance:
  see `tests/nbval_tolerance.py`.
"""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("ATTNREG_QUIET", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))

import nbval_tolerance  # noqa: E402  (found through the path set just above)


@pytest.fixture(autouse=True)
def _progress_file_in_a_temporary_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Checker calls in the unit tests record exercise progress in a temporary data folder, never in
    the developer's own (`attnreg.exercises.progress_file`)."""
    monkeypatch.setenv("ATTNREG_DATA", str(tmp_path_factory.mktemp("attnreg-data")))


@pytest.fixture(autouse=True)
def _learner_source_lines_hidden(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the checkers' tests, a wrong implementation must be rejected for the reason its test names.

    A checker reports a learner's exception with the learner's source lines; in a test those lines
    often hold the very message the test expects (``(lambda ...: ..., "message")``), so a wrong
    implementation that merely crashes would pass the message check. Here the lines are replaced
    by a placeholder, except in tests marked ``shows_learner_source`` that check the lines themselves.
    """
    if not request.path.name.startswith("test_exercises_") or request.node.get_closest_marker("shows_learner_source"):
        return
    from attnreg.exercises import _framework

    describe = _framework.describe_exception

    def without_source(error: BaseException, skip: int = 0) -> str:
        return "\n".join("    line (hidden in tests)" if line.startswith("    line ") else line
                         for line in describe(error, skip).split("\n"))

    monkeypatch.setattr(_framework, "describe_exception", without_source)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shows_learner_source: the test checks the learner's source lines in a report")
    option = config.option
    if not getattr(option, "nbval", False) and not getattr(option, "nbval_lax", False):
        return
    if not option.nbval_sanitize_with and not option.sanitize_with:
        option.nbval_sanitize_with = str(ROOT / "tests" / "nbval_sanitize.cfg")
    if not option.nbval_kernel_name and not option.current_env:
        option.nbval_current_env = True
    nbval_tolerance.install()
