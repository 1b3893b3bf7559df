"""The grading kernel's first act, before any student code: cap and record training, and
take the fingerprints the hidden tests check.

``vae_anomaly.guard.main()`` (the ``vae-anomaly-grading`` kernel, ``-f CONNECTION_FILE``)
installs the guard, then starts an ordinary IPython kernel. ``install()`` does the same in
a running kernel (the first cell otter adds where that kernel is not installed).

* **Budget.** ``keras.Model.fit`` trains at most ``$VAE_EPOCHS`` epochs in all, however
  often it is called; ``train_on_batch`` at most that many epochs' worth of images. A
  notebook that asks for more is cut at the budget, with a printed line saying so.
* **Provenance.** Every ``History`` that ``fit`` returns is recorded with a copy of its
  losses; after each ``fit`` the ELBO of a fixed set of test images is snapshotted, so that
  a ``negative_elbo`` changed after training (a supervised score, say) is detected.
* **Fingerprints.** The identity of every function of the modules the checks rely on
  (NumPy, scikit-learn's metrics, builtins, this package's checks), so that a rebinding is
  found and flagged rather than trusted.
"""

from __future__ import annotations

import copy
import os
import sys
from importlib import import_module

from .config import EPOCHS_ENV, GRADING_THREADS, STUDENT_EPOCHS

TRAINING_IMAGES = 54_000  # one epoch of the training set, for the train_on_batch cap
BUILTINS = ("abs", "all", "any", "callable", "dict", "float", "getattr", "hasattr", "id", "int",
            "isinstance", "iter", "len", "list", "map", "max", "min", "next", "range", "round",
            "set", "sorted", "str", "sum", "tuple", "type", "vars", "zip")
FINGERPRINTED = ("builtins", "numpy", "numpy.random", "sklearn.metrics", "vae_anomaly.data",
                 "vae_anomaly.scoring", "vae_anomaly.grading", "vae_anomaly.guard",
                 "vae_anomaly.integrity", "IPython.display", "keras.src.models.model")
state = {"installed": False, "epochs": 0, "images": 0, "fits": [], "snapshot": None,
         "fingerprints": {}, "namespace": None}


def budget() -> int:
    """The most epochs this notebook may train: ``$VAE_EPOCHS`` when the guard was
    installed (a notebook that changes the variable later changes nothing)."""
    return state.get("budget") or int(os.environ.get(EPOCHS_ENV, STUDENT_EPOCHS))


def namespace() -> dict:
    """The notebook's variables (the IPython user namespace, or the one given to install)."""
    if state["namespace"] is not None:
        return state["namespace"]
    try:
        from IPython import get_ipython
    except ImportError:
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def fingerprint(name: str) -> dict[str, int]:
    """``id`` of each function of module ``name`` (of ``BUILTINS`` for ``builtins``, since
    IPython itself replaces ``input`` and ``exit``)."""
    names = vars(import_module(name))
    keys = BUILTINS if name == "builtins" else [k for k, v in names.items() if callable(v)]
    return {key: id(names[key]) for key in keys}


def tampered() -> list[str]:
    """``module.name`` of each fingerprinted function rebound since the guard was installed."""
    changed = []
    for name, prints in state["fingerprints"].items():
        now = vars(sys.modules[name]) if name in sys.modules else {}
        changed += [f"{name}.{key}" for key, ident in prints.items()
                    if id(now.get(key)) != ident]
    if "model_methods" in state:
        import keras

        now = vars(keras.Model)
        changed += [f"keras.Model.{key}" for key, ident in state["model_methods"].items()
                    if id(now.get(key)) != ident]
    return changed


def record_fit(history, epochs_run: int, images: int | None) -> None:
    """Remember a ``History`` from ``fit`` (and how many images it trained on, where known)
    and snapshot the model's ELBO on test images."""
    state["epochs"] += epochs_run
    state["fits"].append({"history": history, "logs": copy.deepcopy(history.history),
                          "epochs": epochs_run, "images": images})
    from . import grading

    state["snapshot"] = grading.snapshot(namespace())


def _capped_fit(original):
    def fit(self, *args, **kwargs):
        import inspect

        bound = inspect.signature(original).bind(self, *args, **kwargs)
        bound.apply_defaults()
        start = int(bound.arguments.get("initial_epoch") or 0)
        asked = int(bound.arguments.get("epochs") or 1) - start
        allowed = max(0, min(asked, budget() - state["epochs"]))
        if allowed < asked:
            print(f"[grading] training budget: {budget()} epochs in all; this fit runs "
                  f"{allowed} of the {asked} epochs asked for", flush=True)
        bound.arguments["epochs"] = start + allowed
        history = original(*bound.args, **bound.kwargs)
        x = bound.arguments.get("x")
        record_fit(history, len(getattr(history, "epoch", []) or []),
                   len(x) if hasattr(x, "__len__") and hasattr(x, "shape") else None)
        return history

    fit.__wrapped__ = original
    fit.__doc__ = original.__doc__
    return fit


def _capped_train_on_batch(original):
    def train_on_batch(self, x=None, *args, **kwargs):
        import numpy as np

        state["images"] += len(np.asarray(x)) if x is not None else 0
        if state["images"] > budget() * TRAINING_IMAGES:
            raise RuntimeError(f"[grading] training budget spent: {budget()} epochs of "
                               f"{TRAINING_IMAGES} images")
        return original(self, x, *args, **kwargs)

    train_on_batch.__wrapped__ = original
    return train_on_batch


def install(user_namespace: dict | None = None) -> None:
    """Pin TensorFlow's threads, cap ``fit``, import the checks and take the fingerprints."""
    if state["installed"]:
        return
    for var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(var, str(GRADING_THREADS))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.Model.fit = _capped_fit(keras.Model.fit)
    keras.Model.train_on_batch = _capped_train_on_batch(keras.Model.train_on_batch)
    from . import CORE

    for module in CORE:  # loaded now: a student's folder cannot shadow them later
        import_module("vae_anomaly" if module == "__init__" else f"vae_anomaly.{module}")
    from . import grading

    grading.marks(), grading.reference_split()  # read before a notebook can redirect them
    state["namespace"] = user_namespace
    state["budget"] = int(os.environ.get(EPOCHS_ENV, STUDENT_EPOCHS))
    state["fingerprints"] = {name: fingerprint(name) for name in FINGERPRINTED}
    state["model_methods"] = {k: id(v) for k, v in vars(keras.Model).items()}
    state["installed"] = True


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
