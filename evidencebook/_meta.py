"""Meta-analysis that reproduces metafor: effect sizes, pooling, heterogeneity, sensitivity analyses.

Every number is computed the way metafor (R package, 4.x/5.x) computes it, because a reader will
check this review's numbers against metafor, and several conventions silently change them:

* effect sizes follow ``escalc()``: 1/2 is added to every cell of a 2x2 table only when one cell
  is 0 (``add=1/2, to="only0"``); Hedges' g uses the exact gamma-function correction J;
* tau^2 follows ``rma.uni()``: REML (the default) and ML by Fisher scoring started at the Hedges
  estimate and stopped when tau^2 changes by less than 1e-5 (so the printed 4th decimal matches
  metafor, not the fully converged maximum); Paule-Mandel and the Q-profile CI by a port of R's
  ``uniroot()`` (Brent's zeroin) with its default tolerance ``.Machine$double.eps^0.25``;
* I^2 is metafor's tau^2 / (tau^2 + s^2), with s^2 the "typical" within-study variance
  (``I2``); meta's Q-based (Q - df) / Q is reported alongside it (``I2_Q``);
* Knapp-Hartung (``test="knha"``) scales the variance by the weighted residual variance without
  truncating the factor at 1 and uses t with k - 1 df, and then so does the prediction interval;
  ``test="adhoc"`` (metafor's name) truncates the factor at 1 (Knapp & Hartung 2003; Röver, Knapp &
  Friede 2015), so that the CI is never narrower than the Wald CI when the studies agree (pooling only);
* the prediction interval's distribution is named (``pi_method``): ``"z"`` (metafor's default),
  ``"t(k-1)"`` (meta >= 8.0) or ``"t(k-2)"`` (Higgins, Thompson & Spiegelhalter 2009).

Estimates of ratio measures (RR, OR, PETO, ROM, HR, IRR) live on the log scale; ``back_transform``
exponentiates them.  I^2 is in percent, as metafor prints it.

The intercept-only engine is vectorised over groups (``pool_groups``, ``leave_one_out``,
``cumulative`` and ``pool`` itself all run through it), so pooling thousands of outcome groups is
a handful of ``numpy.bincount`` passes; ``meta_regression`` uses the matrix form of the same model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from types import SimpleNamespace
from typing import Literal

import numpy as np
import pandas as pd

from ._errors import SynthesisError
from numpy.typing import ArrayLike, NDArray
from scipy import special

# The distribution functions pooling needs, each as scipy.stats computes it (the same scipy.special
# call): importing scipy.stats takes about a second, paid by every book page that pools.
_stats = SimpleNamespace(
    norm=SimpleNamespace(sf=lambda x: special.ndtr(np.negative(x)), isf=lambda q: -special.ndtri(q)),
    t=SimpleNamespace(sf=lambda x, df: special.stdtr(df, np.negative(x)), isf=lambda q, df: -special.stdtrit(df, q)),
    chi2=SimpleNamespace(sf=lambda x, df: special.chdtrc(df, x), isf=lambda q, df: special.chdtri(df, q),
                         ppf=lambda q, df: 2 * special.gammaincinv(np.divide(df, 2), q)),
    f=SimpleNamespace(sf=lambda x, dfn, dfd: special.fdtrc(dfn, dfd, x)),
)

__all__ = [
    "MetaRegressionResult",
    "MetaResult",
    "RatioScale",
    "RegressionTestResult",
    "Tau2Estimate",
    "binary_effects",
    "continuous_effects",
    "cumulative",
    "effect_from_ci",
    "estimate_tau2",
    "hedges_j",
    "leave_one_out",
    "leave_one_out_groups",
    "meta_regression",
    "pool",
    "pool_groups",
    "pool_mantel_haenszel",
    "pool_peto",
    "prediction_interval",
    "qprofile_tau2_ci",
    "regression_test",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Method = Literal["FE", "DL", "REML", "ML", "PM"]
Test = Literal["z", "knha", "adhoc"]
PIMethod = Literal["z", "t(k-1)", "t(k-2)"]

#: Measures analysed on the log scale and reported back on the ratio scale.
RATIO_MEASURES = frozenset({"RR", "OR", "PETO", "ROM", "HR", "IRR"})

METHODS: tuple[str, ...] = ("FE", "DL", "REML", "ML", "PM")
PI_METHODS: tuple[str, ...] = ("z", "t(k-1)", "t(k-2)")

# metafor's control defaults (rma.uni): Fisher scoring threshold, iteration cap, uniroot() tolerance.
THRESHOLD = 1e-5
MAXITER = 100
UNIROOT_TOL = float(np.finfo(float).eps) ** 0.25
_EPS = float(np.finfo(float).eps)


# ---------------------------------------------------------------------------------------------
# Effect sizes (metafor::escalc)
# ---------------------------------------------------------------------------------------------


def _as_float(x: ArrayLike | None, name: str) -> FloatArray:
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
    a = _as_float(ai, "ai")
    c = _as_float(ci, "ci")
    b = _as_float(n1i, "n1i or bi") - a if bi is None else _as_float(bi, "bi")
    d = _as_float(n2i, "n2i or di") - c if di is None else _as_float(di, "di")
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
    m1, s1, n1 = _as_float(m1i, "m1i"), _as_float(sd1i, "sd1i"), _as_float(n1i, "n1i")
    m2, s2, n2 = _as_float(m2i, "m2i"), _as_float(sd2i, "sd2i"), _as_float(n2i, "n2i")
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

    Ratio measures (see ``RATIO_MEASURES``) are taken to the log scale first, where their CI is
    symmetric, so ``yi = log(estimate)`` and ``sei = (log(high) - log(low)) / (2 z)``.

    Returns
    -------
    pandas.DataFrame
        Columns ``yi``, ``sei`` and ``vi`` on the analysis scale.
    """
    est, lo, hi = (_as_float(x, n) for x, n in ((estimate, "estimate"), (ci_low, "ci_low"), (ci_high, "ci_high")))
    if np.any(hi < lo):
        raise ValueError("ci_high must be >= ci_low")
    if measure.upper() in RATIO_MEASURES:
        if np.any(np.concatenate([est, lo, hi]) <= 0):
            raise ValueError(f"{measure} estimates and CI bounds must be > 0")
        est, lo, hi = np.log(est), np.log(lo), np.log(hi)
    z = _z_crit(level)
    sei = (hi - lo) / (2 * z)
    return pd.DataFrame({"yi": est, "sei": sei, "vi": sei**2})


# ---------------------------------------------------------------------------------------------
# Small numerical helpers
# ---------------------------------------------------------------------------------------------


def _alpha(level: float) -> float:
    if not 0 < level < 100:
        raise ValueError(f"level is a percentage in (0, 100), got {level}")
    return 1 - level / 100


def _z_crit(level: float) -> float:
    return float(_stats.norm.isf(_alpha(level) / 2))


def _gsum(x: FloatArray, g: IntArray, n_groups: int) -> FloatArray:
    return np.bincount(g, weights=x, minlength=n_groups).astype(float, copy=False)


