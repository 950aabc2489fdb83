"""What a fit returns: MetaResult, the ratio scale, prediction intervals."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from .._errors import SynthesisError
from .._effects import on_log_scale
from ._common import PIMethod
from .engine import pi_crit, resolve_pi_method

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
        return bool(on_log_scale(self.measure))

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
    method = resolve_pi_method(pi_method, "z")
    crit = float(pi_crit(method, np.array([float(k)]), level)[0])
    half = crit * math.sqrt(se**2 + tau2)
    return estimate - half, estimate + half


