# Two commands after cloning: `make course` builds everything; `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export TF_CPP_MIN_LOG_LEVEL := 3
export PYTHONUNBUFFERED := 1

.PHONY: course test test-fast data kernel browser mathjax pdf benchmark lint release solutions autograder book clean

course: data kernel release solutions autograder book

# Test files run side by side, one per core (pytest-xdist; a file's tests stay together, the
# longest files start first: tests/conftest.py). TEST_WORKERS=1 runs them one after another.
TEST_WORKERS ?= $(shell nproc)
XDIST = -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
test: data browser kernel mathjax pdf
	$(PY) -m pytest $(XDIST)

# The quick loop while developing: every test not marked slow (CI runs `make test`).
test-fast: data kernel mathjax
	$(PY) -m pytest $(XDIST) -m "not slow"

# --- setup ------------------------------------------------------------------
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt -e .
	touch $@

# Fashion-MNIST from Debian's package when no verified copy is found.
data: $(STAMP)
	@$(PY) -m vae_anomaly.data 2>/dev/null || { \
	  command -v apt-get >/dev/null || { $(PY) -m vae_anomaly.data; exit 1; }; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	  $(PY) -m vae_anomaly.data; }

# The grading kernel (vae_anomaly/decide/sandbox.py): bubblewrap, then the kernelspec that
# nbgrader and otter grade with; it checks that bubblewrap can make a sandbox here.
kernel: $(STAMP)
	@command -v bwrap >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq bubblewrap; }
	$(PY) -m vae_anomaly.decide.sandbox install

# Headless Chromium for the site's browser test, and axe-core (npm), the accessibility checker
# the test injects into every page (vendored like MathJax: the test makes no outside request).
AXE_VERSION := 4.10.3
AXE := tests/vendor/axe-core-$(AXE_VERSION)/axe.min.js
browser: $(AXE)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq chromium; }

# TeX and pandoc: otter's export cell makes the Gradescope PDF through LaTeX, as on a
# student's machine; the test checks that PDF has every hand-graded figure.
pdf:
	@command -v xelatex >/dev/null && command -v pandoc >/dev/null || { \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends \
	    texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc; }

$(AXE):
	rm -rf $(@D) $(@D).tmp && mkdir -p $(@D).tmp
	cd $(@D).tmp && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null && \
	  tar xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js package/LICENSE
	mv $(@D).tmp/package $(@D) && rm -rf $(@D).tmp

# --- checks -------------------------------------------------------------------
lint: $(STAMP)
	$(PY) -m ruff check .

benchmark: data
	$(PY) -m vae_anomaly.course.benchmark

clean:
	rm -rf _build release submitted submitted_members autograded autograded_logs feedback gradebook.db \
	  grades.csv grades-canvas.csv grades-moodle.csv autograder/dist autograder/grades similarity

