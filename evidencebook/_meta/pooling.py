"""Public pooling: one outcome, many groups, Mantel-Haenszel, Peto, leave-one-out and cumulative."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Unpack

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .._errors import SynthesisError
from ._common import (
    MAXITER,
    THRESHOLD,
    UNIROOT_TOL,
    FitOptions,
    FloatArray,
    IntArray,
    Method,
    PIMethod,
    Test,
    checked_pairs,
    distributions,
    too_few,
    z_crit,
    fit_options,
)
from .effects import as_float, binary_effects
from .engine import fit_batch, group_qprofile, i2_from_q, study_weights
from .results import MetaResult

# ---------------------------------------------------------------------------------------------
# Public pooling
# ---------------------------------------------------------------------------------------------


def _not_converged(method: str) -> str:
    if method == "PM":
        return "Paule-Mandel found no tau^2 below tau2.max = max(100, 10 mad(yi)^2) (metafor's limit)"
    return (f"Fisher scoring did not converge for {method} in {MAXITER} iterations "
            "(try stepadj=0.5, as metafor suggests)")


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
    y, v = checked_pairs(yi, vi, outcome=outcome)
    g = np.zeros(len(y), dtype=np.intp)
    b, pim = fit_batch(
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
        lows, highs = group_qprofile(y, v, g, np.array([tau2]), np.ones(1, dtype=bool), level=level, tol=uniroot_tol)
        lo, hi = float(lows[0]), float(highs[0])
    # The fit's own numbers, as they are; the interval of tau^2 carries over to tau, I^2 and H^2.
    fitted = {key: _scalar(b, key) for key in ("estimate", "se", "ci_low", "ci_high", "stat", "df", "p", "tau2_se",
                                               "I2", "I2_Q", "H2", "Q", "Q_df", "Q_p", "pi_low", "pi_high")}
    return MetaResult(
        **fitted,
        tau2=tau2,
        tau2_ci_low=lo,
        tau2_ci_high=hi,
        tau=math.sqrt(tau2),
        tau_ci_low=math.sqrt(lo) if lo >= 0 else math.nan,
        tau_ci_high=math.sqrt(hi) if hi >= 0 else math.nan,
        I2_ci_low=100 * lo / (vt + lo),
        I2_ci_high=100 * hi / (vt + hi),
        H2_ci_low=lo / vt + 1,
        H2_ci_high=hi / vt + 1,
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
    a, b, c, d = (as_float(x, n) for x, n in ((ai, "ai"), (bi, "bi"), (ci, "ci"), (di, "di")))
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
    crit = z_crit(level)
    q_df = float(len(yi) - 1)
    i2 = float(i2_from_q(np.array([q]), np.array([q_df]))[0])
    h2 = q / q_df if q_df > 0 else math.nan
    w = 1 / vi
    vt = q_df / (w.sum() - (w**2).sum() / w.sum()) if q_df > 0 else math.nan
    nan = math.nan
    return MetaResult(
        estimate=estimate, se=se, ci_low=estimate - crit * se, ci_high=estimate + crit * se,
        stat=z, df=nan, p=float(2 * distributions.norm.sf(abs(z))),
        tau2=0.0, tau2_se=nan, tau2_ci_low=nan, tau2_ci_high=nan, tau=0.0, tau_ci_low=nan, tau_ci_high=nan,
        I2=i2, I2_ci_low=nan, I2_ci_high=nan, I2_Q=i2, H2=h2, H2_ci_low=nan, H2_ci_high=nan,
        Q=q, Q_df=q_df, Q_p=float(distributions.chi2.sf(q, q_df)) if q_df > 0 else nan,
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
        raise too_few(min(len(a), len(yi)), outcome)
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
        raise too_few(min(len(a), len(yi)), outcome)
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


def _batch_frame(y: FloatArray, v: FloatArray, g: IntArray, n_groups: int, **options: Unpack[FitOptions]) -> pd.DataFrame:
    """Fit every group with k >= 2 (``options``, see :class:`FitOptions`); groups with k < 2 get NaN and a
    status saying why."""
    options = fit_options(options)
    method = options["method"]
    k = np.bincount(g, minlength=n_groups)
    poolable = k >= 2
    frame = pd.DataFrame(np.nan, index=range(n_groups), columns=_BATCH_COLUMNS)
    frame["k"] = k
    frame["method"] = method
    frame["test"] = options["test"]
    frame["pi_method"] = None
    frame["status"] = [f"needs >= 2 studies to pool, got {n}" for n in k]
    if poolable.any():
        remap = np.cumsum(poolable) - 1  # dense codes for the poolable groups
        keep = poolable[g]
        b, pim = fit_batch(y[keep], v[keep], remap[g[keep]], int(poolable.sum()), **options)
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
    tau2_ci: bool = False,
    weights: bool = False,
    **options: Unpack[FitOptions],
) -> pd.DataFrame:
    """Pool every group of rows (e.g. by outcome and measure) in one vectorised pass.

    Each group is fitted exactly as ``pool`` would fit it alone.  Groups with fewer than two
    usable rows, or whose Fisher scoring did not converge, are not pooled: their numbers are NaN
    and ``status`` says why.  The model (``options``) is ``pool``'s keywords of the same names:
    ``method``, ``test``, ``level``, ``pi_method``, ``threshold``, ``uniroot_tol``, ``stepadj``.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per study outcome, with effect ``yi`` and variance ``vi`` columns.
    by : str or sequence of str
        Grouping columns.
    tau2_ci : bool, default False
        Add ``tau2_ci_low``/``tau2_ci_high``, the Q-profile CI for tau^2 (root searches run for
        all groups at once).
    weights : bool, default False
        Add ``weights``: per group, each pooled row's share (%) of the weight at the fitted tau^2
        (``metafor::weights(fit)``), keyed by the row's index label (so the index should be unique);
        empty for a group that was not pooled.

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
    options = fit_options(options)
    out = _batch_frame(y, v, g, grouped.ngroups, **options)
    out.index = grouped.size().index  # the group keys, in group-code order
    if tau2_ci:
        out["tau2_ci_low"], out["tau2_ci_high"] = group_qprofile(
            y, v, g, out["tau2"].to_numpy(dtype=float), (out["status"] == "ok").to_numpy() & (options["method"] != "FE"),
            level=options["level"], tol=options["uniroot_tol"],
        )
    if weights:
        out["weights"] = _weights_by_row(data.index, v, g, out)
    return out


