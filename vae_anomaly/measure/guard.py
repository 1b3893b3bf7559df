"""The grading kernel's first act, before any student code: cap and record training, and
take the fingerprints the hidden tests check.

``vae_anomaly.measure.guard.main()`` (the ``vae-anomaly-grading`` kernel, ``-f CONNECTION_FILE``)
installs the guard, then starts an ordinary IPython kernel. ``install()`` does the same in
a running kernel (the first cell otter adds where that kernel is not installed).

* **Budget.** ``keras.Model.fit`` trains each model at most ``$VAE_EPOCHS`` epochs in all,
  however often it is called, so a model trained for comparison (a plain autoencoder, a
  second likelihood) takes nothing from the graded VAE's budget; ``train_on_batch`` at most
  that many epochs' worth of images in all. A notebook that asks for more is cut at the
  budget, with a printed line saying so. The sandbox's CPU-time limit bounds the whole.
* **Provenance.** Every ``History`` that ``fit`` returns is recorded with a copy of its
  losses; after each ``fit`` the ELBO of a fixed set of test images is snapshotted, so that
  a ``negative_elbo`` changed after training (a supervised score, say) is detected.
* **The model untrained.** When a model's first ``fit`` starts, the checks measure the
  detector as it is then (``ON_FIRST_FIT``): the detector test asks how much training
  improved on it.
* **Fingerprints.** The identity of every function of the modules the checks rely on
  (NumPy, scikit-learn's metrics, builtins, this package's checks), so that a rebinding is
  found and flagged rather than trusted.
* **Out of reach.** All of this lives in the closure of ``_records``, not in a module
  attribute a notebook could empty or change; its readers return copies. The checks
  (``vae_anomaly.measure.grading``) register what runs after a fit and at install (``ON_FIT``,
  ``ON_INSTALL``): the guard imports no check, so the two have no import loop.
"""

from __future__ import annotations

import copy
import os
import sys
from importlib import import_module

from ..config import EPOCHS_ENV, GRADING_THREADS, STUDENT_EPOCHS

TRAINING_IMAGES = 54_000  # one epoch of the training set, for the train_on_batch cap
BUILTINS = ("abs", "all", "any", "callable", "dict", "float", "getattr", "hasattr", "id", "int",
            "isinstance", "iter", "len", "list", "map", "max", "min", "next", "range", "round",
            "set", "sorted", "str", "sum", "tuple", "type", "vars", "zip")
FINGERPRINTED = ("builtins", "numpy", "numpy.random", "sklearn.metrics", "vae_anomaly.data",
                 "vae_anomaly.scoring", "vae_anomaly.records", "vae_anomaly.measure.grading",
                 "vae_anomaly.measure.guard", "IPython.display", "keras.src.models.model")
ON_FIT = []  # called with the notebook's namespace after each fit (the checks' snapshot)
ON_FIRST_FIT = []  # called with the namespace as a model's first fit starts (its untrained areas)
ON_INSTALL = []  # called once, before any student code (the checks read their assets)


def fingerprint(name: str) -> dict[str, int]:
    """``id`` of each function of module ``name`` (of ``BUILTINS`` for ``builtins``, since
    IPython itself replaces ``input`` and ``exit``)."""
    names = vars(import_module(name))
    keys = BUILTINS if name == "builtins" else [k for k, v in names.items() if callable(v)]
    return {key: id(names[key]) for key in keys}