def _r_zeroin(
    f: Callable[[FloatArray, NDArray[np.bool_]], FloatArray],
    lower: FloatArray,
    upper: FloatArray,
    f_lower: FloatArray,
    f_upper: FloatArray,
    *,
    solve: NDArray[np.bool_] | None = None,
    tol: float = UNIROOT_TOL,
    maxiter: int = 1000,
) -> FloatArray:
    """Brent's zeroin as R's ``uniroot()`` runs it (``R_zeroin2``), for many roots at once.

    A line-by-line port, not ``scipy.optimize.brentq``: metafor's Q-profile CI and Paule-Mandel
    estimate stop at R's tolerance (~1.2e-4 on tau^2), and matching the printed decimals means
    taking R's steps.  Each problem j keeps its own state; ``f(x, active)`` must return f(x[j])
    for every j with ``active[j]`` (other entries are ignored); ``solve`` limits the search to
    some problems (NaN for the others).  Every expression keeps the C code's order of operations,
    so each root is what R computes for that problem alone.  As in R, a search that exhausts
    ``maxiter`` returns its last iterate.
    """
    a, b = np.array(lower, dtype=float), np.array(upper, dtype=float)
    fa, fb = np.array(f_lower, dtype=float), np.array(f_upper, dtype=float)
    c, fc = a.copy(), fa.copy()
    root = np.where(fa == 0.0, a, np.where(fb == 0.0, b, np.nan))
    done = (fa == 0.0) | (fb == 0.0)
    if solve is not None:
        done |= ~solve
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(maxiter + 1):
            act = ~done
            if not act.any():
                break
            prev_step = b - a
            swap = act & (np.abs(fc) < np.abs(fb))  # make b the best approximation
            a, b, c = np.where(swap, b, a), np.where(swap, c, b), np.where(swap, b, c)
            fa, fb, fc = np.where(swap, fb, fa), np.where(swap, fc, fb), np.where(swap, fb, fc)
            tol_act = 2 * _EPS * np.abs(b) + tol / 2
            new_step = (c - b) / 2
            found = act & ((np.abs(new_step) <= tol_act) | (fb == 0.0))
            root = np.where(found, b, root)
            done |= found
            act &= ~found
            if not act.any():
                break
            # Interpolation: linear when only two distinct points, else inverse quadratic.
            cb = c - b
            t1_lin = fb / fa
            q_ = fa / fc
            t1 = fb / fc
            t2 = fb / fa
            p = np.where(a == c, cb * t1_lin, t2 * (cb * q_ * (q_ - t1) - (b - a) * (t1 - 1.0)))
            q = np.where(a == c, 1.0 - t1_lin, (q_ - 1.0) * (t1 - 1.0) * (t2 - 1.0))
            q = np.where(p > 0, -q, q)
            p = np.abs(p)
            tried = act & (np.abs(prev_step) >= tol_act) & (np.abs(fa) > np.abs(fb))
            accept = tried & (p < (0.75 * cb * q - np.abs(tol_act * q) / 2)) & (p < np.abs(prev_step * q / 2))
            new_step = np.where(accept, p / q, new_step)
            new_step = np.where(np.abs(new_step) < tol_act, np.where(new_step > 0, tol_act, -tol_act), new_step)
            a, fa = np.where(act, b, a), np.where(act, fb, fa)
            b = np.where(act, b + new_step, b)
            fb = np.where(act, f(b, act), fb)
            flip = act & (((fb > 0) & (fc > 0)) | ((fb < 0) & (fc < 0)))
            c, fc = np.where(flip, a, c), np.where(flip, fa, fc)
    return np.where(done, root, b) if solve is None else np.where(solve, np.where(done, root, b), np.nan)


def _r_uniroot(
    f: Callable[[float], float],
    lower: float,
    upper: float,
    f_lower: float,
    f_upper: float,
    *,
    tol: float = UNIROOT_TOL,
    maxiter: int = 1000,
) -> float:
    """R's ``uniroot(f, c(lower, upper), tol=tol)$root`` for one scalar function."""
    root = _r_zeroin(
        lambda x, _active: np.array([f(float(x[0]))]),
        np.array([lower]), np.array([upper]), np.array([f_lower]), np.array([f_upper]), tol=tol, maxiter=maxiter,
    )
    return float(root[0])


def _q_batch(
    y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, tau2: FloatArray, active: NDArray[np.bool_]
) -> FloatArray:
    """Generalised Q(tau^2) = sum w (y - mu_w)^2, w = 1 / (v + tau^2), for the active groups."""
    sel = active[g]
    ys, vs, gs = y[sel], v[sel], g[sel]
    w = 1 / (vs + tau2[gs])
    with np.errstate(divide="ignore", invalid="ignore"):  # inactive groups have empty sums
        mu = _gsum(w * ys, gs, n_groups) / _gsum(w, gs, n_groups)
    r = ys - mu[gs]
    return np.where(active, _gsum(w * r * r, gs, n_groups), np.nan)


def _group_slices(g: IntArray, n_groups: int) -> list[IntArray]:
    """Element indices of each group, in group-code order."""
    order = np.argsort(g, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(g, minlength=n_groups))])
    return [order[bounds[j] : bounds[j + 1]] for j in range(n_groups)]


def _r_mad(y: FloatArray) -> float:
    """R's ``mad()``: 1.4826 * median absolute deviation from the median."""
    return 1.4826 * float(np.median(np.abs(y - np.median(y))))


# ---------------------------------------------------------------------------------------------
# The intercept-only engine, vectorised over groups
# ---------------------------------------------------------------------------------------------
# Everything below works on flat arrays y, v and integer group codes g (0..G-1).  With a single
# intercept the hat-matrix quantities metafor computes from k x k matrices have closed forms in
# the group sums of w, w^2, w^3 and w r^2, so every group advances with one bincount per sum.


@dataclass(frozen=True)
class _Sums:
    sw: FloatArray
    sw2: FloatArray
    sw3: FloatArray
    mu: FloatArray
    rss: FloatArray  # sum w (y - mu)^2
    rss2: FloatArray  # sum w^2 (y - mu)^2 = y'PPy

    @property
    def tr_p(self) -> FloatArray:
        return self.sw - self.sw2 / self.sw

    @property
    def tr_pp(self) -> FloatArray:  # sum of squared elements of P
        return self.sw2 - 2 * self.sw3 / self.sw + (self.sw2 / self.sw) ** 2


def _sums(y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, tau2: FloatArray) -> _Sums:
    w = 1 / (v + tau2[g])
    sw = _gsum(w, g, n_groups)
    mu = _gsum(w * y, g, n_groups) / sw
    r = y - mu[g]
    wr2 = w * r * r
    return _Sums(
        sw=sw,
        sw2=_gsum(w * w, g, n_groups),
        sw3=_gsum(w * w * w, g, n_groups),
        mu=mu,
        rss=_gsum(wr2, g, n_groups),
        rss2=_gsum(w * wr2, g, n_groups),
    )


def _tau2_he(y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, k: FloatArray) -> FloatArray:
    """Hedges' estimator: (sum (y - ybar)^2 - (1 - 1/k) sum v) / (k - 1); REML/ML start here."""
    ybar = _gsum(y, g, n_groups) / k
    rss = _gsum((y - ybar[g]) ** 2, g, n_groups)
    return (rss - (1 - 1 / k) * _gsum(v, g, n_groups)) / (k - 1)


def _tau2_fisher(
    y: FloatArray,
    v: FloatArray,
    g: IntArray,
    n_groups: int,
    k: FloatArray,
    *,
    ml: bool,
    threshold: float,
    stepadj: float = 1.0,
    maxiter: int = MAXITER,
) -> tuple[FloatArray, IntArray, NDArray[np.bool_]]:
    """REML (or ML) by Fisher scoring, metafor's loop step for step, each group stopping alone.

    Starts at max(0, Hedges), steps by (y'PPy - tr P) / tr(PP) (ML: (y'PPy - sum w) / sum w^2),
    halves a step that would make tau^2 negative, and stops when tau^2 changes by <= threshold.
    ``stepadj`` scales every step (metafor's remedy when scoring oscillates instead of converging).
    Returns tau^2, the iteration counts and whether each group converged within ``maxiter``.
    """
    tau2 = np.maximum(0.0, _tau2_he(y, v, g, n_groups, k))
    iterations = np.zeros(n_groups, dtype=np.intp)
    converged = np.ones(n_groups, dtype=bool)
    active = np.ones(n_groups, dtype=bool)
    while active.any():
        iterations[active] += 1
        # Only the elements of still-active groups are touched (converged groups are frozen, as
        # each of metafor's separate fits would be).
        sel = active[g]
        with np.errstate(divide="ignore", invalid="ignore"):  # inactive groups have empty sums
            s = _sums(y[sel], v[sel], g[sel], n_groups, tau2)
            adj = (s.rss2 - s.sw) / s.sw2 if ml else (s.rss2 - s.tr_p) / s.tr_pp
        adj = np.where(active & np.isfinite(adj), adj * stepadj, 0.0)
        adj = _halve_until_nonnegative(tau2, adj)
        new = tau2 + adj
        change = np.abs(tau2 - new)
        tau2 = np.where(active, new, tau2)
        over = active & (iterations > maxiter)
        converged &= ~over
        active &= (change > threshold) & ~over
    return tau2, iterations, converged


def _halve_until_nonnegative(tau2: FloatArray, adj: FloatArray) -> FloatArray:
    """metafor's step halving: ``while (tau2 + adj < 0) adj <- adj / 2``.

    From tau^2 = 0 a negative step halves until it underflows to -0, i.e. the step is 0.
    Halving is exact in binary floating point, so the loop below reproduces R's value.
    """
    adj = np.where((tau2 == 0) & (adj < 0), 0.0, adj)
    bad = tau2 + adj < 0
    while bad.any():
        adj = np.where(bad, adj / 2, adj)
        bad = tau2 + adj < 0
    return adj


def _reml_ml_loglik(
    y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, k: FloatArray, tau2: FloatArray, *, ml: bool
) -> FloatArray:
    s = _sums(y, v, g, n_groups, tau2)
    logdet = _gsum(np.log(v + tau2[g]), g, n_groups)
    log2pi = math.log(2 * math.pi)
    if ml:
        ll: FloatArray = -0.5 * k * log2pi - 0.5 * logdet - 0.5 * s.rss
    else:
        ll = -0.5 * (k - 1) * log2pi - 0.5 * logdet - 0.5 * np.log(s.sw) - 0.5 * s.rss
    return ll


