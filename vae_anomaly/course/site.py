"""Sphinx helpers for the course site (loaded by ``_config.yml``).

* ``publish_solution``: the one switch that shows or hides the solution pages
  (``solution_pages``); a hidden page is left out of the toc and of the build.
* Numbers and figures from the stored results, never typed by hand:

  - ``{bench}`bce_vae.roc_auc``` is the mean over seeds in ``results/benchmark.json``;
    a word after it picks the format: ``pm`` mean ± sd, ``n`` number of runs, ``.1f`` …;
  - ``{result}`calibration.json:some.key .3f``` is any value of a results JSON file;
  - the ``benchmark-table`` and ``benchmark-figure`` directives show every method;
  - the ``result-table`` directive puts objects of a results file side by side, one
    column each (a row per key, e.g. the phases of ``autograde_benchmark.json``'s profile).

A page that uses them is rebuilt when the JSON changes; a missing file or key is a
build warning (an error under ``-W``) that names the command that makes it.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import statistics
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx import addnodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective, SphinxRole

logger = logging.getLogger(__name__)

BENCHMARK = "benchmark.json"
MAKES = {BENCHMARK: "make benchmark", "calibration.json": "make calibrate",
         "autograde_benchmark.json": "make benchmark-autograde",
         "similarity.json": "make similarity-benchmark"}

# method -> (name on the site, what it scores)
METHODS = {
    "reference": ("VAE, Gaussian decoder", "−ELBO, learned global σ"),
    "bce_vae": ("VAE, Bernoulli decoder", "−ELBO with a BCE likelihood"),
    "recon_mse": ("VAE reconstruction", "pixel MSE of the reference's reconstruction"),
    "pca50": ("PCA, 50 components", "reconstruction error"),
    "pca16": ("PCA, 16 components", "reconstruction error"),
    "isolation_forest": ("Isolation forest", "path length, on raw pixels"),
    "knn_pca50": ("5 nearest neighbours", "mean distance in 50 PCA components"),
}
REFERENCE_LIKELIHOOD = "gaussian_learned"
METRICS = {  # field -> (heading, format in tables, format in text)
    "roc_auc": ("ROC AUC", ".3f", ".2f"),
    "ap": ("Avg. precision", ".3f", ".2f"),
    "train_s": ("Time (s)", ".1f", ".0f"),
    "s_per_epoch": ("s / epoch", ".1f", ".1f"),
}


class ResultsError(ValueError):
    """A results file or one of its values is missing."""


def results_path(env, name: str) -> Path:
    """``results/<name>``, noted as a dependency of the page being read."""
    path = Path(env.srcdir) / env.config.results_dir / name
    env.note_dependency(str(path))
    if not path.is_file():
        raise ResultsError(f"{path.relative_to(env.srcdir)} is missing: run "
                           f"`{MAKES.get(name, 'the command that writes it')}` first")
    return path


def load_json(env, name: str):
    """The content of ``results/<name>``."""
    return json.loads(results_path(env, name).read_text())


def benchmark_records(env) -> list[dict]:
    """The per-run records of the benchmark (a list, or the ``records`` of a dict)."""
    data = load_json(env, BENCHMARK)
    records = data.get("records") if isinstance(data, dict) else data
    if not records:
        raise ResultsError(f"{BENCHMARK} holds no records")
    return records


def method_stats(records: list[dict], method: str, field: str) -> tuple[float, float, int]:
    """Mean, standard deviation (as numpy's) and count of ``field`` over ``method``'s runs."""
    values = [r[field] for r in records if r.get("method") == method and r.get(field) is not None]
    if not values:
        raise ResultsError(f"no {field!r} for method {method!r} in {BENCHMARK}")
    sd = statistics.stdev(values) if len(values) > 1 else 0.0  # the sample sd (n - 1)
    return statistics.fmean(values), sd, len(values)


def method_label(records: list[dict], method: str) -> tuple[str, str]:
    """(name, score) of a method; other VAE designs are named by their settings."""
    if method in METHODS:
        return METHODS[method]
    run = next((r for r in records if r["method"] == method), None)
    if run is None:
        raise ResultsError(f"no method {method!r} in {BENCHMARK}")
    if "latent_dim" in run and "epochs" in run:
        likelihood, beta = run.get("likelihood", REFERENCE_LIKELIHOOD), run.get("beta", 1.0)
        default = likelihood in ("gaussian", REFERENCE_LIKELIHOOD)  # its name before the lab's
        parts = (["VAE"] + ([] if default else [likelihood])
                 + [f"z = {run['latent_dim']}", f"{run['epochs']} epochs"]
                 + ([f"β = {beta:g}"] if beta != 1.0 else []))
        return ", ".join(parts), "−ELBO"
    return method, str(run.get("score", ""))


def methods_in(records: list[dict], patterns: str = "") -> list[str]:
    """Methods matching any of the (glob) ``patterns`` (all if none), in the site's order."""
    seen = list(dict.fromkeys(r["method"] for r in records))
    ordered = [m for m in METHODS if m in seen] + [m for m in seen if m not in METHODS]
    if not patterns.split():
        return ordered
    chosen = [m for m in ordered if any(fnmatch.fnmatchcase(m, p) for p in patterns.split())]
    if not chosen:
        raise ResultsError(f"no method matching {patterns!r} in {BENCHMARK}")
    return chosen


def fmt(value, spec: str) -> str:
    """``format(value, spec)`` with a true minus sign for numbers."""
    text = format(value, spec)
    return text.replace("-", "−") if isinstance(value, (int, float)) else text


def lookup(data, dotted: str):
    """``data["a"]["b"][0]`` for ``"a.b.0"``; a key in braces is the value at that key of
    the same file (``per_budget.{epochs}.learned``: the entry of the budget chosen)."""
    root = data
    for key in dotted.split("."):
        if key.startswith("{") and key.endswith("}"):
            key = str(lookup(root, key[1:-1]))
        if isinstance(data, list):
            data = data[int(key)]
        elif isinstance(data, dict) and key in data:
            data = data[key]
        else:
            raise ResultsError(f"no key {key!r} (in {dotted!r})")
    return data


class _ResultRole(SphinxRole):
    """A number from a results file; a missing one is a build warning naming the fix."""

    def run(self):
        text, _, spec = self.text.strip().partition(" ")
        try:
            value = self.value(text.strip(), spec.strip())
        except (ResultsError, KeyError, ValueError, IndexError) as err:
            logger.warning(f"{{{self.name}}}`{self.text}`: {err}", location=self.get_location(),
                           type="vae_site", subtype="results")
            return [nodes.problematic(self.rawtext, self.rawtext)], []
        return [nodes.inline(self.rawtext, value, classes=["result"])], []


class BenchRole(_ResultRole):
    """``method.field [pm|n|<format>]`` from the benchmark records."""

    def value(self, text, spec):
        method, _, field = text.partition(".")
        mean, sd, n = method_stats(benchmark_records(self.env), method, field or "roc_auc")
        _, in_table, in_text = METRICS.get(field, (field, ".3f", ".2f"))
        if spec == "n":
            return str(n)
        if spec == "pm":  # as in the tables: the spread over seeds needs the third digit
            return f"{fmt(mean, in_table)}\u00a0±\u00a0{fmt(sd, in_table)}"
        return fmt(mean, spec or in_text)


class ResultRole(_ResultRole):
    """``file.json:dotted.key [<format>]`` from any results file."""

    def value(self, text, spec):
        name, _, key = text.partition(":")
        value = lookup(load_json(self.env, name), key) if key else load_json(self.env, name)
        return fmt(value, spec) if spec else str(value)


class BenchmarkTable(SphinxDirective):
    """Every method's mean ± sd over seeds, best ROC AUC first."""

    option_spec = {"metrics": directives.unchanged, "methods": directives.unchanged}

    def run(self):
        try:
            records = benchmark_records(self.env)
            metrics = self.options.get("metrics", "roc_auc ap train_s").split()
            methods = methods_in(records, self.options.get("methods", ""))
            rows = sorted((self.row(records, m, metrics) for m in methods), key=lambda r: -r[0])
        except ResultsError as err:
            logger.warning(f"benchmark-table: {err}", location=self.get_location(),
                           type="vae_site", subtype="results")
            return []
        headings = ["Method", "Score"] + [METRICS.get(m, (m,))[0] for m in metrics] + ["Runs"]
        rows = [cells for _, cells in rows]
        if len({cells[-1] for cells in rows}) == 1:  # the same number of runs: say it in the text
            headings, rows = headings[:-1], [cells[:-1] for cells in rows]
        return [table(headings, rows, classes=["benchmark-table"])]

    @staticmethod
    def row(records, method, metrics):
        """(mean ROC AUC, cells) of one method; "–" where it has no value."""
        cells = list(method_label(records, method))
        for metric in metrics:
            try:
                mean, sd, n = method_stats(records, method, metric)
            except ResultsError:
                cells.append("–")
                continue
            spec = METRICS.get(metric, (metric, ".3f"))[1]
            cells.append(fmt(mean, spec) + (f"\u00a0±\u00a0{fmt(sd, spec)}" if n > 1 else ""))
        auc, _, runs = method_stats(records, method, "roc_auc")
        return auc, cells + [str(runs)]


class ResultTable(SphinxDirective):
    """Objects ``{name: number}`` of a results file side by side: the argument is the file,
    each content line ``Heading: dotted.key`` a column, each name a row (in the first
    column's order), a number ``:format:``ted, ``–`` where a column has no such name;
    ``:total:`` adds a row of the columns' sums under that name. With ``:rows: dotted.key``
    (an object of objects, one per row), each column's key is read inside each row."""

    required_arguments = 1
    has_content = True
    option_spec = {"first": directives.unchanged, "format": directives.unchanged,
                   "total": directives.unchanged, "rows": directives.unchanged}

    def run(self):
        spec = self.options.get("format", "")
        try:
            data = load_json(self.env, self.arguments[0])
            lines = [(heading.strip(), key.strip()) for heading, _, key
                     in (line.rpartition(":") for line in self.content if line.strip())]
            if "rows" in self.options:
                rows = lookup(data, self.options["rows"])
                columns = [(heading, {name: lookup(row, key) for name, row in rows.items()})
                           for heading, key in lines]
            else:
                columns = [(heading, lookup(data, key)) for heading, key in lines]
            if not columns or not all(isinstance(values, dict) for _, values in columns):
                raise ResultsError("each column must name an object of the file")
        except ResultsError as err:
            logger.warning(f"result-table: {err}", location=self.get_location(),
                           type="vae_site", subtype="results")
            return []
        headings = [self.options.get("first", "")] + [heading for heading, _ in columns]
        rows = side_by_side([values for _, values in columns], spec, self.options.get("total"))
        return [table(headings, rows, classes=["result-table"])]


def side_by_side(columns: list[dict], spec: str = "", total: str | None = None) -> list[list]:
    """Rows ``[name, value of each column]`` over every name in order, ``–`` where a column
    lacks it; then, with ``total``, a row of each column's sum."""
    names = list(dict.fromkeys(name for values in columns for name in values))
    rows = [[name] + [fmt(values[name], spec) if name in values else "–" for values in columns]
            for name in names]
    if total is not None:
        rows.append([total] + [fmt(sum(values.values()), spec) for values in columns])
    return rows


def table(headings, rows, classes=()):
    """A plain docutils table."""
    tgroup = nodes.tgroup(cols=len(headings))
    tgroup += [nodes.colspec(colwidth=1) for _ in headings]
    thead, tbody = nodes.thead(), nodes.tbody()
    for parent, cells_list in ((thead, [headings]), (tbody, rows)):
        for cells in cells_list:
            row = nodes.row()
            row += [nodes.entry("", nodes.paragraph(text=str(c))) for c in cells]
            parent += row
    tgroup += [thead, tbody]
    return nodes.table("", tgroup, classes=list(classes))


def anomaly_rate() -> float:
    """The share of anomalies in the test set: Fashion-MNIST's test classes are equal in size."""
    from ..data import CLASS_NAMES

    return 1 / len(CLASS_NAMES)


# The benchmark figures: 6 inches wide at 12 pt (figtext.SITE_RC) fit a phone's width with
# their text at least figtext.MIN_TEXT_PX; a CSS inch is 96 px.
FIGURE_INCHES, CSS_PX_PER_INCH = 6, 96

# metric -> its value for a detector that guesses (the ROC AUC's diagonal, the AP's base rate)
CHANCE = {"roc_auc": lambda: 0.5, "ap": anomaly_rate}


class BenchmarkFigure(SphinxDirective):
    """A dot plot of one metric per method (each seed a dot, the mean a bar); content = caption."""

    has_content = True
    option_spec = {"metric": directives.unchanged, "methods": directives.unchanged,
                   "name": directives.unchanged}

    def run(self):
        metric = self.options.get("metric", "roc_auc")
        try:
            records = benchmark_records(self.env)
            methods = methods_in(records, self.options.get("methods", ""))
            png = self.draw(records, metric, methods)
        except ResultsError as err:
            logger.warning(f"benchmark-figure: {err}", location=self.get_location(),
                           type="vae_site", subtype="results")
            return []
        uri = "/" + Path(os.path.relpath(png, self.env.srcdir)).as_posix()
        label = METRICS.get(metric, (metric,))[0]
        alt = (f"Dot plot of the {label} of every method, one dot per seed and a bar at the mean"
               + (", with a dashed line at chance" if metric in CHANCE else ""))
        # shown at its own size at most (its 12 pt text as large as the page's), not stretched
        width = f"{round(FIGURE_INCHES * CSS_PX_PER_INCH)}px"
        figure = nodes.figure("", nodes.image(uri=uri, alt=alt, width=width))
        caption = nodes.caption()
        self.state.nested_parse(self.content, self.content_offset, caption)
        figure += nodes.caption("", "", *caption.children[0].children) if caption.children \
            else nodes.caption(text=label)
        if "name" in self.options:
            self.add_name(figure)
        return [figure]

    def draw(self, records, metric, methods) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from . import figtext

        figtext.install()  # the PNG records its smallest text (the site's readable width)
        plt.rcParams.update(figtext.SITE_RC)
        fig, ax = plt.subplots(figsize=(FIGURE_INCHES, 0.5 * len(methods) + 1.3), dpi=150)
        for i, method in enumerate(methods):
            values = [r[metric] for r in records if r["method"] == method and metric in r]
            ax.scatter(values, [i] * len(values), color="tab:blue", alpha=0.6, zorder=3)
            if values:
                ax.plot([sum(values) / len(values)] * 2, [i - 0.3, i + 0.3], color="k", zorder=4)
        if metric in CHANCE:
            ax.axvline(CHANCE[metric](), color="grey", ls="--", lw=1, label="chance")
            # above the plot, clear of the dots
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False, borderaxespad=0.1)
        ax.set_yticks(range(len(methods)), [method_label(records, m)[0] for m in methods])
        ax.invert_yaxis()
        ax.set_xlabel(METRICS.get(metric, (metric,))[0] + " (dots: seeds, bar: mean)")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        name = self.options.get("name", f"benchmark-{metric}")
        out = Path(self.env.app.outdir).parent / "figures" / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
        plt.close(fig)
        return out