# --- course site (book/instructor.md) ---------------------------------------------
# The site executes the reference solution at the grading budget (VAE_EPOCHS, from
# vae_anomaly/config.py) through jupyter-cache; the cache is cleared when the budget changes
# (its key is the notebook's code, not the environment). MathJax and axe-core (the browser
# test's accessibility checker) are vendored from the npm registry so the site works offline.
BOOK_EPOCHS ?= $(shell $(PY) -c 'from vae_anomaly.config import GRADING_EPOCHS as e; print(e)')
BOOK_CACHE := _build/.jupyter_cache
# IPython's folder for the book's kernels: its startup files seed Keras with GRADING_SEED and
# record the smallest text of every figure (vae_anomaly/course/figtext.py); a change to either
# executes the notebooks again.
BOOK_KERNEL := book/_ipython
BOOK_STARTUP := $(wildcard $(BOOK_KERNEL)/profile_default/startup/*.py) vae_anomaly/course/figtext.py
MATHJAX_VERSION := 3.2.2
MATHJAX := book/_static/mathjax
ASSIGNMENT := release/anomaly_vae/anomaly_vae.ipynb
JB := $(VENV)/bin/jupyter-book
.PHONY: book-benchmark

book: $(STAMP) $(MATHJAX)/tex-mml-chtml.js book/assignment/anomaly_vae.ipynb
	@for f in $(BOOK_STARTUP); do test $(BOOK_CACHE)/VAE_EPOCHS=$(BOOK_EPOCHS) -nt $$f || { \
	  rm -rf $(BOOK_CACHE) _build/.doctrees; echo "VAE_EPOCHS=$(BOOK_EPOCHS) or $$f changed:" \
	  "the notebooks are executed again"; break; }; done
	VAE_EPOCHS=$(BOOK_EPOCHS) IPYTHONDIR=$(CURDIR)/$(BOOK_KERNEL) \
	  nice -n 10 $(JB) build . --warningiserror --keep-going
	touch $(BOOK_CACHE)/VAE_EPOCHS=$(BOOK_EPOCHS)

# The site's copy of the student notebook (committed: the launch buttons open it).
$(ASSIGNMENT): source_assignments/anomaly_vae/anomaly_vae.ipynb nbgrader_config.py
	$(MAKE) release

book/assignment/anomaly_vae.ipynb: $(ASSIGNMENT)
	cmp -s $< $@ || cp $< $@

# MathJax for the site and for the students' feedback pages (inlined into each by
# vae_anomaly/course/feedback.py: nbgrader generate_feedback needs it).
mathjax: $(MATHJAX)/tex-mml-chtml.js

$(MATHJAX)/tex-mml-chtml.js:
	rm -rf $(MATHJAX) $(MATHJAX).tmp && mkdir -p $(MATHJAX).tmp
	cd $(MATHJAX).tmp && npm pack --silent mathjax@$(MATHJAX_VERSION) >/dev/null && \
	  tar xzf mathjax-$(MATHJAX_VERSION).tgz package/es5 --exclude='*svg*' \
	    --exclude='node-main.js' --exclude='*-full*'
	mv $(MATHJAX).tmp/package/es5 $(MATHJAX) && rm -rf $(MATHJAX).tmp

# PNGs of every page of the site and of a lab table at 1280 and 390 px, for review
# (_build/review/, not committed).
.PHONY: screenshots
screenshots: book browser
	$(PY) -m tests.support.screenshots

# Cold build (no _build: every notebook executes) and warm rebuild (nothing changed).
book-benchmark: $(STAMP) $(MATHJAX)/tex-mml-chtml.js
	rm -rf _build
	@build() { $(MAKE) --no-print-directory book >/dev/null 2>&1 || \
	  { echo "make book failed: run it to see why"; exit 1; }; }; \
	  t0=$$(date +%s%N); build; t1=$$(date +%s%N); build; t2=$$(date +%s%N); \
	  awk -v a=$$t0 -v b=$$t1 -v c=$$t2 -v e=$(BOOK_EPOCHS) 'BEGIN { printf \
	    "book build seconds: cold %.1f, warm %.1f (BOOK_EPOCHS=%s)\n", (b-a)/1e9, (c-b)/1e9, e }'

# --- otter-grader / Gradescope (book/instructor.md) -------------------------------------
# The otter autograder is generated from the nbgrader source. GRADE_EPOCHS overrides the
# grading budget (VAE_EPOCHS; default: nbgrader's). `make grade-otter SUBMISSIONS=dir`
# grades a folder of otter notebooks without Docker into autograder/grades/otter_grades.csv,
# and keeps each notebook as otter ran it, figures included, in autograder/grades/executed/.
GRADE_EPOCHS ?=
OTTER_ZIP := autograder/dist/autograder/autograder.zip
SUBMISSIONS ?= submitted_otter
WORKERS ?=
SCHEDULER ?=
PARALLEL = $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
.PHONY: grade-otter otter-benchmark

autograder: $(STAMP)
	$(PY) -m vae_anomaly.course.otter_master $(if $(GRADE_EPOCHS),--epochs $(GRADE_EPOCHS))

grade-otter: autograder data kernel
	nice -n 10 $(PY) -m vae_anomaly.course.otter_grade $(SUBMISSIONS) --autograder $(OTTER_ZIP) \
	  $(if $(GRADE_EPOCHS),--epochs $(GRADE_EPOCHS)) --out autograder/grades/otter_grades.csv \
	  --executed autograder/grades/executed $(PARALLEL)

# `otter run` of the reference solution at the grading budget (target: <= 90 s on 2 cores).
otter-benchmark: autograder data
	rm -rf autograder/dist/benchmark && mkdir -p autograder/dist/benchmark
	cp autograder/dist/autograder/anomaly_vae.ipynb autograder/dist/benchmark/reference.ipynb
	nice -n 10 $(PY) -m vae_anomaly.course.otter_grade autograder/dist/benchmark --autograder \
	  $(OTTER_ZIP) $(if $(GRADE_EPOCHS),--epochs $(GRADE_EPOCHS)) --out autograder/dist/benchmark/grades.csv
	@echo "budget: 90 s on 2 cores; this machine: $$(nproc) cores, load average $$(cut -d' ' -f1-3 /proc/loadavg)"

# --- research lab (vae_anomaly/lab): one JSON per run in results/lab/<profile>/, resumable ---
# lab-quick: every code path on a subsample (~1-2 min); lab-full: the published grid, 95 runs
# (estimated 1.4-1.7 h on 2 cores; it prints its estimate first and skips stored runs).
.PHONY: lab-quick lab-full
lab-quick: data
	nice -n 10 $(PY) -m vae_anomaly.lab.run --profile quick

lab-full: data
	nice -n 10 $(PY) -m vae_anomaly.lab.run --profile full

# --- nbgrader assignment (book/instructor.md) -------------------------------------
# release/ and solutions/ are generated from source_assignments/anomaly_vae/anomaly_vae.ipynb.
.PHONY: calibrate converged benchmark-autograde
release: $(STAMP)
	$(PY) -m vae_anomaly.course.build release

solutions: $(STAMP)
	$(PY) -m vae_anomaly.course.build solutions

# The grading budget and the detector test's marks: the designs/ family over seeds, each run
# trained to the largest budget compared and measured at each (resumes a stopped sweep; about
# 45 min on 2 idle cores), then the notebook's rules cell and what uses it. Put the budget it
# chose into GRADING_EPOCHS (vae_anomaly/config.py; a test checks the two agree).
calibrate: data
	nice -n 10 $(PY) -m vae_anomaly.course.calibrate
	$(PY) -m vae_anomaly.course.build rules
	$(MAKE) release solutions autograder

# The reference trained until its loss stops going down (the solution's early stopping, at most
# CONVERGED_EPOCHS epochs; a few minutes): the solution page shows it beside the budget run.
converged: data
	nice -n 10 $(PY) -m vae_anomaly.course.calibrate --converged

# Seconds to autograde the reference (with and without the sandbox) and a conv design, and
# where they go (the profile: start-up, each cell, each epoch; book/instructor.md).
benchmark-autograde: data kernel
	nice -n 10 $(PY) -m vae_anomaly.course.autograde_benchmark

# --- grading a large class (book/instructor.md) -------------------------------------------
# `make grade`: every submitted/<student>/ with the real `nbgrader autograde`, one temporary
# course per student, on a Dask LocalCluster sized to this machine (WORKERS=n) or on an
# existing cluster (SCHEDULER=tcp://host:8786), merged into gradebook.db; resumable.
.PHONY: grade benchmark-grade
grade: data kernel
	nice -n 10 $(PY) -m vae_anomaly.course.grade_class . $(PARALLEL) \
	  $(if $(GRADE_EPOCHS),--epochs $(GRADE_EPOCHS))

# Submissions per minute with 1 and 2 workers, in one run (results/grade_benchmark.json).
benchmark-grade: data kernel
	nice -n 10 $(PY) -m vae_anomaly.course.grade_benchmark

# --- groups and the grades export (book/instructor.md, "Groups, peer review and export") -----
# `make export`: one row per student (their group's scores, adjustments, late penalty, flag)
# into grades.csv; LMS=canvas or LMS=moodle writes grades-<lms>.csv with the columns that
# system imports, final totals only. groups.csv and adjustments.csv are read, never written.
LMS ?=
.PHONY: export
export: $(STAMP)
	$(PY) -m vae_anomaly.course.export . $(if $(LMS),--$(LMS))
# --- finding copied work (book/instructor.md) ------------------------------------------------
# `make similarity`: every pair of COURSE/submitted/ compared on the code of the answer cells
# and on the written answers, the release and the declared public sources (TEMPLATES=paths,
# besides vae_anomaly/course/similarity_templates/) removed as template, into
# COURSE/similarity/report.html and pairs.csv; both sides of a pair at or above the threshold
# are flagged for review in the gradebook, for the instructor only (never in feedback).
COURSE ?= .
THRESHOLD ?=
TEMPLATES ?=
.PHONY: similarity similarity-benchmark
similarity: $(STAMP)
	$(PY) -m vae_anomaly.course.similarity $(COURSE) $(if $(THRESHOLD),--threshold $(THRESHOLD)) \
	  $(if $(TEMPLATES),--template $(TEMPLATES))

# Precision, recall and margins on the synthetic class of tests/similarity_class/, and the
# seconds for 300 submissions (target: <= 60 s on 2 cores), into results/similarity.json.
similarity-benchmark: $(STAMP)
	nice -n 10 $(PY) -m tests.support.similarity_class