def _tau2_pm(
    y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, k: FloatArray, *, tol: float
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Paule-Mandel: the tau^2 at which Q(tau^2) = k - 1, searched as metafor does (uniroot).

    Returns tau^2 and whether a root was found below metafor's tau2.max = max(100, 10 mad(y)^2).
    """
    everyone = np.ones(n_groups, dtype=bool)
    target = k - 1
    f0 = _q_batch(y, v, g, n_groups, np.zeros(n_groups), everyone) - target
    upper = np.array([max(100.0, 10 * _r_mad(y[idx]) ** 2) for idx in _group_slices(g, n_groups)])
    fu = _q_batch(y, v, g, n_groups, upper, everyone) - target
    search = (f0 >= 0) & (fu <= 0)  # Q(0) < k - 1 means tau^2 = 0; Q(max) > k - 1 means no root
    tau2 = np.zeros(n_groups)
    if search.any():
        def f(t: FloatArray, active: NDArray[np.bool_]) -> FloatArray:
            return _q_batch(y, v, g, n_groups, t, active) - target

        roots = _r_zeroin(f, np.zeros(n_groups), upper, f0, fu, solve=search, tol=tol)
        tau2 = np.where(search, roots, 0.0)
    return tau2, ~((f0 >= 0) & (fu > 0))


def _resolve_pi_method(pi_method: str | None, test: str) -> str:
    if pi_method is None:
        # metafor's predict(): a t-based PI with the model's df after Knapp-Hartung, else z.
        return "t(k-1)" if test in ("knha", "adhoc") else "z"
    if pi_method not in PI_METHODS:
        raise ValueError(f"pi_method must be one of {PI_METHODS}, got {pi_method!r}")
    return pi_method


def _pi_crit(pi_method: str, k: FloatArray, level: float) -> FloatArray:
    alpha = _alpha(level)
    if pi_method == "z":
        return np.full_like(k, _stats.norm.isf(alpha / 2))
    df = k - (1 if pi_method == "t(k-1)" else 2)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, _stats.t.isf(alpha / 2, np.maximum(df, 1)), np.nan)


def _fit_batch(
    y: FloatArray,
    v: FloatArray,
    g: IntArray,
    n_groups: int,
    *,
    method: str,
    test: str,
    level: float,
    pi_method: str | None,
    threshold: float,
    uniroot_tol: float,
    stepadj: float = 1.0,
) -> tuple[dict[str, FloatArray], str | None]:
    """Fit the intercept-only model in every group; every group must have k >= 2.

    Returns the per-group arrays and the prediction-interval method used (None for FE).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if test not in ("z", "knha", "adhoc"):
        raise ValueError(f"test must be 'z', 'knha' or 'adhoc', got {test!r}")
    k = np.bincount(g, minlength=n_groups).astype(float)

    # Heterogeneity statistics come from the fixed-effect (w = 1/v) fit, whatever the method.
    fe = _sums(y, v, g, n_groups, np.zeros(n_groups))
    q = np.maximum(0.0, fe.rss)
    q_df = k - 1
    vt = q_df / fe.tr_p  # metafor's "typical" within-study variance s^2
    i2_q = _i2_from_q(q, q_df)

    iterations = np.zeros(n_groups, dtype=np.intp)
    converged = np.ones(n_groups, dtype=bool)
    if method == "FE":
        tau2 = np.zeros(n_groups)
    elif method == "DL":
        tau2 = np.maximum(0.0, (q - q_df) / fe.tr_p)
    elif method == "PM":
        tau2, converged = _tau2_pm(y, v, g, n_groups, k, tol=uniroot_tol)
    else:
        ml = method == "ML"
        tau2, iterations, converged = _tau2_fisher(y, v, g, n_groups, k, ml=ml, threshold=threshold, stepadj=stepadj)
        # metafor's ll0check: if tau^2 = 0 has the higher (restricted) likelihood, use 0.
        ll0 = _reml_ml_loglik(y, v, g, n_groups, k, np.zeros(n_groups), ml=ml)
        ll = _reml_ml_loglik(y, v, g, n_groups, k, tau2, ml=ml)
        tau2 = np.where(converged & (ll0 - ll > uniroot_tol) & (tau2 > threshold), 0.0, tau2)
        tau2 = np.maximum(0.0, tau2)

    s = _sums(y, v, g, n_groups, tau2)
    tau2_se = _tau2_se(method, s, fe, k, tau2)
    vb = 1 / s.sw
    df = np.full(n_groups, np.nan)
    alpha = _alpha(level)
    if test in ("knha", "adhoc"):
        # Knapp-Hartung: scale by the weighted residual variance, t(k - 1); "adhoc" truncates the factor at 1.
        s2w = np.where(s.rss <= _EPS, 0.0, s.rss / q_df)
        if test == "adhoc":
            s2w = np.maximum(1.0, s2w)
        vb = s2w * vb
        df = q_df
        se = np.sqrt(vb)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = s.mu / se
        p = 2 * _stats.t.sf(np.abs(stat), df)
        crit = _stats.t.isf(alpha / 2, df)
    else:
        se = np.sqrt(vb)
        stat = s.mu / se
        p = 2 * _stats.norm.sf(np.abs(stat))
        crit = np.full(n_groups, _stats.norm.isf(alpha / 2))

    if method == "FE":
        with np.errstate(divide="ignore", invalid="ignore"):
            h2 = q / q_df
        i2 = i2_q
        pi_low = pi_high = np.full(n_groups, np.nan)
        resolved: str | None = None
    else:
        i2 = 100 * tau2 / (vt + tau2)
        h2 = tau2 / vt + 1
        resolved = _resolve_pi_method(pi_method, test)
        pi_se = np.sqrt(vb + tau2)
        pcrit = _pi_crit(resolved, k, level)
        pi_low, pi_high = s.mu - pcrit * pi_se, s.mu + pcrit * pi_se

    out = {
        "k": k,
        "estimate": s.mu,
        "se": se,
        "stat": stat,
        "df": df,
        "p": p,
        "ci_low": s.mu - crit * se,
        "ci_high": s.mu + crit * se,
        "tau2": tau2,
        "tau2_se": tau2_se,
        "I2": i2,
        "I2_Q": i2_q,
        "H2": h2,
        "Q": q,
        "Q_df": q_df,
        "Q_p": _stats.chi2.sf(q, q_df),
        "pi_low": pi_low,
        "pi_high": pi_high,
        "vt": vt,
        "iterations": iterations.astype(float),
        "converged": converged.astype(float),
    }
    return out, resolved


def _i2_from_q(q: FloatArray, q_df: FloatArray) -> FloatArray:
    """(Q - df) / Q in percent, 0 when Q <= df (also for a Q so small that the ratio overflows)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.where(q > q_df, 100 * (q - q_df) / q, 0.0)


def _tau2_se(method: str, s: _Sums, fe: _Sums, k: FloatArray, tau2: FloatArray) -> FloatArray:
    """metafor's standard error of tau^2 for each estimator (NaN for FE)."""
    t = np.maximum(tau2, 0.0)
    if method == "DL":
        return np.sqrt((2 * (k - 1) + 4 * t * fe.tr_p + 2 * t**2 * fe.tr_pp) / fe.tr_p**2)
    if method == "REML":
        return np.sqrt(2 / s.tr_pp)
    if method == "ML":
        return np.sqrt(2 / s.sw2)
    if method == "PM":
        return np.sqrt(2 * k**2 / (k - 1) / s.sw**2)
    return np.full_like(tau2, np.nan)


# ---------------------------------------------------------------------------------------------
# Q-profile CI for tau^2 (metafor::confint.rma.uni, type="QP")
# ---------------------------------------------------------------------------------------------


def _qprofile(
    qfun: Callable[[FloatArray, NDArray[np.bool_]], FloatArray],
    tau2: FloatArray,
    df: FloatArray,
    fit: NDArray[np.bool_],
    *,
    level: float,
    tol: float,
) -> tuple[FloatArray, FloatArray]:
    """Invert the generalised Q statistic against chi^2(df), with metafor's search limits.

    Vectorised over problems j (groups): ``qfun(t, active)`` gives Q_j(t_j) for the active ones;
    ``fit`` selects the problems to solve (NaN bounds elsewhere).  The logic, case by case, is
    ``confint.rma.uni(type="QP")``; the lower bound solves Q = chi^2 upper quantile, the upper
    bound Q = chi^2 lower quantile, both by R's uniroot on [min(0, tau^2), max(100, 10 tau^2)].
    """
    alpha = _alpha(level)
    n = len(tau2)
    nan = np.full(n, np.nan)
    if not fit.any():
        return nan, nan.copy()
    dfs = np.where(fit, df, 1.0)
    crit_u = _stats.chi2.isf(alpha / 2, dfs)  # gives the lower bound
    crit_l = _stats.chi2.ppf(alpha / 2, dfs)  # gives the upper bound
    lo_lim, hi_lim = np.minimum(0.0, tau2), np.maximum(100.0, 10 * tau2)
    q_lo, q_hi = qfun(lo_lim, fit), qfun(hi_lim, fit)

    def solve(crit: FloatArray, which: NDArray[np.bool_]) -> FloatArray:
        if not which.any():
            return nan
        return _r_zeroin(
            lambda t, act: qfun(t, act) - crit, lo_lim, hi_lim, q_lo - crit, q_hi - crit, solve=which, tol=tol
        )

    null = fit & (q_lo < crit_l)  # even tau^2 = 0 fits too well: the CI is the null set, [0, 0]
    ub_capped = fit & ~null & (q_hi > crit_l)  # upper bound beyond the search limit
    ub_root = fit & ~null & ~ub_capped
    upper = np.where(null, lo_lim, np.where(ub_capped, hi_lim, solve(crit_l, ub_root)))
    lb_capped = fit & ~null & (q_hi > crit_u)  # both bounds beyond the search limit
    lb_zero = fit & ~null & ~lb_capped & (q_lo < crit_u)
    lb_root = fit & ~null & ~lb_capped & ~lb_zero
    lower = np.where(null | lb_zero, lo_lim, np.where(lb_capped, hi_lim, solve(crit_u, lb_root)))
    upper = np.where(lb_capped, hi_lim, upper)
    return np.where(fit, lower, np.nan), np.where(fit, upper, np.nan)


def qprofile_tau2_ci(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    tau2: float,
    level: float = 95.0,
    uniroot_tol: float = UNIROOT_TOL,
) -> tuple[float, float]:
    """Q-profile confidence interval for tau^2 (Viechtbauer 2007), as ``confint(rma_fit)``.

    Parameters
    ----------
    yi, vi : array_like
        Effects and sampling variances.
    tau2 : float
        The fitted tau^2 (it sets the upper search limit, max(100, 10 tau^2), as in metafor).
    level : float, default 95
        Confidence level in percent.
    uniroot_tol : float
        Tolerance of the root search (R's default ``.Machine$double.eps^0.25``).
    """
    y, v = _pairs(yi, vi, outcome=None)
    lo, hi = _group_qprofile(y, v, np.zeros(len(y), dtype=np.intp), np.array([tau2]), np.ones(1, dtype=bool),
                             level=level, tol=uniroot_tol)
    return float(lo[0]), float(hi[0])


def _group_qprofile(
    y: FloatArray, v: FloatArray, g: IntArray, tau2: FloatArray, fit: NDArray[np.bool_], *, level: float, tol: float
) -> tuple[FloatArray, FloatArray]:
    """Q-profile CIs for every group flagged in ``fit`` (intercept-only models)."""
    n_groups = len(tau2)
    k = np.bincount(g, minlength=n_groups).astype(float)
    return _qprofile(
        lambda t, act: _q_batch(y, v, g, n_groups, t, act), tau2, k - 1, fit, level=level, tol=tol
    )


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatioScale:
    """A pooled ratio measure back on its natural scale (exp of the log-scale numbers)."""

    measure: str
    average: str
    estimate: float
    ci_low: float
    ci_high: float
    pi_low: float
    pi_high: float


@dataclass(frozen=True)
class MetaResult:
    """One pooled estimate with its heterogeneity statistics.

    Attributes
    ----------
    estimate, se, ci_low, ci_high : float
        Pooled effect (log scale for ratio measures), its standard error and CI.
    stat, df, p : float
        Test statistic (z, or t with ``df`` degrees of freedom under Knapp-Hartung; ``df`` is
        NaN for z) and its two-sided p-value.
    tau2, tau2_se, tau2_ci_low, tau2_ci_high : float
        Between-study variance, its standard error and Q-profile CI.
    tau, tau_ci_low, tau_ci_high : float
        sqrt(tau^2) and its CI.
    I2, I2_ci_low, I2_ci_high : float
        metafor's I^2 = tau^2 / (tau^2 + s^2) in percent (for FE/MH/Peto: (Q - df) / Q), and its
        CI from the tau^2 CI.
    I2_Q : float
        meta's default I^2 = (Q - df) / Q in percent, the same whatever the tau^2 estimator.
    H2, H2_ci_low, H2_ci_high : float
        H^2 = tau^2 / s^2 + 1 (for FE/MH/Peto: Q / df) and its CI.
    Q, Q_df, Q_p : float
        Cochran's Q (inverse-variance weights), its df and p-value.
    pi_low, pi_high, pi_method : float, float, str or None
        Prediction interval and the distribution it used (``"z"``, ``"t(k-1)"``, ``"t(k-2)"``);
        NaN and None for models without tau^2 (FE, MH, Peto).
    k, method, measure, test, level : int, str, str, str, float
        Number of studies, tau^2 estimator (or "FE", "MH", "PETO"), effect measure, "z" or
        "knha", and the confidence level in percent.
    vt : float
        The typical within-study variance s^2 behind I^2 and H^2.
    iterations : int
        Fisher scoring iterations (REML/ML), else 0.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    stat: float
    df: float
    p: float
    tau2: float
    tau2_se: float
    tau2_ci_low: float
    tau2_ci_high: float
    tau: float
    tau_ci_low: float
    tau_ci_high: float
    I2: float
    I2_ci_low: float
    I2_ci_high: float
    I2_Q: float
    H2: float
    H2_ci_low: float
    H2_ci_high: float
    Q: float
    Q_df: float
    Q_p: float
    pi_low: float
    pi_high: float
    pi_method: str | None
    k: int
    method: str
    measure: str
    test: str
    level: float
    vt: float
    iterations: int = 0

    @property
    def is_ratio(self) -> bool:
        """Whether the estimate is a log ratio (and ``back_transform`` applies)."""
        return self.measure.upper() in RATIO_MEASURES

    def prediction_interval(self, pi_method: PIMethod) -> tuple[float, float]:
        """The prediction interval under another convention, from this fit's estimate and SE."""
        if self.method in ("FE", "MH", "PETO"):
            raise SynthesisError(f"a {self.method} model has no tau^2, so no prediction interval")
        return prediction_interval(self.estimate, self.se, self.tau2, self.k, pi_method=pi_method, level=self.level)

    def with_pi_method(self, pi_method: PIMethod) -> MetaResult:
        """A copy whose prediction interval uses ``pi_method``."""
        low, high = self.prediction_interval(pi_method)
        return replace(self, pi_low=low, pi_high=high, pi_method=pi_method)

    def back_transform(self, average: Literal["median", "mean"] = "median") -> RatioScale:
        """Estimate, CI and PI of a ratio measure on the ratio scale.

        Parameters
        ----------
        average : {"median", "mean"}, default "median"
            ``"median"``: exp of each bound (metafor ``transf=exp``); exp(estimate) is the
            median of the log-normal distribution of true ratios.  ``"mean"``: exp(x + tau^2/2)
            for each bound (metafor ``transf=transf.exp.int``, whose numerical integral has this
            closed form), the mean of that distribution; the same as "median" when tau^2 = 0.
        """
        if not self.is_ratio:
            raise ValueError(f"{self.measure} is not a ratio measure; nothing to back-transform")
        if average not in ("median", "mean"):
            raise ValueError(f"average must be 'median' or 'mean', got {average!r}")
        shift = self.tau2 / 2 if average == "mean" else 0.0

        def tr(x: float) -> float:
            return math.exp(x + shift) if math.isfinite(x) else math.nan

        return RatioScale(
            measure=self.measure,
            average=average,
            estimate=tr(self.estimate),
            ci_low=tr(self.ci_low),
            ci_high=tr(self.ci_high),
            pi_low=tr(self.pi_low),
            pi_high=tr(self.pi_high),
        )

    def to_series(self) -> pd.Series:
        """All fields as a pandas Series (for tables)."""
        return pd.Series(asdict(self))


def prediction_interval(
    estimate: float, se: float, tau2: float, k: int, *, pi_method: PIMethod = "z", level: float = 95.0
) -> tuple[float, float]:
    """estimate -/+ crit * sqrt(se^2 + tau^2), with crit from N(0, 1), t(k - 1) or t(k - 2).

    ``"t(k-2)"`` needs k >= 3 (NaN otherwise).
    """
    method = _resolve_pi_method(pi_method, "z")
    crit = float(_pi_crit(method, np.array([float(k)]), level)[0])
    half = crit * math.sqrt(se**2 + tau2)
    return estimate - half, estimate + half


# ---------------------------------------------------------------------------------------------
# Public pooling
# ---------------------------------------------------------------------------------------------


def _not_converged(method: str) -> str:
    if method == "PM":
        return "Paule-Mandel found no tau^2 below tau2.max = max(100, 10 mad(yi)^2) (metafor's limit)"
    return (f"Fisher scoring did not converge for {method} in {MAXITER} iterations "
            "(try stepadj=0.5, as metafor suggests)")


def _too_few(k: int, outcome: str | None) -> SynthesisError:
    where = f"outcome {outcome!r}" if outcome else "this outcome"
    return SynthesisError(f"{where}: needs >= 2 studies to pool, got {k}")


def _pairs(yi: ArrayLike, vi: ArrayLike, *, outcome: str | None) -> tuple[FloatArray, FloatArray]:
    """Validated effect/variance pairs; pairs with a NaN are dropped (metafor's na.omit)."""
    y = np.atleast_1d(np.asarray(yi, dtype=float))
    v = np.atleast_1d(np.asarray(vi, dtype=float))
    if y.shape != v.shape or y.ndim != 1:
        raise ValueError("yi and vi must be 1-d and of the same length")
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v))):
        raise ValueError("yi and vi must be finite")
    if np.any(v <= 0):
        raise ValueError("sampling variances vi must be > 0")
    if len(y) < 2:
        raise _too_few(len(y), outcome)
    return y, v


