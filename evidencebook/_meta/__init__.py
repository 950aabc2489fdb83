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

Estimates of ratio measures (RR, OR, PETO, ROM, HR, IRR: ``LOG_SCALE_MEASURES`` in :mod:`.._effects`, which
owns the package's effect arithmetic) live on the log scale; ``back_transform`` exponentiates them.  I^2 is in percent, as metafor prints it.

The intercept-only engine is vectorised over groups (``pool_groups``, ``leave_one_out``,
``cumulative`` and ``pool`` itself all run through it), so pooling thousands of outcome groups is
a handful of ``numpy.bincount`` passes; ``meta_regression`` uses the matrix form of the same model.

The parts, by concept: ``effects`` (escalc and effects from a CI), ``engine`` (the vectorised
intercept-only fit and the Q-profile CI), ``results`` (what a fit returns), ``pooling`` (the
public pooling functions), ``regression`` (meta-regression, Egger's test), and ``_common``
(types, the model's options, constants, distribution functions, R's root finder).  The parts share
their helpers by public names; none of them is exported from the package.
"""

from __future__ import annotations

from ._common import (  # noqa: F401
    METHODS,
    PI_METHODS,
    UNIROOT_TOL,
    distributions,
    r_uniroot,
)
from .effects import binary_effects, continuous_effects, effect_from_ci, hedges_j  # noqa: F401
from .engine import qprofile_tau2_ci  # noqa: F401
from .pooling import (  # noqa: F401
    Tau2Estimate,
    cumulative,
    estimate_tau2,
    leave_one_out,
    leave_one_out_groups,
    pool,
    pool_groups,
    pool_mantel_haenszel,
    pool_peto,
)
from .regression import (  # noqa: F401
    MetaRegressionResult,
    RegressionTestResult,
    meta_regression,
    regression_test,
)
from .results import MetaResult, RatioScale, prediction_interval  # noqa: F401

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
