# Two commands do all the set-up on a fresh machine: `make book` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The torch build to install first. On a machine with a local CPU build of torch 2.13.0, pip takes
# it; elsewhere pip picks PyPI's default build (add --index-url https://download.pytorch.org/whl/cpu
# to TORCH_PIP_ARGS for a small CPU-only download).
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
# Progress bars stay quiet while notebooks execute for the book and under nbval.
export ATTNREG_QUIET := 1
# One thread per kernel: the stored outputs and nbval's re-run then add floating-point numbers in
# the same order on any machine, and nbval runs two notebooks at once on two cores.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1

.PHONY: book html test unit nbval nbval-perturbed tolerances execute site-test pdf lock clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install --no-deps -e .
	touch $(STAMP)

## book: execute every notebook in place, then build the HTML book into _build/html
book: $(STAMP)
	$(MAKE) execute
	$(MAKE) html

## html: build the HTML book from the committed outputs, warnings as errors
html: $(STAMP)
	$(BIN)/jupyter-book build . -W --keep-going

## test: unit tests, then nbval over every notebook
test: $(STAMP)
	$(MAKE) unit
	$(MAKE) nbval

unit: $(STAMP)
	$(BIN)/python -m pytest tests -n 2

# conftest.py sets nbval's options (current environment, tests/nbval_sanitize.cfg) and compares
# measured cells within the tolerance stated in their metadata, so a plain `pytest --nbval
# notebooks/` gives the same verdict.
nbval: $(STAMP)
	$(BIN)/python -m pytest --nbval -n 2 --dist loadfile $(NOTEBOOKS)

## nbval-perturbed: nbval with other floating-point kernels than the stored outputs were made with
# (ATen without SIMD, MKL's reproducible path): passes only if every measured cell's tolerance
# covers what another machine may print.
nbval-perturbed: $(STAMP)
	ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE $(MAKE) nbval

## tolerances: measure each cell's spread under perturbed numerics and store the tolerances (NB=...;
# TOLERANCE_ARGS="--env mkl-compatible --timeout 3000" for some environments or a busy machine)
tolerances: $(STAMP)
	$(BIN)/python scripts/measure_tolerances.py --write $(TOLERANCE_ARGS) $(NB)

## execute: run notebooks top to bottom and store their outputs (NB=notebooks/xx.ipynb for one)
NB ?= $(NOTEBOOKS)
execute: $(STAMP)
	$(BIN)/python scripts/execute_notebooks.py $(NB)

## site-test: build the book, then check every page in headless Chromium (desktop and phone width,
# no network): no page errors, math rendered, images loaded and described, nothing cut off, the
# phone menu, solution toggles and search. Screenshots go to _build/site-test/.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || echo /usr/bin/chromium)
site-test: html
	$(BIN)/python scripts/site_test.py --browser $(CHROMIUM)

## pdf: the whole book as one PDF, printed from the HTML book by headless Chromium
pdf: html
	$(BIN)/python scripts/make_pdf.py --browser $(CHROMIUM)

## lock: rewrite requirements.txt from the current environment
lock: $(STAMP)
	{ sed -n '1,3p' requirements.txt; $(BIN)/python -m pip freeze --exclude-editable \
		| sed 's/^torch==\([0-9.]*\)+.*/torch==\1/'; } > requirements.txt.new
	mv requirements.txt.new requirements.txt

clean:
	rm -rf _build