# --- figure text readable on a phone (vae_anomaly/course/figtext.py) ---
class readable_figure(nodes.General, nodes.Element):
    """A figure's image in a box that scrolls sideways where the text is narrower than the
    width at which the figure's smallest text is ``figtext.MIN_TEXT_PX`` CSS pixels."""


def visit_readable_figure(self, node):
    self.body.append(f'<div class="readable-figure" style="--readable-width: '
                     f'{node["readable_width"]}px">')


def depart_readable_figure(self, node):
    self.body.append("</div>")


def readable_figures(app, doctree, docname):
    """Put every image whose PNG records its smallest text (a figure drawn with figtext
    installed) in a :class:`readable_figure` box, at least as wide as that text needs."""
    if app.builder.format != "html":
        return
    from . import figtext

    for image in list(doctree.findall(nodes.image)):
        source = image.get("candidates", {}).get("*") or image["uri"].lstrip("/")
        path = Path(app.srcdir) / source
        sizes = figtext.readable_width(path) if path.is_file() else None
        if sizes is None:
            continue
        natural, readable = sizes
        if readable > natural:
            logger.warning(f"{source}: its smallest text is below {figtext.MIN_TEXT_PX} px "
                           "even at the figure's own size: draw it with larger text",
                           location=image, type="vae_site", subtype="figure_text")
        box = readable_figure(readable_width=readable)
        image.replace_self(box)
        box += image


