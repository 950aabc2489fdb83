"""Types, constants, scipy.special distribution functions and small numerical helpers (R's uniroot)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Literal, TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from .._errors import SynthesisError

# The distribution functions pooling needs, each as scipy.stats computes it (the same scipy.special
# call): importing scipy.stats takes about a second, paid by every book page that pools.
distributions = SimpleNamespace(
    norm=SimpleNamespace(sf=lambda x: special.ndtr(np.negative(x)), isf=lambda q: -special.ndtri(q)),
    t=SimpleNamespace(sf=lambda x, df: special.stdtr(df, np.negative(x)), isf=lambda q, df: -special.stdtrit(df, q)),
    chi2=SimpleNamespace(sf=lambda x, df: special.chdtrc(df, x), isf=lambda q, df: special.chdtri(df, q),
                         ppf=lambda q, df: 2 * special.gammaincinv(np.divide(df, 2), q)),
    f=SimpleNamespace(sf=lambda x, dfn, dfd: special.fdtrc(dfn, dfd, x)),
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]
Method = Literal["FE", "DL", "REML", "ML", "PM"]
Test = Literal["z", "knha", "adhoc"]
PIMethod = Literal["z", "t(k-1)", "t(k-2)"]

METHODS: tuple[str, ...] = ("FE", "DL", "REML", "ML", "PM")
PI_METHODS: tuple[str, ...] = ("z", "t(k-1)", "t(k-2)")

# metafor's control defaults (rma.uni): Fisher scoring threshold, iteration cap, uniroot() tolerance.
THRESHOLD = 1e-5
MAXITER = 100
UNIROOT_TOL = float(np.finfo(float).eps) ** 0.25
EPS = float(np.finfo(float).eps)


class FitOptions(TypedDict, total=False):
    """The model a pooling function fits: ``pool``'s keywords of the same names (metafor's ``rma.uni``)."""

    method: Method
    test: Test
    level: float
    pi_method: PIMethod | None
    threshold: float
    uniroot_tol: float
    stepadj: float


_FIT_DEFAULTS: FitOptions = {"method": "REML", "test": "z", "level": 95.0, "pi_method": None,
                             "threshold": THRESHOLD, "uniroot_tol": UNIROOT_TOL, "stepadj": 1.0}


def fit_options(options: FitOptions) -> FitOptions:
    """Every option of the model, metafor's defaults where not given; a keyword that is no option is an error."""
    unknown = sorted(set(options) - set(_FIT_DEFAULTS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(unknown)}")
    return {**_FIT_DEFAULTS, **options}


# ---------------------------------------------------------------------------------------------
# Small numerical helpers
# ---------------------------------------------------------------------------------------------


def alpha_from_level(level: float) -> float:
    if not 0 < level < 100:
        raise ValueError(f"level is a percentage in (0, 100), got {level}")
    return 1 - level / 100


def z_crit(level: float) -> float:
    return float(distributions.norm.isf(alpha_from_level(level) / 2))


def group_sum(x: FloatArray, g: IntArray, n_groups: int) -> FloatArray:
    return np.bincount(g, weights=x, minlength=n_groups).astype(float, copy=False)


def r_zeroin(
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
            tol_act = 2 * EPS * np.abs(b) + tol / 2
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


def r_uniroot(
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
    root = r_zeroin(
        lambda x, _active: np.array([f(float(x[0]))]),
        np.array([lower]), np.array([upper]), np.array([f_lower]), np.array([f_upper]), tol=tol, maxiter=maxiter,
    )
    return float(root[0])


def q_batch(
    y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, tau2: FloatArray, active: NDArray[np.bool_]
) -> FloatArray:
    """Generalised Q(tau^2) = sum w (y - mu_w)^2, w = 1 / (v + tau^2), for the active groups."""
    sel = active[g]
    ys, vs, gs = y[sel], v[sel], g[sel]
    w = 1 / (vs + tau2[gs])
    with np.errstate(divide="ignore", invalid="ignore"):  # inactive groups have empty sums
        mu = group_sum(w * ys, gs, n_groups) / group_sum(w, gs, n_groups)
    r = ys - mu[gs]
    return np.where(active, group_sum(w * r * r, gs, n_groups), np.nan)


def group_slices(g: IntArray, n_groups: int) -> list[IntArray]:
    """Element indices of each group, in group-code order."""
    order = np.argsort(g, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(g, minlength=n_groups))])
    return [order[bounds[j] : bounds[j + 1]] for j in range(n_groups)]


def r_mad(y: FloatArray) -> float:
    """R's ``mad()``: 1.4826 * median absolute deviation from the median."""
    return 1.4826 * float(np.median(np.abs(y - np.median(y))))


def too_few(k: int, outcome: str | None) -> SynthesisError:
    where = f"outcome {outcome!r}" if outcome else "this outcome"
    return SynthesisError(f"{where}: needs >= 2 studies to pool, got {k}")


def checked_pairs(yi: ArrayLike, vi: ArrayLike, *, outcome: str | None) -> tuple[FloatArray, FloatArray]:
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
        raise too_few(len(y), outcome)
    return y, v
