"""Effect arithmetic, one owner: which measures live on the log scale, the value of no effect on each
measure, and the estimate and standard error on the analysis scale that a reported estimate and CI imply.

The synthesis, the certainty rules, What's new, the briefs' words, the table derivation and the
statistics engine (:mod:`._meta`) all read these from here.  Kept light on purpose (numpy and the
standard library): a brief's kernel asks for the value of no effect and must not load scipy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LOG_SCALE_MEASURES", "Z95", "no_effect", "no_effects", "on_log_scale", "standard_error"]

#: Ratio measures: analysed on the log scale (where their CI is symmetric), reported on the ratio scale.
#: metafor's ratio measures; the review codes RR, OR and HR of them (:data:`._vocabulary.RATIO_MEASURES`).
LOG_SCALE_MEASURES = frozenset({"RR", "OR", "PETO", "ROM", "HR", "IRR"})


#: The standard normal quantile of a two-sided 95% interval, qnorm(0.975) as R and scipy.special.ndtri
#: give it (a test checks it against scipy; the standard library's NormalDist is one bit off, and scipy is
#: not imported here so that a brief need not load it).  The statistics engine takes other levels' quantiles.
Z95 = 1.959963984540054


def on_log_scale(measure: Any) -> Any:
    """Whether a measure (or each of an array or Series of measures) is analysed on the log scale."""
    if isinstance(measure, str):
        return measure.upper() in LOG_SCALE_MEASURES
    return np.isin(np.char.upper(np.asarray(measure, dtype=str)), list(LOG_SCALE_MEASURES))


def no_effect(measure: str) -> float:
    """The value of no effect on a measure's reported scale: 1 for ratios, 0 for differences."""
    return 1.0 if on_log_scale(measure) else 0.0


def no_effects(measures: Any) -> np.ndarray:
    """:func:`no_effect` for each of a column of measures."""
    return np.where(on_log_scale(measures), 1.0, 0.0)


def effect_from_ci(estimate: Any, ci_low: Any, ci_high: Any, measure: Any,
                   z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The estimate and standard error on the analysis scale that a symmetric CI implies (arrays welcome).

    ``measure`` is one measure or one per row; ``z`` the CI's normal quantile (:data:`Z95` for a 95% CI).  Ratio measures are taken to the log scale first, so
    ``yi = log(estimate)`` and ``se = (log(high) - log(low)) / (2 z)``; differences stay as they are.
    Nothing is checked: an absurd archived CI (a negative bound of a ratio) gives a non-finite value, not
    a crash; :func:`._meta.effect_from_ci` is the checked, tabular form.
    """
    est, low, high = (np.asarray(x, dtype=float) for x in (estimate, ci_low, ci_high))
    log = on_log_scale(measure)
    with np.errstate(all="ignore"):
        # log only where a ratio: the difference measures' negative values must not warn
        yi = np.where(log, np.log(np.where(log, est, 1.0)), est)
        width = np.where(log, np.log(np.where(log, high, 1.0)) - np.log(np.where(log, low, 1.0)), high - low)
    return yi, width / (2 * z)


def standard_error(estimate: float, ci_low: float, ci_high: float, measure: str) -> float:
    """The standard error a symmetric 95% CI implies, on the log scale for ratio measures."""
    return float(effect_from_ci(estimate, ci_low, ci_high, measure)[1])
