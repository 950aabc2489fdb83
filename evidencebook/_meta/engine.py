"""The intercept-only random-effects engine, vectorised over groups, and the Q-profile CI for tau^2."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Unpack

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._common import (
    EPS,
    MAXITER,
    METHODS,
    PI_METHODS,
    UNIROOT_TOL,
    FitOptions,
    FloatArray,
    IntArray,
    alpha_from_level,
    group_slices,
    group_sum,
    checked_pairs,
    q_batch,
    r_mad,
    r_zeroin,
    distributions,
    fit_options,
)

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


def _inverse_variance(v: FloatArray, g: IntArray, tau2: FloatArray) -> FloatArray:
    """Each study's weight in its group's fit, 1 / (v + tau^2): the one definition the engine pools with."""
    return 1 / (v + tau2[g])


def study_weights(v: FloatArray, g: IntArray, n_groups: int, tau2: FloatArray) -> FloatArray:
    """Each study's share (%) of its group's weight at the fitted tau^2, as ``metafor::weights(fit)``."""
    w = _inverse_variance(v, g, tau2)
    return 100 * w / group_sum(w, g, n_groups)[g]


def _sums(y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, tau2: FloatArray) -> _Sums:
    w = _inverse_variance(v, g, tau2)
    sw = group_sum(w, g, n_groups)
    mu = group_sum(w * y, g, n_groups) / sw
    r = y - mu[g]
    wr2 = w * r * r
    return _Sums(
        sw=sw,
        sw2=group_sum(w * w, g, n_groups),
        sw3=group_sum(w * w * w, g, n_groups),
        mu=mu,
        rss=group_sum(wr2, g, n_groups),
        rss2=group_sum(w * wr2, g, n_groups),
    )


def _tau2_he(y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, k: FloatArray) -> FloatArray:
    """Hedges' estimator: (sum (y - ybar)^2 - (1 - 1/k) sum v) / (k - 1); REML/ML start here."""
    ybar = group_sum(y, g, n_groups) / k
    rss = group_sum((y - ybar[g]) ** 2, g, n_groups)
    return (rss - (1 - 1 / k) * group_sum(v, g, n_groups)) / (k - 1)


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
        adj = halve_until_nonnegative(tau2, adj)
        new = tau2 + adj
        change = np.abs(tau2 - new)
        tau2 = np.where(active, new, tau2)
        over = active & (iterations > maxiter)
        converged &= ~over
        active &= (change > threshold) & ~over
    return tau2, iterations, converged


def halve_until_nonnegative(tau2: FloatArray, adj: FloatArray) -> FloatArray:
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
    logdet = group_sum(np.log(v + tau2[g]), g, n_groups)
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
    f0 = q_batch(y, v, g, n_groups, np.zeros(n_groups), everyone) - target
    upper = np.array([max(100.0, 10 * r_mad(y[idx]) ** 2) for idx in group_slices(g, n_groups)])
    fu = q_batch(y, v, g, n_groups, upper, everyone) - target
    search = (f0 >= 0) & (fu <= 0)  # Q(0) < k - 1 means tau^2 = 0; Q(max) > k - 1 means no root
    tau2 = np.zeros(n_groups)
    if search.any():
        def f(t: FloatArray, active: NDArray[np.bool_]) -> FloatArray:
            return q_batch(y, v, g, n_groups, t, active) - target

        roots = r_zeroin(f, np.zeros(n_groups), upper, f0, fu, solve=search, tol=tol)
        tau2 = np.where(search, roots, 0.0)
    return tau2, ~((f0 >= 0) & (fu > 0))


def resolve_pi_method(pi_method: str | None, test: str) -> str:
    if pi_method is None:
        # metafor's predict(): a t-based PI with the model's df after Knapp-Hartung, else z.
        return "t(k-1)" if test in ("knha", "adhoc") else "z"
    if pi_method not in PI_METHODS:
        raise ValueError(f"pi_method must be one of {PI_METHODS}, got {pi_method!r}")
    return pi_method


def pi_crit(pi_method: str, k: FloatArray, level: float) -> FloatArray:
    alpha = alpha_from_level(level)
    if pi_method == "z":
        return np.full_like(k, distributions.norm.isf(alpha / 2))
    df = k - (1 if pi_method == "t(k-1)" else 2)
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, distributions.t.isf(alpha / 2, np.maximum(df, 1)), np.nan)


