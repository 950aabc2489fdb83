"""Effect sizes as metafor's escalc() computes them, and effects recovered from a reported CI."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import special

from .. import _effects
from ._common import FloatArray, z_crit

# ---------------------------------------------------------------------------------------------
# Effect sizes (metafor::escalc)
# ---------------------------------------------------------------------------------------------


def as_float(x: ArrayLike | None, name: str) -> FloatArray:
    if x is None:
        raise ValueError(f"'{name}' is required")
    return np.atleast_1d(np.asarray(x, dtype=float))


def _finite_or_nan(x: FloatArray) -> FloatArray:
    # metafor turns +/-Inf outcomes (e.g. log(0) without a correction) into NA.
    return np.where(np.isfinite(x), x, np.nan)


def binary_effects(
    measure: str,
    ai: ArrayLike,
    bi: ArrayLike | None = None,
    ci: ArrayLike | None = None,
    di: ArrayLike | None = None,
    *,
    n1i: ArrayLike | None = None,
    n2i: ArrayLike | None = None,
    add: float = 0.5,
    to: Literal["only0", "all", "if0all", "none"] = "only0",
    drop00: bool = False,
) -> pd.DataFrame:
    """Effect sizes from 2x2 tables, as ``metafor::escalc`` computes them.

    Parameters
    ----------
    measure : {"RR", "OR", "RD", "PETO"}
        Log risk ratio, log odds ratio, risk difference, or Peto's log odds ratio.
    ai, bi, ci, di : array_like
        Events and non-events in the treatment arm (``ai``, ``bi``) and the control arm
        (``ci``, ``di``).  Give ``n1i``/``n2i`` (arm totals) instead of ``bi``/``di`` for
        events/totals data.
    n1i, n2i : array_like, optional
        Arm totals, used when ``bi``/``di`` are not given.
    add : float, default 0.5
        Continuity correction added to every cell of the tables selected by ``to``.
    to : {"only0", "all", "if0all", "none"}, default "only0"
        ``"only0"``: tables with a zero cell; ``"all"``: every table; ``"if0all"``: every table
        if any has a zero cell; ``"none"``: no correction.
    drop00 : bool, default False
        Set the outcome to NaN for tables with no events (or only events) in both arms.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` (on the log scale for ratio measures) and ``vi`` (sampling variance).
        Outcomes that cannot be computed (e.g. a log of 0) are NaN.
    """
    measure = measure.upper()
    if measure not in ("RR", "OR", "RD", "PETO"):
        raise ValueError(f"unknown 2x2 measure {measure!r}; use RR, OR, RD or PETO")
    a = as_float(ai, "ai")
    c = as_float(ci, "ci")
    b = as_float(n1i, "n1i or bi") - a if bi is None else as_float(bi, "bi")
    d = as_float(n2i, "n2i or di") - c if di is None else as_float(di, "di")
    if not (a.shape == b.shape == c.shape == d.shape):
        raise ValueError("ai, bi, ci and di must have the same length")
    if np.any(np.concatenate([a, b, c, d]) < 0):
        raise ValueError("counts must be >= 0 (events cannot exceed the arm total)")

    if drop00:
        both = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        a, b, c, d = (np.where(both, np.nan, x) for x in (a, b, c, d))
    a, b, c, d = _continuity(a, b, c, d, add=add, to=to)

    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a / n1, c / n2
        if measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RD":
            yi = p1 - p2
            vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        else:  # PETO: (O - E) / V per table
            n = n1 + n2
            expected = (a + c) * n1 / n
            var = (a + c) * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
            yi = (a - expected) / var
            vi = 1 / var
    return pd.DataFrame({"yi": _finite_or_nan(yi), "vi": _finite_or_nan(vi)})


def _continuity(
    a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray, *, add: float, to: str
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Add ``add`` to the cells of the tables that ``to`` selects (escalc's add/to)."""
    if to not in ("only0", "all", "if0all", "none"):
        raise ValueError(f"unknown 'to' {to!r}")
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all":
        which = np.ones_like(zero)
    elif to == "only0":
        which = zero
    elif to == "if0all":
        which = np.full_like(zero, bool(zero.any()))
    else:
        which = np.zeros_like(zero)
    plus = np.where(which, add, 0.0)
    return a + plus, b + plus, c + plus, d + plus


def hedges_j(df: ArrayLike) -> FloatArray:
    """Exact small-sample correction J(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2)).

    Computed on the log scale, as metafor's ``.cmicalc`` does, so that it does not overflow for
    large ``m``; NaN for ``m <= 1``.  (PyMARE's 1 - 3/(4m - 1) is only an approximation.)
    """
    m = np.atleast_1d(np.asarray(df, dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.exp(special.gammaln(m / 2) - np.log(np.sqrt(m / 2)) - special.gammaln((m - 1) / 2))
    return np.where(m > 1, j, np.nan)


def continuous_effects(
    measure: str,
    m1i: ArrayLike,
    sd1i: ArrayLike,
    n1i: ArrayLike,
    m2i: ArrayLike,
    sd2i: ArrayLike,
    n2i: ArrayLike,
    *,
    vtype: Literal["LS", "UB", "HO"] = "LS",
) -> pd.DataFrame:
    """Effect sizes from means, SDs and group sizes, as ``metafor::escalc`` computes them.

    Parameters
    ----------
    measure : {"MD", "SMD", "ROM"}
        Raw mean difference, standardised mean difference (Hedges' g with the exact J), or the
        log ratio of means.
    m1i, sd1i, n1i, m2i, sd2i, n2i : array_like
        Mean, SD and size of the treatment (1) and control (2) groups.
    vtype : {"LS", "UB", "HO"}, default "LS"
        Sampling variance: metafor's default large-sample form ``"LS"``; ``"UB"`` (unbiased,
        SMD only); ``"HO"`` (pooled SD, MD and ROM only).

    Returns
    -------
    pandas.DataFrame
        Columns ``yi`` and ``vi``.  For SMD with ``"LS"``,
        ``vi = 1/n1 + 1/n2 + yi^2 / (2 (n1 + n2))``.
    """
    measure = measure.upper()
    m1, s1, n1 = as_float(m1i, "m1i"), as_float(sd1i, "sd1i"), as_float(n1i, "n1i")
    m2, s2, n2 = as_float(m2i, "m2i"), as_float(sd2i, "sd2i"), as_float(n2i, "n2i")
    if np.any(np.concatenate([s1, s2]) < 0) or np.any(np.concatenate([n1, n2]) < 0):
        raise ValueError("SDs and group sizes must be >= 0")
    df = n1 + n2 - 2
    with np.errstate(divide="ignore", invalid="ignore"):
        sdp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / df)
        if measure == "MD":
            _check_vtype(vtype, ("LS", "UB", "HO"), measure)
            yi = m1 - m2
            vi = sdp**2 * (1 / n1 + 1 / n2) if vtype == "HO" else s1**2 / n1 + s2**2 / n2
        elif measure == "SMD":
            _check_vtype(vtype, ("LS", "UB"), measure)
            j = hedges_j(df)
            yi = j * (m1 - m2) / sdp
            if vtype == "UB":
                vi = 1 / n1 + 1 / n2 + (1 - (df - 2) / (df * j**2)) * yi**2
            else:
                vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        elif measure == "ROM":
            _check_vtype(vtype, ("LS", "HO"), measure)
            yi = np.log(m1 / m2)
            if vtype == "HO":
                vi = sdp**2 / (n1 * m1**2) + sdp**2 / (n2 * m2**2)
            else:
                vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
        else:
            raise ValueError(f"unknown continuous measure {measure!r}; use MD, SMD or ROM")
    return pd.DataFrame({"yi": _finite_or_nan(yi), "vi": _finite_or_nan(vi)})


def _check_vtype(vtype: str, allowed: tuple[str, ...], measure: str) -> None:
    if vtype not in allowed:
        raise ValueError(f"vtype for {measure} must be one of {allowed}, got {vtype!r}")


def effect_from_ci(
    estimate: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    measure: str,
    *,
    level: float = 95.0,
) -> pd.DataFrame:
    """An effect and its standard error from a reported estimate and symmetric CI.

    Ratio measures (``LOG_SCALE_MEASURES``) are taken to the log scale first, where their CI is
    symmetric, so ``yi = log(estimate)`` and ``sei = (log(high) - log(low)) / (2 z)``: the checked,
    tabular form of :func:`.._effects.effect_from_ci`, which does the arithmetic.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi``, ``sei`` and ``vi`` on the analysis scale.
    """
    est, lo, hi = (as_float(x, n) for x, n in ((estimate, "estimate"), (ci_low, "ci_low"), (ci_high, "ci_high")))
    if np.any(hi < lo):
        raise ValueError("ci_high must be >= ci_low")
    if _effects.on_log_scale(measure) and np.any(np.concatenate([est, lo, hi]) <= 0):
        raise ValueError(f"{measure} estimates and CI bounds must be > 0")
    yi, sei = _effects.effect_from_ci(est, lo, hi, measure, z=z_crit(level))
    return pd.DataFrame({"yi": yi, "sei": sei, "vi": sei**2})