def _scalar(batch: dict[str, FloatArray], key: str, j: int = 0) -> float:
    return float(batch[key][j])


def pool(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    method: Method = "REML",
    test: Test = "z",
    measure: str = "GEN",
    level: float = 95.0,
    pi_method: PIMethod | None = None,
    tau2_ci: bool = True,
    threshold: float = THRESHOLD,
    uniroot_tol: float = UNIROOT_TOL,
    stepadj: float = 1.0,
    outcome: str | None = None,
) -> MetaResult:
    """Pool effects by inverse variance: fixed effect or random effects (``metafor::rma.uni``).

    Parameters
    ----------
    yi, vi : array_like
        Effects (log scale for ratio measures) and their sampling variances.
    method : {"REML", "DL", "ML", "PM", "FE"}, default "REML"
        tau^2 estimator, or "FE" for the fixed-effect (equal-effects) model.
    test : {"z", "knha", "adhoc"}, default "z"
        "knha": Hartung-Knapp-Sidik-Jonkman (metafor ``test="knha"``), t with k - 1 df.
        "adhoc": the same with its scaling factor truncated at 1 (metafor ``test="adhoc"``).
    measure : str, default "GEN"
        Label of the effect measure; ratio measures can be ``back_transform``-ed.
    level : float, default 95
        Confidence level in percent.
    pi_method : {"z", "t(k-1)", "t(k-2)"}, optional
        Prediction-interval distribution; by default metafor's: "z", or "t(k-1)" after "knha".
    tau2_ci : bool, default True
        Compute the Q-profile CI for tau^2 (and tau, I^2, H^2).
    threshold : float, default 1e-5
        Fisher scoring stops when tau^2 changes by less than this (metafor's default).
    uniroot_tol : float
        Tolerance for Paule-Mandel and the Q-profile search (R's uniroot default).
    stepadj : float, default 1
        Fisher scoring step multiplier (metafor's ``control=list(stepadj=...)``); 0.5 is the
        usual remedy when REML/ML scoring oscillates and does not converge.
    outcome : str, optional
        Name used in error messages.

    Returns
    -------
    MetaResult

    Raises
    ------
    SynthesisError
        Fewer than two usable studies, or Fisher scoring did not converge.
    """
    y, v = _pairs(yi, vi, outcome=outcome)
    g = np.zeros(len(y), dtype=np.intp)
    b, pim = _fit_batch(
        y, v, g, 1, method=method, test=test, level=level, pi_method=pi_method,
        threshold=threshold, uniroot_tol=uniroot_tol, stepadj=stepadj,
    )
    if not b["converged"][0]:
        where = f"outcome {outcome!r}" if outcome else "this outcome"
        raise SynthesisError(f"{where}: {_not_converged(method)}")
    tau2 = _scalar(b, "tau2")
    vt = _scalar(b, "vt")
    lo = hi = math.nan
    if tau2_ci and method != "FE":
        lows, highs = _group_qprofile(y, v, g, np.array([tau2]), np.ones(1, dtype=bool), level=level, tol=uniroot_tol)
        lo, hi = float(lows[0]), float(highs[0])
    return MetaResult(
        estimate=_scalar(b, "estimate"),
        se=_scalar(b, "se"),
        ci_low=_scalar(b, "ci_low"),
        ci_high=_scalar(b, "ci_high"),
        stat=_scalar(b, "stat"),
        df=_scalar(b, "df"),
        p=_scalar(b, "p"),
        tau2=tau2,
        tau2_se=_scalar(b, "tau2_se"),
        tau2_ci_low=lo,
        tau2_ci_high=hi,
        tau=math.sqrt(tau2),
        tau_ci_low=math.sqrt(lo) if lo >= 0 else math.nan,
        tau_ci_high=math.sqrt(hi) if hi >= 0 else math.nan,
        I2=_scalar(b, "I2"),
        I2_ci_low=100 * lo / (vt + lo),
        I2_ci_high=100 * hi / (vt + hi),
        I2_Q=_scalar(b, "I2_Q"),
        H2=_scalar(b, "H2"),
        H2_ci_low=lo / vt + 1,
        H2_ci_high=hi / vt + 1,
        Q=_scalar(b, "Q"),
        Q_df=_scalar(b, "Q_df"),
        Q_p=_scalar(b, "Q_p"),
        pi_low=_scalar(b, "pi_low"),
        pi_high=_scalar(b, "pi_high"),
        pi_method=pim,
        k=len(y),
        method=method,
        measure=measure,
        test=test,
        level=level,
        vt=vt,
        iterations=int(b["iterations"][0]),
    )