def _weights_by_row(labels: pd.Index, v: FloatArray, g: IntArray, fits: pd.DataFrame) -> list[dict[object, float]]:
    """Per group of ``fits``, its rows' weights (%) keyed by their labels; none for a group not pooled."""
    ok = (fits["status"] == "ok").to_numpy()
    share = study_weights(v, g, len(fits), fits["tau2"].to_numpy(dtype=float))
    out: list[dict[object, float]] = [{} for _ in range(len(fits))]
    for label, code, w in zip(labels, g, share):
        if ok[code]:
            out[code][label] = float(w)
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
    **options: Unpack[FitOptions],
) -> pd.DataFrame:
    """Leave-one-out analyses for every group (``metafor::leave1out``), vectorised.

    Every study of every group with 3 <= k (<= ``max_k`` if given) is dropped in turn and the
    rest re-pooled with the same model (``options``: ``pool``'s keywords ``method``, ``test``,
    ``level``, ``pi_method``, ``threshold``, ``uniroot_tol``, ``stepadj``).  Returns one row per (group, omitted study): the group
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
    fits = _batch_frame(y[member], v[member], subset, int(sizes.sum()), **options)
    ident = data[keys].reset_index(drop=True)
    omitted = data[label].to_numpy() if label is not None else data.index.to_numpy()
    head = ident.assign(omitted=omitted)
    return pd.concat([head, fits.reset_index(drop=True)], axis=1)


def _labelled_pairs(
    yi: ArrayLike, vi: ArrayLike, labels: Sequence[object] | None, outcome: str | None
) -> tuple[FloatArray, FloatArray, NDArray[np.object_]]:
    """Validated pairs (a pair with a NaN dropped, as metafor's na.omit) and the labels of those kept
    (1, 2, ... by input position when none are given)."""
    y, v = checked_pairs(yi, vi, outcome=outcome)
    keep = ~(np.isnan(np.asarray(yi, dtype=float)) | np.isnan(np.asarray(vi, dtype=float)))
    names = list(labels) if labels is not None else list(range(1, len(keep) + 1))
    if len(names) != len(keep):
        raise ValueError("labels must have one entry per study")
    return y, v, np.asarray(names, dtype=object)[keep]


def leave_one_out(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    labels: Sequence[object] | None = None,
    outcome: str | None = None,
    **options: Unpack[FitOptions],
) -> pd.DataFrame:
    """Leave-one-out sensitivity analysis of one meta-analysis (``metafor::leave1out``), each subset fitted
    with the same model (``options``: ``pool``'s keywords of the same names).

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
    y, v, names = _labelled_pairs(yi, vi, labels, outcome)
    if len(y) < 3:
        where = f"outcome {outcome!r}" if outcome else "this outcome"
        raise SynthesisError(f"{where}: leave-one-out needs >= 3 studies, got {len(y)}")
    frame = pd.DataFrame({"g": 0, "yi": y, "vi": v, "label": names})
    return leave_one_out_groups(frame, "g", label="label", **options).drop(columns="g")


def cumulative(
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    order: ArrayLike | None = None,
    labels: Sequence[object] | None = None,
    outcome: str | None = None,
    **options: Unpack[FitOptions],
) -> pd.DataFrame:
    """Cumulative meta-analysis (``metafor::cumul``): studies added one at a time, each prefix fitted with
    the same model (``options``: ``pool``'s keywords of the same names).

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
    y, v, names = _labelled_pairs(yi, vi, labels, outcome)
    if order is not None:
        keep = ~(np.isnan(np.asarray(yi, dtype=float)) | np.isnan(np.asarray(vi, dtype=float)))
        sort = np.argsort(np.asarray(order)[keep], kind="stable")
        y, v, names = y[sort], v[sort], names[sort]
    k = len(y)
    # Prefix j (j = 1..k) is subset j - 1; subsets of size >= 2 are fitted together.
    sizes = np.arange(1, k + 1)
    member = np.concatenate([np.arange(n) for n in sizes])
    subset = np.repeat(np.arange(k), sizes).astype(np.intp)
    fits = _batch_frame(y[member], v[member], subset, k, **options)
    z = z_crit(fit_options(options)["level"])
    first = {"estimate": y[0], "se": math.sqrt(v[0]), "stat": y[0] / math.sqrt(v[0]),
             "p": 2 * distributions.norm.sf(abs(y[0] / math.sqrt(v[0]))),
             "ci_low": y[0] - z * math.sqrt(v[0]), "ci_high": y[0] + z * math.sqrt(v[0]), "status": "single study"}
    for col, val in first.items():
        fits.loc[0, col] = val
    fits.insert(0, "added", names)
    return fits
