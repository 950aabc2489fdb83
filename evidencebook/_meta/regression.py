"""Meta-regression (the matrix form of rma.uni) and Egger's regression test."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .._errors import SynthesisError
from ._common import (
    EPS,
    MAXITER,
    THRESHOLD,
    UNIROOT_TOL,
    FloatArray,
    Method,
    Test,
    alpha_from_level,
    r_mad,
    r_uniroot,
    distributions,
    z_crit,
)
from .engine import halve_until_nonnegative, qprofile
from .pooling import pool

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
        upper = max(100.0, 10 * r_mad(y) ** 2)
        fu = f(upper)
        if fu > 0:
            raise SynthesisError(f"Paule-Mandel: tau^2 exceeds tau2.max = {upper:g}")
        return r_uniroot(f, 0.0, upper, f0, fu, tol=uniroot_tol), 0
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
        adj = float(halve_until_nonnegative(np.array([tau2]), np.array([adj]))[0])
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
    alpha = alpha_from_level(level)
    if test == "knha":
        rss = float(w @ (resid * resid))
        vb = (0.0 if rss <= EPS else rss / (k - p)) * vb
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    btt = slice(1, p)
    qm = float(beta[btt] @ np.linalg.solve(vb[btt, btt], beta[btt]))
    if test == "knha":
        crit = float(distributions.t.isf(alpha / 2, k - p))
        pval = 2 * distributions.t.sf(np.abs(stat), k - p)
        qm /= p - 1
        qm_df: tuple[int, ...] = (p - 1, k - p)
        qm_p = float(distributions.f.sf(qm, p - 1, k - p))
    else:
        crit = z_crit(level)
        pval = 2 * distributions.norm.sf(np.abs(stat))
        qm_df = (p - 1,)
        qm_p = float(distributions.chi2.sf(qm, p - 1))

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

        lows, highs = qprofile(qfun, np.array([tau2]), np.array([float(k - p)]), np.ones(1, dtype=bool),
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
        QE=qe, QE_df=k - p, QE_p=float(distributions.chi2.sf(qe, k - p)),
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