@dataclass(frozen=True)
class Tau2Estimate:
    """A tau^2 estimate, its standard error and the Fisher scoring iterations it took."""

    tau2: float
    se: float
    method: str
    iterations: int


def estimate_tau2(
    yi: ArrayLike,
    vi: ArrayLike,
    method: Literal["DL", "REML", "ML", "PM"] = "REML",
    *,
    threshold: float = THRESHOLD,
    uniroot_tol: float = UNIROOT_TOL,
) -> Tau2Estimate:
    """The between-study variance alone, by DerSimonian-Laird, REML, ML or Paule-Mandel."""
    if method not in ("DL", "REML", "ML", "PM"):
        raise ValueError(f"method must be DL, REML, ML or PM, got {method!r}")
    r = pool(yi, vi, method=method, tau2_ci=False, threshold=threshold, uniroot_tol=uniroot_tol)
    return Tau2Estimate(tau2=r.tau2, se=r.tau2_se, method=method, iterations=r.iterations)


def _mh_pieces(
    ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, measure: str
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Raw counts (NaN tables dropped) and the per-table yi/vi used for Q.

    As in ``rma.mh``/``rma.peto``: the Q statistic uses escalc's outcomes with 1/2 added to
    tables with a zero cell and double-zero tables dropped; the pooled estimate uses the raw counts.
    """
    a, b, c, d = (_as_float(x, n) for x, n in ((ai, "ai"), (bi, "bi"), (ci, "ci"), (di, "di")))
    eff = binary_effects(measure, a, b, c, d, drop00=True)
    keep = ~(np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d))
    yv = eff[keep & eff["yi"].notna().to_numpy() & eff["vi"].notna().to_numpy()]
    return a[keep], b[keep], c[keep], d[keep], yv["yi"].to_numpy(), yv["vi"].to_numpy()


def _fixed_result(
    *, estimate: float, se: float, yi: FloatArray, vi: FloatArray, q: float, k: int,
    method: str, measure: str, level: float,
) -> MetaResult:
    """Package an MH/Peto estimate: z test, no tau^2, Q-based I^2 and H^2 (as metafor)."""
    z = estimate / se
    crit = _z_crit(level)
    q_df = float(len(yi) - 1)
    i2 = float(_i2_from_q(np.array([q]), np.array([q_df]))[0])
    h2 = q / q_df if q_df > 0 else math.nan
    w = 1 / vi
    vt = q_df / (w.sum() - (w**2).sum() / w.sum()) if q_df > 0 else math.nan
    nan = math.nan
    return MetaResult(
        estimate=estimate, se=se, ci_low=estimate - crit * se, ci_high=estimate + crit * se,
        stat=z, df=nan, p=float(2 * _stats.norm.sf(abs(z))),
        tau2=0.0, tau2_se=nan, tau2_ci_low=nan, tau2_ci_high=nan, tau=0.0, tau_ci_low=nan, tau_ci_high=nan,
        I2=i2, I2_ci_low=nan, I2_ci_high=nan, I2_Q=i2, H2=h2, H2_ci_low=nan, H2_ci_high=nan,
        Q=q, Q_df=q_df, Q_p=float(_stats.chi2.sf(q, q_df)) if q_df > 0 else nan,
        pi_low=nan, pi_high=nan, pi_method=None,
        k=k, method=method, measure=measure, test="z", level=level, vt=vt,
    )


def pool_mantel_haenszel(
    ai: ArrayLike,
    bi: ArrayLike,
    ci: ArrayLike,
    di: ArrayLike,
    *,
    measure: Literal["OR", "RR", "RD"] = "OR",
    level: float = 95.0,
    outcome: str | None = None,
) -> MetaResult:
    """Mantel-Haenszel pooled OR, RR or RD (``metafor::rma.mh``).

    Variances: Robins-Breslow-Greenland for the log OR, Greenland-Robins for the log RR and
    Sato-Greenland-Robins for the RD.  Q is Cochran's, with inverse-variance weights from the
    per-table outcomes, around the MH estimate.
    """
    measure_u = measure.upper()
    if measure_u not in ("OR", "RR", "RD"):
        raise ValueError(f"Mantel-Haenszel supports OR, RR and RD, not {measure!r}")
    a, b, c, d, yi, vi = _mh_pieces(ai, bi, ci, di, measure_u)
    if len(a) < 2 or len(yi) < 2:
        raise _too_few(min(len(a), len(yi)), outcome)
    n1, n2 = a + b, c + d
    n = n1 + n2
    if measure_u == "OR":
        p_, q_ = a / n + d / n, b / n + c / n
        r_i, s_i = (a / n) * d, (b / n) * c
        r, s = float(r_i.sum()), float(s_i.sum())
        if r <= 0 or s <= 0:  # no events (or no non-events) in one arm of every table
            est = se = math.nan
        else:
            est = math.log(r / s)
            # Robins, Breslow & Greenland (1986)
            pr, ps_qr, qs = (p_ * r_i).sum(), (p_ * s_i + q_ * r_i).sum(), (q_ * s_i).sum()
            se = math.sqrt(0.5 * (pr / r**2 + ps_qr / (r * s) + qs / s**2))
    elif measure_u == "RR":
        r, s = float((a * (n2 / n)).sum()), float((c * (n1 / n)).sum())
        if r <= 0 or s <= 0:
            est = se = math.nan
        else:
            est = math.log(r / s)
            se = math.sqrt(((n1 / n) * (n2 / n) * (a + c) - (a / n) * c).sum() / (r * s))
    else:
        denom = (n1 * (n2 / n)).sum()
        est = float((a * (n2 / n) - c * (n1 / n)).sum() / denom)
        num = est * (c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n) * (n2 - n1) / 2).sum()
        num += (a * (n2 - c) / n + c * (n1 - a) / n).sum() / 2
        se = math.sqrt(num / denom**2)
    q = max(0.0, float(((yi - est) ** 2 / vi).sum()))
    return _fixed_result(estimate=est, se=se, yi=yi, vi=vi, q=q, k=len(a), method="MH", measure=measure_u, level=level)


def pool_peto(
    ai: ArrayLike,
    bi: ArrayLike,
    ci: ArrayLike,
    di: ArrayLike,
    *,
    level: float = 95.0,
    outcome: str | None = None,
) -> MetaResult:
    """Peto's one-step pooled log odds ratio (``metafor::rma.peto``), with Peto's Q."""
    a, b, c, d, yi, vi = _mh_pieces(ai, bi, ci, di, "PETO")
    if len(a) < 2 or len(yi) < 2:
        raise _too_few(min(len(a), len(yi)), outcome)
    n1, n2 = a + b, c + d
    n = n1 + n2
    expected = (a + c) * n1 / n
    var = (a + c) * (b + d) * (n1 / n) * (n2 / n) / (n - 1)
    if var.sum() == 0:
        raise SynthesisError("one of the two outcomes never occurred: Peto's method cannot be used")
    o_e = a - expected
    est = float(o_e.sum() / var.sum())
    se = math.sqrt(1 / var.sum())
    pos = var > 0
    q = max(0.0, float((o_e[pos] ** 2 / var[pos]).sum() - o_e.sum() ** 2 / var[pos].sum()))
    return _fixed_result(estimate=est, se=se, yi=yi, vi=vi, q=q, k=len(a), method="PETO", measure="PETO", level=level)


# ---------------------------------------------------------------------------------------------
# Many groups, leave-one-out and cumulative analyses (all through the batch engine)
# ---------------------------------------------------------------------------------------------

_BATCH_COLUMNS = [
    "k", "estimate", "se", "stat", "df", "p", "ci_low", "ci_high", "tau2", "tau2_se",
    "I2", "I2_Q", "H2", "Q", "Q_df", "Q_p", "pi_low", "pi_high",
]


def _batch_frame(
    y: FloatArray,
    v: FloatArray,
    g: IntArray,
    n_groups: int,
    *,
    method: str,
    test: str,
    level: float,
    pi_method: str | None,
    threshold: float,
    uniroot_tol: float,
    stepadj: float,
) -> pd.DataFrame:
    """Fit every group with k >= 2; groups with k < 2 get NaN and a status saying why."""
    k = np.bincount(g, minlength=n_groups)
    poolable = k >= 2
    frame = pd.DataFrame(np.nan, index=range(n_groups), columns=_BATCH_COLUMNS)
    frame["k"] = k
    frame["method"] = method
    frame["test"] = test
    frame["pi_method"] = None
    frame["status"] = [f"needs >= 2 studies to pool, got {n}" for n in k]
    if poolable.any():
        remap = np.cumsum(poolable) - 1  # dense codes for the poolable groups
        keep = poolable[g]
        b, pim = _fit_batch(
            y[keep], v[keep], remap[g[keep]], int(poolable.sum()), method=method, test=test,
            level=level, pi_method=pi_method, threshold=threshold, uniroot_tol=uniroot_tol, stepadj=stepadj,
        )
        rows = np.flatnonzero(poolable)
        for col in _BATCH_COLUMNS:
            frame.loc[rows, col] = b[col]
        frame.loc[rows, "pi_method"] = pim
        ok = b["converged"].astype(bool)
        frame.loc[rows, "status"] = np.where(ok, "ok", _not_converged(method))
        bad = rows[~ok]
        frame.loc[bad, _BATCH_COLUMNS[1:]] = np.nan
    frame["k"] = frame["k"].astype(int)
    return frame


def _usable_rows(frame: pd.DataFrame, yi: str, vi: str) -> pd.DataFrame:
    """Rows with both yi and vi (NaN pairs dropped, as metafor's na.omit), checked."""
    data = frame.dropna(subset=[yi, vi])
    y, v = data[yi].to_numpy(dtype=float), data[vi].to_numpy(dtype=float)
    if np.any(v <= 0) or not np.all(np.isfinite(y)) or not np.all(np.isfinite(v)):
        raise ValueError("yi must be finite and vi finite and > 0")
    return data


def pool_groups(
    frame: pd.DataFrame,
    by: str | Sequence[str],
    *,
    yi: str = "yi",
    vi: str = "vi",
    method: Method = "REML",
    test: Test = "z",
    level: float = 95.0,
    pi_method: PIMethod | None = None,
    tau2_ci: bool = False,
    threshold: float = THRESHOLD,
    uniroot_tol: float = UNIROOT_TOL,
    stepadj: float = 1.0,
) -> pd.DataFrame:
    """Pool every group of rows (e.g. by outcome and measure) in one vectorised pass.

    Each group is fitted exactly as ``pool`` would fit it alone.  Groups with fewer than two
    usable rows, or whose Fisher scoring did not converge, are not pooled: their numbers are NaN
    and ``status`` says why.  Other parameters are as for ``pool``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per study outcome, with effect ``yi`` and variance ``vi`` columns.
    by : str or sequence of str
        Grouping columns.
    tau2_ci : bool, default False
        Add ``tau2_ci_low``/``tau2_ci_high``, the Q-profile CI for tau^2 (root searches run for
        all groups at once).

    Returns
    -------
    pandas.DataFrame
        One row per group (indexed by the group keys) with ``k``, ``estimate``, ``se``, ``stat``,
        ``df``, ``p``, ``ci_low``, ``ci_high``, ``tau2``, ``tau2_se``, ``I2``, ``I2_Q``, ``H2``,
        ``Q``, ``Q_df``, ``Q_p``, ``pi_low``, ``pi_high``, ``pi_method``, ``method``, ``test``
        and ``status``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    data = _usable_rows(frame, yi, vi)
    y = data[yi].to_numpy(dtype=float)
    v = data[vi].to_numpy(dtype=float)
    grouped = data.groupby(keys, sort=True, dropna=False)
    g = grouped.ngroup().to_numpy().astype(np.intp)
    out = _batch_frame(
        y, v, g, grouped.ngroups, method=method, test=test, level=level, pi_method=pi_method,
        threshold=threshold, uniroot_tol=uniroot_tol, stepadj=stepadj,
    )
    out.index = grouped.size().index  # the group keys, in group-code order
    if tau2_ci:
        out["tau2_ci_low"], out["tau2_ci_high"] = _group_qprofile(
            y, v, g, out["tau2"].to_numpy(dtype=float), (out["status"] == "ok").to_numpy() & (method != "FE"),
            level=level, tol=uniroot_tol,
        )
    return out


def _leave_one_out_index(sizes: IntArray) -> tuple[IntArray, IntArray]:
    """Members of every (group, omitted study) subset, without Python loops.

    Elements are sorted by group, group j holding positions starts[j] .. starts[j] + sizes[j] - 1.
    The subset that omits element e gets code e, so subset codes line up with the elements.
    Returns the element index of every member and its subset code.
    """
    pairs = sizes**2
    total = int(pairs.sum())
    group = np.repeat(np.arange(len(sizes)), pairs)
    t = np.arange(total) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    k = sizes[group]
    omitted, member = t // k, t % k
    keep = member != omitted
    starts = np.cumsum(sizes) - sizes
    return (starts[group] + member)[keep], (starts[group] + omitted)[keep]


def leave_one_out_groups(
    frame: pd.DataFrame,
    by: str | Sequence[str],
    *,
    yi: str = "yi",
    vi: str = "vi",
    label: str | None = None,
    max_k: int | None = None,
    method: Method = "REML",
    test: Test = "z",
    level: float = 95.0,
    pi_method: PIMethod | None = None,
    threshold: float = THRESHOLD,
    stepadj: float = 1.0,
) -> pd.DataFrame:
    """Leave-one-out analyses for every group (``metafor::leave1out``), vectorised.

    Every study of every group with 3 <= k (<= ``max_k`` if given) is dropped in turn and the
    rest re-pooled with the same model.  Returns one row per (group, omitted study): the group
    keys, ``omitted`` (the ``label`` column's value, else the row's index label) and the columns
    of ``pool_groups``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    data = _usable_rows(frame, yi, vi)
    sizes_all = data.groupby(keys, sort=True, dropna=False)[yi].transform("size").to_numpy()
    eligible = sizes_all >= 3
    if max_k is not None:
        eligible &= sizes_all <= max_k
    data = data[eligible]
    if data.empty:
        return pd.DataFrame(columns=[*keys, "omitted", *_BATCH_COLUMNS, "method", "test", "pi_method", "status"])
    codes = data.groupby(keys, sort=True, dropna=False).ngroup().to_numpy()
    data = data.iloc[np.argsort(codes, kind="stable")]  # contiguous groups, rows in input order
    sizes = np.bincount(codes).astype(np.intp)
    member, subset = _leave_one_out_index(sizes)
    y = data[yi].to_numpy(dtype=float)
    v = data[vi].to_numpy(dtype=float)
    fits = _batch_frame(
        y[member], v[member], subset, int(sizes.sum()), method=method, test=test, level=level,
        pi_method=pi_method, threshold=threshold, uniroot_tol=UNIROOT_TOL, stepadj=stepadj,
    )
    ident = data[keys].reset_index(drop=True)
    omitted = data[label].to_numpy() if label is not None else data.index.to_numpy()
    head = ident.assign(omitted=omitted)
    return pd.concat([head, fits.reset_index(drop=True)], axis=1)


def leave_one_out(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    labels: Sequence[object] | None = None,
    method: Method = "REML",
    test: Test = "z",
    level: float = 95.0,
    pi_method: PIMethod | None = None,
    threshold: float = THRESHOLD,
    stepadj: float = 1.0,
    outcome: str | None = None,
) -> pd.DataFrame:
    """Leave-one-out sensitivity analysis of one meta-analysis (``metafor::leave1out``).

    Returns
    -------
    pandas.DataFrame
        One row per omitted study: ``omitted`` (its label) and the pooled result of the others
        (``k``, ``estimate``, ``se``, ``ci_low``, ``ci_high``, ``p``, ``tau2``, ``I2``, ``Q``...).

    Raises
    ------
    SynthesisError
        With fewer than 3 studies (dropping one would leave a single study).
    """
    y, v = _pairs(yi, vi, outcome=outcome)
    if len(y) < 3:
        where = f"outcome {outcome!r}" if outcome else "this outcome"
        raise SynthesisError(f"{where}: leave-one-out needs >= 3 studies, got {len(y)}")
    names = list(labels) if labels is not None else list(range(1, len(y) + 1))
    if len(names) != len(np.asarray(yi)):
        raise ValueError("labels must have one entry per study")
    keep = ~(np.isnan(np.asarray(yi, dtype=float)) | np.isnan(np.asarray(vi, dtype=float)))
    frame = pd.DataFrame({"g": 0, "yi": y, "vi": v, "label": np.asarray(names, dtype=object)[keep]})
    out = leave_one_out_groups(
        frame, "g", label="label", method=method, test=test, level=level, pi_method=pi_method,
        threshold=threshold, stepadj=stepadj,
    )
    return out.drop(columns="g")


def cumulative(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    order: ArrayLike | None = None,
    labels: Sequence[object] | None = None,
    method: Method = "REML",
    test: Test = "z",
    level: float = 95.0,
    pi_method: PIMethod | None = None,
    threshold: float = THRESHOLD,
    stepadj: float = 1.0,
    outcome: str | None = None,
) -> pd.DataFrame:
    """Cumulative meta-analysis (``metafor::cumul``): studies added one at a time.

    Parameters
    ----------
    order : array_like, optional
        Sort key (e.g. publication year); ties keep the input order.  Default: input order.

    Returns
    -------
    pandas.DataFrame
        One row per added study: ``added`` (its label), ``k`` and the pooled result of the
        first k studies.  The first row is the first study alone (k = 1, not pooled: its own
        estimate and z-based CI, heterogeneity NaN).
    """
    y, v = _pairs(yi, vi, outcome=outcome)
    keep = ~(np.isnan(np.asarray(yi, dtype=float)) | np.isnan(np.asarray(vi, dtype=float)))
    names = np.asarray(list(labels) if labels is not None else range(1, len(keep) + 1), dtype=object)[keep]
    if order is not None:
        sort = np.argsort(np.asarray(order)[keep], kind="stable")
        y, v, names = y[sort], v[sort], names[sort]
    k = len(y)
    # Prefix j (j = 1..k) is subset j - 1; subsets of size >= 2 are fitted together.
    sizes = np.arange(1, k + 1)
    member = np.concatenate([np.arange(n) for n in sizes])
    subset = np.repeat(np.arange(k), sizes).astype(np.intp)
    fits = _batch_frame(
        y[member], v[member], subset, k, method=method, test=test, level=level, pi_method=pi_method,
        threshold=threshold, uniroot_tol=UNIROOT_TOL, stepadj=stepadj,
    )
    z = _z_crit(level)
    first = {"estimate": y[0], "se": math.sqrt(v[0]), "stat": y[0] / math.sqrt(v[0]),
             "p": 2 * _stats.norm.sf(abs(y[0] / math.sqrt(v[0]))),
             "ci_low": y[0] - z * math.sqrt(v[0]), "ci_high": y[0] + z * math.sqrt(v[0]), "status": "single study"}
    for col, val in first.items():
        fits.loc[0, col] = val
    fits.insert(0, "added", names)
    return fits


# ---------------------------------------------------------------------------------------------
# Meta-regression (matrix form of rma.uni) and Egger's regression test
# ---------------------------------------------------------------------------------------------


def _hat(x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """P = W - W X (X'WX)^-1 X'W and (X'WX)^-1."""
    wx = x * w[:, None]
    inv: FloatArray = np.linalg.inv(x.T @ wx).astype(float)
    hat: FloatArray = np.diag(w) - wx @ inv @ wx.T
    return hat, inv


def _mr_tau2(
    y: FloatArray, v: FloatArray, x: FloatArray, method: str, *, threshold: float, uniroot_tol: float
) -> tuple[float, int]:
    k, p = x.shape
    ymc = y - y.mean()  # metafor centres y for the tau^2 computations (stability only)
    if method == "FE":
        return 0.0, 0
    if method == "DL":
        pm, _ = _hat(x, 1 / v)
        return max(0.0, float((ymc @ pm @ ymc - (k - p)) / np.trace(pm))), 0
    if method == "PM":
        def f(t: float) -> float:
            pm_t, _ = _hat(x, 1 / (v + t))
            return float(ymc @ pm_t @ ymc) - float(k - p)

        f0 = f(0.0)
        if f0 < 0:
            return 0.0, 0
        upper = max(100.0, 10 * _r_mad(y) ** 2)
        fu = f(upper)
        if fu > 0:
            raise SynthesisError(f"Paule-Mandel: tau^2 exceeds tau2.max = {upper:g}")
        return _r_uniroot(f, 0.0, upper, f0, fu, tol=uniroot_tol), 0
    # REML / ML: Fisher scoring from the Hedges estimate, as in the intercept-only engine.
    p0 = np.eye(k) - x @ np.linalg.inv(x.T @ x) @ x.T
    tau2 = max(0.0, float((ymc @ p0 @ ymc - float(np.sum(np.diag(p0) * v))) / (k - p)))
    change, it = threshold + 1, 0
    while change > threshold:
        it += 1
        w = 1 / (v + tau2)
        pm, _ = _hat(x, w)
        ppy = pm @ ymc
        if method == "ML":
            adj = (float(ppy @ ppy) - float(w.sum())) / float((w * w).sum())
        else:
            adj = (float(ppy @ ppy) - float(np.trace(pm))) / float(np.sum(pm * pm))
        adj = float(_halve_until_nonnegative(np.array([tau2]), np.array([adj]))[0])
        old, tau2 = tau2, tau2 + adj
        change = abs(old - tau2)
        if it > MAXITER:
            raise SynthesisError(f"Fisher scoring did not converge for {method}")
    return max(0.0, tau2), it


@dataclass(frozen=True)
class MetaRegressionResult:
    """A mixed-effects meta-regression (``rma.uni`` with moderators).

    ``coefficients`` has one row per model term (``intercept`` first) with ``estimate``, ``se``,
    ``stat``, ``p``, ``ci_low``, ``ci_high``.  ``QE`` tests residual heterogeneity (df k - p);
    ``QM`` tests the moderators (chi^2 with m df, or F(m, k - p) under Knapp-Hartung);
    ``R2`` is the percentage of tau^2 explained relative to the intercept-only model.
    """

    coefficients: pd.DataFrame
    tau2: float
    tau2_se: float
    tau2_ci_low: float
    tau2_ci_high: float
    I2: float
    H2: float
    R2: float
    QE: float
    QE_df: int
    QE_p: float
    QM: float
    QM_df: tuple[int, ...]
    QM_p: float
    k: int
    method: str
    test: str
    iterations: int
    vcov: FloatArray


def meta_regression(
    yi: ArrayLike,
    vi: ArrayLike,
    mods: ArrayLike | pd.DataFrame,
    *,
    names: Sequence[str] | None = None,
    method: Method = "REML",
    test: Test = "z",
    level: float = 95.0,
    tau2_ci: bool = True,
    threshold: float = THRESHOLD,
    uniroot_tol: float = UNIROOT_TOL,
    r2: bool = True,
) -> MetaRegressionResult:
    """Meta-regression with an intercept and moderators, fitted as ``rma(yi, vi, mods=...)``.

    Parameters
    ----------
    mods : array_like or DataFrame, shape (k,) or (k, m)
        Moderator values (no intercept column; it is added).
    names : sequence of str, optional
        Moderator names (default: DataFrame columns or ``x1``, ``x2``...).
    method, test, level, threshold, uniroot_tol
        As for ``pool``.
    tau2_ci : bool, default True
        Q-profile CI for the residual tau^2.
    r2 : bool, default True
        Compute R^2 (refits the intercept-only model with the same method).
    """
    if test not in ("z", "knha"):
        raise ValueError(f"meta-regression takes test 'z' or 'knha', got {test!r}")
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    m = np.asarray(mods, dtype=float)
    m = m[:, None] if m.ndim == 1 else m
    if names is None:
        names = list(mods.columns) if isinstance(mods, pd.DataFrame) else [f"x{j + 1}" for j in range(m.shape[1])]
    x = np.column_stack([np.ones(len(y)), m])
    k, p = x.shape
    if len(y) != len(v) or len(y) != m.shape[0]:
        raise ValueError("yi, vi and mods must have the same number of rows")
    if np.any(v <= 0):
        raise ValueError("sampling variances vi must be > 0")
    if k < p + 1:
        raise SynthesisError(f"needs >= {p + 1} studies for {p} coefficients and tau^2, got {k}")

    tau2, iterations = _mr_tau2(y, v, x, method, threshold=threshold, uniroot_tol=uniroot_tol)
    w = 1 / (v + tau2)
    pm, inv = _hat(x, w)
    beta = inv @ (x.T @ (w * y))
    vb = inv
    resid = y - x @ beta
    alpha = _alpha(level)
    if test == "knha":
        rss = float(w @ (resid * resid))
        vb = (0.0 if rss <= _EPS else rss / (k - p)) * vb
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    btt = slice(1, p)
    qm = float(beta[btt] @ np.linalg.solve(vb[btt, btt], beta[btt]))
    if test == "knha":
        crit = float(_stats.t.isf(alpha / 2, k - p))
        pval = 2 * _stats.t.sf(np.abs(stat), k - p)
        qm /= p - 1
        qm_df: tuple[int, ...] = (p - 1, k - p)
        qm_p = float(_stats.f.sf(qm, p - 1, k - p))
    else:
        crit = _z_crit(level)
        pval = 2 * _stats.norm.sf(np.abs(stat))
        qm_df = (p - 1,)
        qm_p = float(_stats.chi2.sf(qm, p - 1))

    p_fe, _ = _hat(x, 1 / v)
    ymc = y - y.mean()
    qe = max(0.0, float(ymc @ p_fe @ ymc))
    vt = (k - p) / float(np.trace(p_fe))
    se_tau2 = {
        "REML": math.sqrt(2 / float(np.sum(pm * pm))),
        "ML": math.sqrt(2 / float((w * w).sum())),
        "PM": math.sqrt(2 * k**2 / (k - p) / float(w.sum()) ** 2),
    }.get(method, math.nan)
    if method == "DL":
        trp = float(np.trace(p_fe))
        se_tau2 = math.sqrt((2 * (k - p) + 4 * tau2 * trp + 2 * tau2**2 * float(np.sum(p_fe * p_fe))) / trp**2)

    lo = hi = math.nan
    if tau2_ci and method != "FE":
        def qfun(t: FloatArray, _active: NDArray[np.bool_]) -> FloatArray:
            pt, _ = _hat(x, 1 / (v + t[0]))
            return np.array([float(y @ pt @ y)])

        lows, highs = _qprofile(qfun, np.array([tau2]), np.array([float(k - p)]), np.ones(1, dtype=bool),
                                level=level, tol=uniroot_tol)
        lo, hi = float(lows[0]), float(highs[0])

    r2_value = math.nan
    if r2 and method != "FE":
        base = pool(y, v, method=method, test=test, tau2_ci=False, threshold=threshold, uniroot_tol=uniroot_tol)
        r2_value = 0.0 if base.tau2 == 0 else max(0.0, 100 * (base.tau2 - tau2) / base.tau2)

    coef = pd.DataFrame(
        {"estimate": beta, "se": se, "stat": stat, "p": pval, "ci_low": beta - crit * se, "ci_high": beta + crit * se},
        index=["intercept", *names],
    )
    return MetaRegressionResult(
        coefficients=coef, tau2=tau2, tau2_se=se_tau2, tau2_ci_low=lo, tau2_ci_high=hi,
        I2=100 * tau2 / (vt + tau2), H2=tau2 / vt + 1, R2=r2_value,
        QE=qe, QE_df=k - p, QE_p=float(_stats.chi2.sf(qe, k - p)),
        QM=qm, QM_df=qm_df, QM_p=qm_p, k=k, method=method, test=test, iterations=iterations, vcov=vb,
    )


@dataclass(frozen=True)
class RegressionTestResult:
    """Egger-type regression test for funnel asymmetry (``metafor::regtest``, predictor "sei").

    ``stat``/``df``/``p`` test the slope on the standard error; ``limit_estimate`` (with its CI)
    is the intercept, the effect expected for a study with SE -> 0.
    """

    stat: float
    df: float
    p: float
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float
    method: str
    test: str


def regression_test(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    method: Method = "REML",
    test: Test = "knha",
    level: float = 95.0,
) -> RegressionTestResult:
    """Egger's regression test: meta-regression of the effects on their standard errors."""
    v = np.asarray(vi, dtype=float)
    fit = meta_regression(yi, v, np.sqrt(v), names=["sei"], method=method, test=test, level=level,
                          tau2_ci=False, r2=False)
    slope, icpt = fit.coefficients.loc["sei"], fit.coefficients.loc["intercept"]
    return RegressionTestResult(
        stat=float(slope["stat"]), df=float(fit.k - 2) if test == "knha" else math.nan, p=float(slope["p"]),
        limit_estimate=float(icpt["estimate"]), limit_ci_low=float(icpt["ci_low"]),
        limit_ci_high=float(icpt["ci_high"]), method=method, test=test,
    )