def _records():
    """The guard's state and the functions that read and write it. The state lives in this
    closure only: a notebook reaches it through no module attribute, and what the readers
    return is a copy."""
    kept = {"installed": False, "budget": 0, "epochs": {}, "images": 0, "fits": [],
            "snapshot": None, "fingerprints": {}, "model_methods": {}, "namespace": None,
            "on_fit": (), "on_first_fit": (), "untrained": {}}

    def installed() -> bool:
        return kept["installed"]

    def budget() -> int:
        """The most epochs this notebook may train: ``$VAE_EPOCHS`` when the guard was
        installed (a notebook that changes the variable later changes nothing)."""
        return kept["budget"] or int(os.environ.get(EPOCHS_ENV, STUDENT_EPOCHS))

    def epochs(model=None) -> int:
        """Epochs ``fit`` trained ``model`` so far (any model: the most of any)."""
        if model is not None:
            return kept["epochs"].get(id(model), 0)
        return max(kept["epochs"].values(), default=0)

    def fits() -> tuple:
        """Each ``fit``: its ``History``, a copy of its losses, its epochs and images."""
        return tuple({**f, "logs": copy.deepcopy(f["logs"])} for f in kept["fits"])

    def snapshot():
        """The ELBO draws taken right after the last ``fit`` (``grading.snapshot``)."""
        return kept["snapshot"]

    def untrained(model) -> dict | None:
        """What ``ON_FIRST_FIT`` measured as ``model``'s first ``fit`` started (a copy)."""
        measured = kept["untrained"].get(id(model))
        return dict(measured) if measured is not None else None

    def namespace() -> dict:
        """The notebook's variables (the IPython user namespace, or the one installed)."""
        if kept["namespace"] is not None:
            return kept["namespace"]
        try:
            from IPython import get_ipython
        except ImportError:
            return {}
        shell = get_ipython()
        return shell.user_ns if shell is not None else {}

    def tampered() -> list[str]:
        """``module.name`` of each fingerprinted function rebound since the guard was
        installed."""
        changed = []
        for name, prints in kept["fingerprints"].items():
            now = vars(sys.modules[name]) if name in sys.modules else {}
            changed += [f"{name}.{key}" for key, ident in prints.items()
                        if id(now.get(key)) != ident]
        if kept["model_methods"]:
            import keras

            now = vars(keras.Model)
            changed += [f"keras.Model.{key}" for key, ident in kept["model_methods"].items()
                        if id(now.get(key)) != ident]
        return changed

    def record_fit(model, history, epochs_run: int, images: int | None) -> None:
        """Remember a ``History`` from ``fit`` (and how many images it trained on, where
        known), then let the checks snapshot the model (``ON_FIT``)."""
        kept["epochs"][id(model)] = epochs(model) + epochs_run
        kept["fits"].append({"history": history, "logs": copy.deepcopy(history.history),
                             "epochs": epochs_run, "images": images, "model": model})
        for hook in kept["on_fit"]:
            kept["snapshot"] = hook(namespace())

    def capped_fit(original):
        def fit(self, *args, **kwargs):
            import inspect

            bound = inspect.signature(original).bind(self, *args, **kwargs)
            bound.apply_defaults()
            start = int(bound.arguments.get("initial_epoch") or 0)
            asked = int(bound.arguments.get("epochs") or 1) - start
            allowed = max(0, min(asked, budget() - epochs(self)))
            if allowed < asked:
                print(f"[grading] training budget: {budget()} epochs in all for each model; "
                      f"this fit runs {allowed} of the {asked} epochs asked for", flush=True)
            bound.arguments["epochs"] = start + allowed
            if allowed and not epochs(self) and id(self) not in kept["untrained"]:
                for hook in kept["on_first_fit"]:
                    kept["untrained"][id(self)] = hook(namespace())
            history = original(*bound.args, **bound.kwargs)
            x = bound.arguments.get("x")
            record_fit(self, history, len(getattr(history, "epoch", []) or []),
                       len(x) if hasattr(x, "__len__") and hasattr(x, "shape") else None)
            return history

        fit.__doc__ = original.__doc__
        return fit

    def capped_train_on_batch(original):
        def train_on_batch(self, x=None, *args, **kwargs):
            import numpy as np

            kept["images"] += len(np.asarray(x)) if x is not None else 0
            if kept["images"] > budget() * TRAINING_IMAGES:
                raise RuntimeError(f"[grading] training budget spent: {budget()} epochs of "
                                   f"{TRAINING_IMAGES} images")
            return original(self, x, *args, **kwargs)

        return train_on_batch

    def install(user_namespace: dict | None = None) -> None:
        """Pin TensorFlow's threads, cap ``fit``, import the checks and take the
        fingerprints."""
        if kept["installed"]:
            return
        for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            os.environ.setdefault(var, str(GRADING_THREADS))
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        keras.Model.fit = capped_fit(keras.Model.fit)
        keras.Model.train_on_batch = capped_train_on_batch(keras.Model.train_on_batch)
        from .. import CORE, module_name

        for module in CORE:  # loaded now: a student's folder cannot shadow them later
            if not module.startswith("decide/"):  # the trusted side runs outside the kernel
                import_module(module_name(module))
        for hook in ON_INSTALL:
            hook()
        kept["on_fit"] = tuple(ON_FIT)  # what a notebook appends later is not called
        kept["on_first_fit"] = tuple(ON_FIRST_FIT)
        kept["namespace"] = user_namespace
        kept["budget"] = int(os.environ.get(EPOCHS_ENV, STUDENT_EPOCHS))
        kept["fingerprints"] = {name: fingerprint(name) for name in FINGERPRINTED}
        kept["model_methods"] = {k: id(v) for k, v in vars(keras.Model).items()}
        kept["installed"] = True

    return installed, budget, epochs, fits, snapshot, untrained, namespace, tampered, install


(installed, budget, epochs, fits, snapshot, untrained, namespace, tampered,
 install) = _records()


def _cpu_time_spent(signum, frame):
    raise RuntimeError("[grading] this notebook used up its CPU time (the sandbox's limit, "
                       "counted outside the kernel): the kernel is stopped")


def main() -> None:
    """Install the guard, then run an IPython kernel (``-f CONNECTION_FILE``)."""
    import signal

    signal.signal(signal.SIGXCPU, _cpu_time_spent)  # the message; the hard limit kills
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    # ipykernel makes figures inline only where matplotlib is not yet imported; Keras, imported
    # by install(), imports it first, which would leave the Agg backend (no figure in grading).
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    install()
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
