"""The report's matplotlib style, in one place.

Every module of this room that draws imports it, so a figure looks the same whichever command
draws it (``mouseface bouts`` on its own, the report, the demo's second process) and whatever
was imported first.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

#: text sizes used throughout, so the figures read alike
SMALL, MEDIUM = 8, 9

#: what the figures change of matplotlib's defaults
RC = {"font.size": MEDIUM, "axes.titlesize": MEDIUM, "axes.labelsize": MEDIUM,
      "xtick.labelsize": SMALL, "ytick.labelsize": SMALL, "legend.fontsize": SMALL,
      "axes.spines.top": False, "axes.spines.right": False}

plt.rcParams.update(RC)