# --- tables: code breaks between its parts, never inside a name ---
# after a slash or a dot that a name follows: `results/lab/full/`, `vae_anomaly.course.build`
CODE_BREAKS = re.compile(r"(?<=[/.])(?=[A-Za-z_])")


def break_code_in_tables(app, doctree, docname):
    """Code in a table cell may break after a ``/`` or a ``.`` (a ``<wbr>``): a long path
    wraps there at the desktop width, while the site's CSS (``overflow-wrap: normal``) keeps a
    name such as ``conv_learned_sigma`` whole, so that a narrow column is never broken letter
    by letter (on a phone a table scrolls in its box instead)."""
    if app.builder.format != "html":
        return
    for table in doctree.findall(nodes.table):
        for literal in list(table.findall(nodes.literal)):
            for text in list(literal.findall(nodes.Text)):
                parts = CODE_BREAKS.split(text.astext())
                if len(parts) == 1:
                    continue
                pieces = [parts[0]]
                for part in parts[1:]:
                    pieces += [nodes.raw("", "<wbr>", format="html"), nodes.Text(part)]
                text.parent.replace(text, [nodes.Text(pieces[0]), *pieces[1:]])


# --- launch and repository buttons: shown only where _config.yml gives them a real target ---
# service -> (its name on the site, whether it needs the repository on GitHub)
LAUNCH_SERVICES = {"binderhub_url": ("Binder", False), "colab_url": ("Google Colab", True),
                   "jupyterhub_url": ("your course's JupyterHub", False)}