def fit_batch(
    y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, **options: Unpack[FitOptions]
) -> tuple[dict[str, FloatArray], str | None]:
    """Fit the intercept-only model (``options``, see :class:`FitOptions`) in every group; every group must
    have k >= 2.

    Returns the per-group arrays and the prediction-interval method used (None for FE).
    """
    o = fit_options(options)
    method, test, level, pi_method = o["method"], o["test"], o["level"], o["pi_method"]
    threshold, uniroot_tol, stepadj = o["threshold"], o["uniroot_tol"], o["stepadj"]
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
    i2_q = i2_from_q(q, q_df)

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
    alpha = alpha_from_level(level)
    if test in ("knha", "adhoc"):
        # Knapp-Hartung: scale by the weighted residual variance, t(k - 1); "adhoc" truncates the factor at 1.
        s2w = np.where(s.rss <= EPS, 0.0, s.rss / q_df)
        if test == "adhoc":
            s2w = np.maximum(1.0, s2w)
        vb = s2w * vb
        df = q_df
        se = np.sqrt(vb)
        with np.errstate(divide="ignore", invalid="ignore"):
            stat = s.mu / se
        p = 2 * distributions.t.sf(np.abs(stat), df)
        crit = distributions.t.isf(alpha / 2, df)
    else:
        se = np.sqrt(vb)
        stat = s.mu / se
        p = 2 * distributions.norm.sf(np.abs(stat))
        crit = np.full(n_groups, distributions.norm.isf(alpha / 2))

    if method == "FE":
        with np.errstate(divide="ignore", invalid="ignore"):
            h2 = q / q_df
        i2 = i2_q
        pi_low = pi_high = np.full(n_groups, np.nan)
        resolved: str | None = None
    else:
        i2 = 100 * tau2 / (vt + tau2)
        h2 = tau2 / vt + 1
        resolved = resolve_pi_method(pi_method, test)
        pi_se = np.sqrt(vb + tau2)
        pcrit = pi_crit(resolved, k, level)
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
        "Q_p": distributions.chi2.sf(q, q_df),
        "pi_low": pi_low,
        "pi_high": pi_high,
        "vt": vt,
        "iterations": iterations.astype(float),
        "converged": converged.astype(float),
    }
    return out, resolved


def i2_from_q(q: FloatArray, q_df: FloatArray) -> FloatArray:
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


def qprofile(
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
    alpha = alpha_from_level(level)
    n = len(tau2)
    nan = np.full(n, np.nan)
    if not fit.any():
        return nan, nan.copy()
    dfs = np.where(fit, df, 1.0)
    crit_u = distributions.chi2.isf(alpha / 2, dfs)  # gives the lower bound
    crit_l = distributions.chi2.ppf(alpha / 2, dfs)  # gives the upper bound
    lo_lim, hi_lim = np.minimum(0.0, tau2), np.maximum(100.0, 10 * tau2)
    q_lo, q_hi = qfun(lo_lim, fit), qfun(hi_lim, fit)

    def solve(crit: FloatArray, which: NDArray[np.bool_]) -> FloatArray:
        if not which.any():
            return nan
        return r_zeroin(
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
    y, v = checked_pairs(yi, vi, outcome=None)
    lo, hi = group_qprofile(y, v, np.zeros(len(y), dtype=np.intp), np.array([tau2]), np.ones(1, dtype=bool),
                             level=level, tol=uniroot_tol)
    return float(lo[0]), float(hi[0])


def group_qprofile(
    y: FloatArray, v: FloatArray, g: IntArray, tau2: FloatArray, fit: NDArray[np.bool_], *, level: float, tol: float
) -> tuple[FloatArray, FloatArray]:
    """Q-profile CIs for every group flagged in ``fit`` (intercept-only models)."""
    n_groups = len(tau2)
    k = np.bincount(g, minlength=n_groups).astype(float)
    return qprofile(
        lambda t, act: q_batch(y, v, g, n_groups, t, act), tau2, k - 1, fit, level=level, tol=tol
    )


