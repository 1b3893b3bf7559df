"""Runs in every kernel that `make book` starts (IPYTHONDIR=book/_ipython): every PNG that
matplotlib draws records its smallest text (vae_anomaly/course/figtext.py), from which the
site shows each figure at a width where that text is readable on a phone; figures that set no
font size of their own are drawn with 12 pt text (figtext.SITE_RC)."""

try:
    import matplotlib
except ImportError:  # a kernel without matplotlib draws no figure
    matplotlib = None

if matplotlib is not None:
    from vae_anomaly.course import figtext

    figtext.install()
    matplotlib.rcParams.update(figtext.SITE_RC)