def link_options(theme_options: dict) -> dict:
    """The theme's options with the repository button on exactly when ``repository.url`` is
    set, and only the launch services that can open the notebook: every one of them clones
    the repository (Colab only from GitHub), and the hub needs its own ``jupyterhub_url``."""
    options = dict(theme_options)
    repository = (options.get("repository_url") or "").strip()
    on_github = repository.startswith("https://github.com/")
    launch = dict(options.get("launch_buttons") or {})
    for key, (_, github_only) in LAUNCH_SERVICES.items():
        if not repository or (github_only and not on_github):
            launch[key] = ""
    options["launch_buttons"] = launch
    options["repository_url"] = repository
    options["use_repository_button"] = bool(repository)
    return options


def launch_services(theme_options: dict) -> list[str]:
    """Names of the launch services a notebook page offers, in the toolbar's order."""
    launch = link_options(theme_options)["launch_buttons"]
    return [name for key, (name, _) in LAUNCH_SERVICES.items() if launch.get(key)]


def configure_links(app, config):
    """Apply :func:`link_options` to the theme's options (after jupyter-book set them)."""
    config.html_theme_options = link_options(config.html_theme_options)


def words(names: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


class LaunchNote(SphinxDirective):
    """What the notebook page's toolbar offers: the download always, and the launch services
    that ``_config.yml`` configures (none while ``repository.url`` is empty)."""

    def run(self):
        services = launch_services(self.config.html_theme_options)
        para = nodes.paragraph()
        para += [nodes.Text("Its toolbar has a "), nodes.strong(text="download"),
                 nodes.Text(" button (the "), nodes.literal(text=".ipynb"), nodes.Text(" file)")]
        if services:
            para += [nodes.Text(" and "), nodes.strong(text="launch"),
                     nodes.Text(f" buttons that open it on {words(services)}")]
        para += nodes.Text(".")
        return [para]


# --- distinct titles, and the solution page's banner and its run beside the stored reference ---
ASSIGNMENT_TITLE, SOLUTION_TITLE = "Assignment: ", "Reference solution: "
RUN_LOSS = re.compile(r" - loss: ([−\d.+-]+)")  # an epoch's line of fit(verbose=2)
RUN_OUTPUTS = {  # what the solution prints -> a pattern of it
    "epochs": re.compile(r"Epoch (\d+)/(\d+)"),
    "auc": re.compile(r"ROC AUC ([\d.]+), PR AUC ([\d.]+)"),
    "elbo": re.compile(r"mean ELBO: normal ([−\d.+-]+), anomalous ([−\d.+-]+) nats"),
}


def prefix_title(doctree, prefix: str) -> nodes.section | None:
    """Put ``prefix`` before the page's first heading; return its section."""
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None and isinstance(section[0], nodes.title) \
            and not section[0].astext().startswith(prefix):
        section[0].insert(0, nodes.Text(prefix))
    return section


def run_facts(text: str) -> dict:
    """Epochs trained, the budget, the areas and the mean ELBOs, from the solution's printed
    output (the last of each); a missing one is a :class:`ResultsError`."""
    facts = {}
    for name, pattern in RUN_OUTPUTS.items():
        found = pattern.findall(text)
        if not found:
            raise ResultsError(f"the executed solution printed no {pattern.pattern!r}")
        facts[name] = found[-1]
    (trained, budget), (roc, pr), (normal, anomaly) = (facts[k] for k in RUN_OUTPUTS)
    return {"trained": int(trained), "budget": int(budget), "roc_auc": roc, "pr_auc": pr,
            "elbo_normal": normal.replace("-", "−"), "elbo_anomaly": anomaly.replace("-", "−")}


def solution_banner(env, docname: str) -> nodes.admonition:
    """A banner that says what the page is and links the students' notebook."""
    para = nodes.paragraph(text="This is the instructors' reference solution of the assignment, "
                                "executed when this site was built. The notebook students "
                                "complete is ")
    for page in env.config.assignment_pages:
        para += addnodes.pending_xref("", nodes.inline(text="the assignment page"),
                                      refdomain="std", reftype="doc", reftarget=f"/{page}",
                                      refexplicit=True, refdoc=docname)
    para += nodes.Text(".")
    return nodes.admonition("", nodes.title(text="Reference solution"), para,
                            classes=["important", "solution-banner"])


def solution_summary(env, text: str) -> list[nodes.Node]:
    """This page's run at the grading budget, beside the stored graded runs of the reference
    and the stored run of the reference trained until its loss stopped going down."""
    from ..config import CONVERGED_EPOCHS, EPOCHS_ENV, GRADING_EPOCHS, GRADING_SEED, RESULTS
    from ..measure.grading import STILL_FALLING, last_drop
    from .calibrate import run_file

    run = run_facts(text)
    calibration = load_json(env, "calibration.json")
    converged = load_json(env, str(run_file("reference", GRADING_SEED, [CONVERGED_EPOCHS])
                                   .relative_to(RESULTS)))
    graded = calibration["designs"]["reference"]
    budget = ("the grading budget" if run["budget"] == GRADING_EPOCHS
              else f"not the grading budget of {GRADING_EPOCHS}")
    losses = [float(v.replace("−", "-")) for v in RUN_LOSS.findall(text)]
    end = converged["at"][str(CONVERGED_EPOCHS)]
    stopped = ("early stopping ended it" if converged["epochs_trained"] < CONVERGED_EPOCHS
               else f"the limit of {CONVERGED_EPOCHS} epochs ended it")
    falling = bool(losses) and last_drop(losses) > STILL_FALLING
    ended = (f"its loss still falling ({100 * last_drop(losses):.1f}% in the last epoch) when "
             "the budget ends it" if falling else "its loss levelled off within the budget")
    intro = nodes.paragraph()
    intro += [nodes.Text("Two runs of the reference, each labelled. "),
              nodes.strong(text="This page"), nodes.Text(f" trained for {run['trained']} epochs "
              "with "), nodes.literal(text=f"{EPOCHS_ENV}={run['budget']}"),
              nodes.Text(f", {budget} (set in "), nodes.literal(text="vae_anomaly/config.py"),
              nodes.Text(f"), with Keras seeded with {GRADING_SEED} (make book): the model the "
                         f"grader sees, {ended}. "),
              nodes.strong(text="The converged run"),
              nodes.Text(f" is the same notebook trained until its loss stopped going down, "
                         f"the task's own instruction ({converged['epochs_trained']} epochs; "
                         f"{stopped}), measured as the grader measures a detector ("),
              nodes.literal(text="make converged"),
              nodes.Text("). Between them, the graded runs of the reference that set the "
                         "detector test's marks ("), nodes.literal(text="make calibrate"),
              nodes.Text(").")]

    def spread(metric, mark=""):
        stats = graded[metric]
        return f"{fmt(stats['mean'], '.3f')}\u00a0±\u00a0{fmt(stats['sd'], '.3f')}{mark}"

    learned = calibration["marks"]["calibrated"]
    roc_mark = (f" (marks: {fmt(learned['roc_auc'], '.3f')}, and "
                f"{fmt(learned['roc_auc_gain'], '+.3f')} over the model untrained)")

    drop = f"{100 * last_drop(losses):.1f}%" if losses else "?"
    rows = [
        ["Epochs", f"{run['trained']} (at most {run['budget']})",
         f"{calibration['epochs']}, {calibration['seeds']} seeds",
         f"{converged['epochs_trained']} (at most {CONVERGED_EPOCHS})"],
        ["Loss fell in the last epoch by", drop, "",
         f"{100 * last_drop(end['losses']):.1f}%"],
        ["ROC AUC", run["roc_auc"], spread("roc_auc", roc_mark), fmt(end["roc_auc"], ".3f")],
        ["PR AUC", run["pr_auc"], spread("pr_auc"), fmt(end["pr_auc"], ".3f")],
        ["Mean ELBO, normal / anomalous (nats)",
         f"{run['elbo_normal']} / {run['elbo_anomaly']}", "",
         f"{fmt(end['elbo_normal'], '+.0f')} / {fmt(end['elbo_anomaly'], '+.0f')}"],
    ]
    return [intro, table(["Quantity", "This page (grading budget)",
                          "Graded runs (make calibrate)", "Converged run (make converged)"],
                         rows, classes=["solution-summary"])]


def title_pages(app, doctree):
    """"Assignment: …" and "Reference solution: …" titles; the solution's banner and summary."""
    docname = app.env.docname
    if docname in app.config.assignment_pages:
        prefix_title(doctree, ASSIGNMENT_TITLE)
    if docname not in app.config.solution_pages:
        return
    section = prefix_title(doctree, SOLUTION_TITLE)
    text = "\n".join(n.astext() for n in doctree.findall(nodes.literal_block))
    try:
        summary = solution_summary(app.env, text)
    except (ResultsError, KeyError) as err:
        logger.warning(f"solution summary: {err}", location=docname, type="vae_site",
                       subtype="results")
        summary = []
    section[1:1] = [solution_banner(app.env, docname), *summary]


def write_front_page(app, exception):
    """``index.html``: a page with a title, a language and a link that sends the reader on to
    the first page (the bare redirect sphinx-external-toc writes is an empty page)."""
    if exception is not None or app.builder.format != "html":
        return
    from html import escape

    if not app.config.html_use_index:  # left over from a build that had one
        (Path(app.outdir) / "genindex.html").unlink(missing_ok=True)
    first = f"{app.config.root_doc}.html"
    title = escape(app.config.html_title or app.config.project)
    (Path(app.outdir) / "index.html").write_text(
        f'<!DOCTYPE html>\n<html lang="{app.config.language or "en"}">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{title}</title>\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="refresh" content="0; url={first}">\n'
        f'<link rel="canonical" href="{first}">\n</head>\n<body>\n<main>\n'
        f'<p><a href="{first}">{title}</a></p>\n</main>\n</body>\n</html>\n',
        encoding="utf-8")


def hide_unpublished_solutions(app, config):
    """Drop ``solution_pages`` from the toc and the build unless ``publish_solution``."""
    if config.publish_solution:
        return
    hidden = {str(p).removesuffix(".ipynb") for p in config.solution_pages}
    site_map = config.external_site_map
    for doc in list(site_map.values()):
        for tree in doc.subtrees:
            tree.items[:] = [i for i in tree.items
                             if str(i).rsplit(".", 1)[0] not in hidden and str(i) not in hidden]
    for name in list(site_map):
        if name.rsplit(".", 1)[0] in hidden or name in hidden:
            del site_map[name]
    config["exclude_patterns"] = config["exclude_patterns"] + [f"{p}.*" for p in hidden]
    logger.info("[vae_site] solution pages hidden: %s", ", ".join(sorted(hidden)))


# TensorFlow's Python logger writes to stdout in a kernel; its tf.function retracing notice
# (predict on arrays of new shapes) is noise on a published page.
TF_NOISE = "WARNING:tensorflow:"


def terminal_streams(outputs):
    """Merge a cell's stream outputs as a terminal shows them: chunks joined as printed, and
    a ``\\r`` rewriting its line, so a Keras progress bar ends as one line per epoch.
    (myst-nb's own merge puts every chunk on a new line: hundreds of lines per epoch.)
    TensorFlow's logged warnings are dropped."""
    merged, streams = [], {}
    for output in outputs:
        if output["output_type"] == "stream" and output["name"] in streams:
            streams[output["name"]]["text"] += output["text"]
            continue
        if output["output_type"] == "stream":
            streams[output["name"]] = output
        merged.append(output)
    for output in streams.values():
        lines = output["text"].rstrip().split("\n")
        lines = [line.rstrip("\r").rsplit("\r", 1)[-1].replace("\b", "") for line in lines]
        output["text"] = "\n".join(line for line in lines if not line.startswith(TF_NOISE))
        output["text"] += "\n" if output["text"] else ""
    return [o for o in merged if o["output_type"] != "stream" or o["text"]]


def tidy_page(app, pagename, templatename, context, doctree):
    """Launch buttons only on .ipynb pages (Colab cannot open a MyST text page), bibliography
    entries as list items (docutils gives them a role that a list may not hold), and each
    script once (sphinx-thebe's inline ``const`` is added twice: a console error)."""
    if pagename in app.env.all_docs and not app.env.doc2path(pagename, False).endswith(".ipynb"):
        context["header_buttons"] = [b for b in context.get("header_buttons", [])
                                     if b.get("label") != "launch-buttons"]
    if "body" in context:  # a bibliography's entries are the items of its list (ARIA)
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')
    if "script_files" in context:
        unique = {}
        for js in context["script_files"]:
            key = (getattr(js, "filename", js) or "",  # None and "" both mean inline
                   str(sorted(getattr(js, "attributes", {}).items())))
            unique.setdefault(key, js)
        context["script_files"] = list(unique.values())


def note_results_dependencies(app, docname, source):
    """A page of ``results_pages`` is read again (and, with ``execution_mode: force`` in its
    front matter, executed again) whenever a file in its results folder changes or is added."""
    folder = app.config.results_pages.get(docname)
    if folder is None:
        return
    folder = Path(app.srcdir) / folder
    app.env.note_dependency(str(folder))  # its mtime changes when a result is added
    for path in sorted(folder.glob("*.json")):
        app.env.note_dependency(str(path))


def setup(app):
    """Register the switch, the roles, the directives and the page fixes."""
    app.add_config_value("publish_solution", False, "env", types=[bool])
    app.add_config_value("solution_pages", [], "env")
    app.add_config_value("results_dir", "results", "env")
    app.add_config_value("results_pages", {}, "env")  # docname -> the results folder it reads
    app.add_config_value("assignment_pages", [], "env")
    app.connect("source-read", note_results_dependencies)
    app.connect("config-inited", configure_links, priority=902)
    app.connect("doctree-read", title_pages, priority=400)  # before Sphinx notes the titles
    app.connect("build-finished", write_front_page, priority=400)  # before sphinx-external-toc
    # after sphinx-external-toc has read _toc.yml (priority 900)
    app.connect("config-inited", hide_unpublished_solutions, priority=901)
    from myst_nb.core import render

    render.coalesce_streams = terminal_streams  # used by myst-nb when nb_merge_streams is on
    app.connect("html-page-context", tidy_page, priority=600)  # after the theme's
    app.add_role("bench", BenchRole())
    app.add_role("result", ResultRole())
    app.add_directive("benchmark-table", BenchmarkTable)
    app.add_directive("benchmark-figure", BenchmarkFigure)
    app.add_directive("result-table", ResultTable)
    app.add_directive("launch-note", LaunchNote)
    app.add_node(readable_figure, html=(visit_readable_figure, depart_readable_figure))
    app.connect("doctree-resolved", readable_figures)
    app.connect("doctree-resolved", break_code_in_tables)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
