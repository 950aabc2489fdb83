"""The meta-analysis engine against metafor's published numbers, plus its invariances.

Every reference number comes from /work/shared/notes/meta-analysis-reference.md (metafor 5.1-12
documentation and its tests cross-checked with Stata ``metan``) and is compared to the decimals
it is printed with: a value printed as -0.4303 must round to -0.4303.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from scipy import special, stats

from evidencebook import _meta as meta
from evidencebook import SynthesisError

# --- Published data: dat.bcg, Colditz et al. (1994), JAMA 271:698-702, as shipped with metafor ---
# 13 trials of the BCG vaccine against tuberculosis: TB cases (pos) and non-cases (neg) in the
# vaccinated (t) and control (c) arms, absolute latitude and publication year.
BCG = pd.DataFrame(
    [
        (1, "Aronson", 1948, 4, 119, 11, 128, 44),
        (2, "Ferguson & Simes", 1949, 6, 300, 29, 274, 55),
        (3, "Rosenthal et al", 1960, 3, 228, 11, 209, 42),
        (4, "Hart & Sutherland", 1977, 62, 13536, 248, 12619, 52),
        (5, "Frimodt-Moller et al", 1973, 33, 5036, 47, 5761, 13),
        (6, "Stein & Aronson", 1953, 180, 1361, 372, 1079, 44),
        (7, "Vandiviere et al", 1973, 8, 2537, 10, 619, 19),
        (8, "TPT Madras", 1980, 505, 87886, 499, 87892, 13),
        (9, "Coetzee & Berjak", 1968, 29, 7470, 45, 7232, 27),
        (10, "Rosenthal et al", 1961, 17, 1699, 65, 1600, 42),
        (11, "Comstock et al", 1974, 186, 50448, 141, 27197, 18),
        (12, "Comstock & Webster", 1969, 5, 2493, 3, 2338, 33),
        (13, "Comstock et al", 1976, 27, 16886, 29, 17825, 33),
    ],
    columns=["trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat"],
)
# escalc(measure="RR") as printed in the reference table.
BCG_YI = ["−0.8893", "−1.5854", "−1.3481", "−1.4416", "−0.2175", "−0.7861", "−1.6209",
          "0.0120", "−0.4694", "−1.3713", "−0.3394", "0.4459", "−0.0173"]
BCG_VI = ["0.3256", "0.1946", "0.4154", "0.0200", "0.0512", "0.0069", "0.2230",
          "0.0040", "0.0564", "0.0730", "0.0124", "0.5325", "0.0714"]


def assert_printed(value: float, printed: str) -> None:
    """``value`` rounds to ``printed`` (a Unicode minus is accepted) at its printed decimals."""
    text = printed.replace("−", "-").rstrip("%")
    decimals = len(text.split(".")[1]) if "." in text else 0
    half_unit = 0.5 * 10.0**-decimals
    assert abs(value - float(text)) <= half_unit * (1 + 1e-9), f"{value!r} does not print as {printed}"


def cells(measure: str) -> pd.DataFrame:
    return meta.binary_effects(measure, BCG.tpos, BCG.tneg, BCG.cpos, BCG.cneg)


@cache
def fit(measure: str = "RR", method: str = "REML", test: str = "z") -> meta.MetaResult:
    eff = cells(measure)
    return meta.pool(eff.yi, eff.vi, method=method, test=test, measure=measure)  # type: ignore[arg-type]


@cache
def mh(measure: str) -> meta.MetaResult:
    return meta.pool_mantel_haenszel(BCG.tpos, BCG.tneg, BCG.cpos, BCG.cneg, measure=measure)  # type: ignore[arg-type]


@cache
def peto() -> meta.MetaResult:
    return meta.pool_peto(BCG.tpos, BCG.tneg, BCG.cpos, BCG.cneg)


@cache
def ablat_knha() -> meta.MetaRegressionResult:
    e = cells("RR")
    return meta.meta_regression(e.yi, e.vi, BCG.ablat, names=["ablat"], test="knha")


@cache
def ablat_year() -> meta.MetaRegressionResult:
    e = cells("RR")
    return meta.meta_regression(e.yi, e.vi, BCG[["ablat", "year"]])


def _exp(x: float) -> float:
    return math.exp(x)


def _coef(fitted: Callable[[], object], term: str, col: str) -> float:
    return float(fitted().coefficients.loc[term, col])  # type: ignore[attr-defined]


# (what, the number our code gives, the number as printed in the reference note)
REFERENCE: list[tuple[str, Callable[[], float], str]] = [
    # Equal/fixed effect, log RR (metan test)
    ("FE estimate", lambda: fit(method="FE").estimate, "−0.4303"),
    ("FE z", lambda: fit(method="FE").stat, "−10.6247"),
    ("FE ci_low", lambda: fit(method="FE").ci_low, "−0.5097"),
    ("FE ci_high", lambda: fit(method="FE").ci_high, "−0.3509"),
    ("FE RR", lambda: fit(method="FE").back_transform().estimate, "0.6503"),
    ("FE RR ci_low", lambda: fit(method="FE").back_transform().ci_low, "0.6007"),
    ("FE RR ci_high", lambda: fit(method="FE").back_transform().ci_high, "0.7040"),
    ("FE Q", lambda: fit(method="FE").Q, "152.2330"),
    # DerSimonian-Laird (metan test)
    ("DL estimate", lambda: fit(method="DL").estimate, "−0.7141"),
    ("DL z", lambda: fit(method="DL").stat, "−3.9952"),
    ("DL ci_low", lambda: fit(method="DL").ci_low, "−1.0644"),
    ("DL ci_high", lambda: fit(method="DL").ci_high, "−0.3638"),
    ("DL RR", lambda: fit(method="DL").back_transform().estimate, "0.4896"),
    ("DL RR ci_low", lambda: fit(method="DL").back_transform().ci_low, "0.3449"),
    ("DL RR ci_high", lambda: fit(method="DL").back_transform().ci_high, "0.6950"),
    ("DL tau2", lambda: fit(method="DL").tau2, "0.3088"),
    ("DL I2", lambda: fit(method="DL").I2, "92.1173%"),
    ("DL Q", lambda: fit(method="DL").Q, "152.2330"),
    # REML, the default (rma.uni docs)
    ("REML estimate", lambda: fit().estimate, "−0.7145"),
    ("REML se", lambda: fit().se, "0.1798"),
    ("REML z", lambda: fit().stat, "−3.9744"),
    ("REML ci_low", lambda: fit().ci_low, "−1.0669"),
    ("REML ci_high", lambda: fit().ci_high, "−0.3622"),
    ("REML tau2", lambda: fit().tau2, "0.3132"),
    ("REML tau2 se", lambda: fit().tau2_se, "0.1664"),
    ("REML tau", lambda: fit().tau, "0.5597"),
    ("REML I2 (metafor)", lambda: fit().I2, "92.22%"),
    ("REML H2", lambda: fit().H2, "12.86"),
    ("REML Q", lambda: fit().Q, "152.2330"),
    # REML + Knapp-Hartung (index.html)
    ("KH estimate", lambda: fit(test="knha").estimate, "−0.7145"),
    ("KH se", lambda: fit(test="knha").se, "0.1808"),
    ("KH t", lambda: fit(test="knha").stat, "−3.9522"),
    ("KH df", lambda: fit(test="knha").df, "12"),
    ("KH p", lambda: fit(test="knha").p, "0.0019"),
    ("KH ci_low", lambda: fit(test="knha").ci_low, "−1.1084"),
    ("KH ci_high", lambda: fit(test="knha").ci_high, "−0.3206"),
    ("KH tau2", lambda: fit(test="knha").tau2, "0.3132"),
    ("KH I2", lambda: fit(test="knha").I2, "92.22%"),
    ("KH H2", lambda: fit(test="knha").H2, "12.86"),
    ("KH Q", lambda: fit(test="knha").Q, "152.2330"),
    ("KH RR (docs)", lambda: fit(test="knha").back_transform().estimate, "0.49"),
    ("KH RR ci_low (docs)", lambda: fit(test="knha").back_transform().ci_low, "0.33"),
    ("KH RR ci_high (docs)", lambda: fit(test="knha").back_transform().ci_high, "0.73"),
    ("KH RR ci_low", lambda: fit(test="knha").back_transform().ci_low, "0.3301"),
    ("KH RR ci_high", lambda: fit(test="knha").back_transform().ci_high, "0.7257"),
    ("KH RR pi_low (docs)", lambda: fit(test="knha").back_transform().pi_low, "0.14"),
    ("KH RR pi_high (docs)", lambda: fit(test="knha").back_transform().pi_high, "1.76"),
    ("KH RR pi_low", lambda: fit(test="knha").back_transform().pi_low, "0.1359"),
    ("KH RR pi_high", lambda: fit(test="knha").back_transform().pi_high, "1.7629"),
    # Q-profile CIs of the REML fit (confint docs)
    ("QP tau2 low", lambda: fit().tau2_ci_low, "0.1197"),
    ("QP tau2 high", lambda: fit().tau2_ci_high, "1.1115"),
    ("QP tau low", lambda: fit().tau_ci_low, "0.3460"),
    ("QP tau high", lambda: fit().tau_ci_high, "1.0543"),
    ("QP I2 low", lambda: fit().I2_ci_low, "81.9177%"),
    ("QP I2 high", lambda: fit().I2_ci_high, "97.6781%"),
    ("QP H2 low", lambda: fit().H2_ci_low, "5.5303"),
    ("QP H2 high", lambda: fit().H2_ci_high, "43.0680"),
    # Prediction interval of the REML fit, z (metafor default; predict docs)
    ("PI z logRR (docs) estimate", lambda: fit().estimate, "−0.71"),
    ("PI z logRR (docs) ci_low", lambda: fit().ci_low, "−1.07"),
    ("PI z logRR (docs) ci_high", lambda: fit().ci_high, "−0.36"),
    ("PI z logRR (docs) pi_low", lambda: fit().pi_low, "−1.87"),
    ("PI z logRR (docs) pi_high", lambda: fit().pi_high, "0.44"),
    ("PI z RR (docs) estimate", lambda: fit().back_transform().estimate, "0.49"),
    ("PI z RR (docs) ci_low", lambda: fit().back_transform().ci_low, "0.34"),
    ("PI z RR (docs) ci_high", lambda: fit().back_transform().ci_high, "0.70"),
    ("PI z RR (docs) pi_low", lambda: fit().back_transform().pi_low, "0.15"),
    ("PI z RR (docs) pi_high", lambda: fit().back_transform().pi_high, "1.55"),
    ("PI z logRR pi_low", lambda: fit().pi_low, "−1.8667"),
    ("PI z logRR pi_high", lambda: fit().pi_high, "0.4376"),
    ("PI z RR pi_low", lambda: fit().back_transform().pi_low, "0.1546"),
    ("PI z RR pi_high", lambda: fit().back_transform().pi_high, "1.5490"),
    # Prediction interval conventions on the same REML fit (meta >= 8 and Higgins 2009)
    ("PI t(k-1) RR low", lambda: _exp(fit().prediction_interval("t(k-1)")[0]), "0.1360"),
    ("PI t(k-1) RR high", lambda: _exp(fit().prediction_interval("t(k-1)")[1]), "1.7617"),
    ("PI t(k-2) RR low", lambda: _exp(fit().prediction_interval("t(k-2)")[0]), "0.1342"),
    ("PI t(k-2) RR high", lambda: _exp(fit().prediction_interval("t(k-2)")[1]), "1.7848"),
    # transf.exp.int "average RR" (predict docs)
    ("exp.int average RR", lambda: fit().back_transform("mean").estimate, "0.57"),
    ("exp.int ci_low", lambda: fit().back_transform("mean").ci_low, "0.40"),
    ("exp.int ci_high", lambda: fit().back_transform("mean").ci_high, "0.81"),
    # I^2 both ways (metafor's tau^2-based vs meta's Q-based)
    ("I2 metafor REML", lambda: fit().I2, "92.22%"),
    ("I2 Q-based REML fit", lambda: fit().I2_Q, "92.12%"),
    ("I2 Q-based DL fit", lambda: fit(method="DL").I2_Q, "92.1173%"),
    ("I2 Q-based ML fit", lambda: fit(method="ML").I2_Q, "92.1173%"),
    ("I2 Q-based PM fit", lambda: fit(method="PM").I2_Q, "92.1173%"),
    # log OR (metan test)
    ("OR FE estimate", lambda: fit("OR", "FE").estimate, "−0.4361"),
    ("OR FE ci_low", lambda: fit("OR", "FE").ci_low, "−0.5190"),
    ("OR FE ci_high", lambda: fit("OR", "FE").ci_high, "−0.3533"),
    ("OR FE Q", lambda: fit("OR", "FE").Q, "163.1649"),
    ("OR DL estimate", lambda: fit("OR", "DL").estimate, "−0.7474"),
    ("OR DL ci_low", lambda: fit("OR", "DL").ci_low, "−1.1242"),
    ("OR DL ci_high", lambda: fit("OR", "DL").ci_high, "−0.3706"),
    ("OR DL tau2", lambda: fit("OR", "DL").tau2, "0.3663"),
    ("OR DL I2", lambda: fit("OR", "DL").I2, "92.6455%"),
    ("OR DL OR", lambda: fit("OR", "DL").back_transform().estimate, "0.4736"),
    ("OR DL OR ci_low", lambda: fit("OR", "DL").back_transform().ci_low, "0.3249"),
    ("OR DL OR ci_high", lambda: fit("OR", "DL").back_transform().ci_high, "0.6903"),
    # risk difference (metan test)
    ("RD FE estimate", lambda: fit("RD", "FE").estimate, "−0.0009"),
    ("RD FE Q", lambda: fit("RD", "FE").Q, "276.4737"),
    ("RD DL estimate", lambda: fit("RD", "DL").estimate, "−0.0071"),
    ("RD DL ci_low", lambda: fit("RD", "DL").ci_low, "−0.0101"),
    ("RD DL ci_high", lambda: fit("RD", "DL").ci_high, "−0.0040"),
    ("RD DL I2", lambda: fit("RD", "DL").I2, "95.6596%"),
    # Mantel-Haenszel and Peto (metan test)
    ("MH RR estimate", lambda: mh("RR").estimate, "−0.4537"),
    ("MH RR ci_low", lambda: mh("RR").ci_low, "−0.5308"),
    ("MH RR ci_high", lambda: mh("RR").ci_high, "−0.3766"),
    ("MH RR Q", lambda: mh("RR").Q, "152.5676"),
    ("MH OR estimate", lambda: mh("OR").estimate, "−0.4734"),
    ("MH OR ci_low", lambda: mh("OR").ci_low, "−0.5538"),
    ("MH OR ci_high", lambda: mh("OR").ci_high, "−0.3930"),
    ("MH OR Q", lambda: mh("OR").Q, "163.9426"),
    ("MH RD estimate", lambda: mh("RD").estimate, "−0.0033"),
    ("MH RD Q", lambda: mh("RD").Q, "386.7759"),
    ("Peto estimate", lambda: peto().estimate, "−0.4744"),
    ("Peto ci_low", lambda: peto().ci_low, "−0.5541"),
    ("Peto ci_high", lambda: peto().ci_high, "−0.3948"),
    ("Peto Q", lambda: peto().Q, "167.7302"),
    # Meta-regression on ablat, REML + Knapp-Hartung (index.html)
    ("ablat tau2", lambda: ablat_knha().tau2, "0.0764"),
    ("ablat tau2 se", lambda: ablat_knha().tau2_se, "0.0591"),
    ("ablat I2", lambda: ablat_knha().I2, "68.39%"),
    ("ablat H2", lambda: ablat_knha().H2, "3.16"),
    ("ablat R2", lambda: ablat_knha().R2, "75.62%"),
    ("ablat QE", lambda: ablat_knha().QE, "30.7331"),
    ("ablat QE p", lambda: ablat_knha().QE_p, "0.0012"),
    ("ablat F", lambda: ablat_knha().QM, "12.5905"),
    ("ablat F p", lambda: ablat_knha().QM_p, "0.0046"),
    ("ablat intercept", lambda: _coef(ablat_knha, "intercept", "estimate"), "0.2515"),
    ("ablat intercept se", lambda: _coef(ablat_knha, "intercept", "se"), "0.2839"),
    ("ablat intercept t", lambda: _coef(ablat_knha, "intercept", "stat"), "0.8857"),
    ("ablat intercept p", lambda: _coef(ablat_knha, "intercept", "p"), "0.3948"),
    ("ablat intercept ci_low", lambda: _coef(ablat_knha, "intercept", "ci_low"), "−0.3735"),
    ("ablat intercept ci_high", lambda: _coef(ablat_knha, "intercept", "ci_high"), "0.8764"),
    ("ablat slope", lambda: _coef(ablat_knha, "ablat", "estimate"), "−0.0291"),
    ("ablat slope se", lambda: _coef(ablat_knha, "ablat", "se"), "0.0082"),
    ("ablat slope t", lambda: _coef(ablat_knha, "ablat", "stat"), "−3.5483"),
    ("ablat slope p", lambda: _coef(ablat_knha, "ablat", "p"), "0.0046"),
    ("ablat slope ci_low", lambda: _coef(ablat_knha, "ablat", "ci_low"), "−0.0472"),
    ("ablat slope ci_high", lambda: _coef(ablat_knha, "ablat", "ci_high"), "−0.0111"),
    ("ablat QP tau2 low", lambda: ablat_knha().tau2_ci_low, "0.0167"),
    ("ablat QP tau2 high", lambda: ablat_knha().tau2_ci_high, "0.7849"),
    # Meta-regression on ablat + year, REML with z tests (rma.uni docs)
    ("ablat+year tau2", lambda: ablat_year().tau2, "0.1108"),
    ("ablat+year tau2 se", lambda: ablat_year().tau2_se, "0.0845"),
    ("ablat+year I2", lambda: ablat_year().I2, "71.98%"),
    ("ablat+year R2", lambda: ablat_year().R2, "64.63%"),
    ("ablat+year QE", lambda: ablat_year().QE, "28.3251"),
    ("ablat+year QE p", lambda: ablat_year().QE_p, "0.0016"),
    ("ablat+year QM", lambda: ablat_year().QM, "12.2043"),
    ("ablat+year QM p", lambda: ablat_year().QM_p, "0.0022"),
    ("ablat+year intercept", lambda: _coef(ablat_year, "intercept", "estimate"), "−3.5455"),
    ("ablat+year intercept se", lambda: _coef(ablat_year, "intercept", "se"), "29.0959"),
    ("ablat+year ablat", lambda: _coef(ablat_year, "ablat", "estimate"), "−0.0280"),
    ("ablat+year ablat se", lambda: _coef(ablat_year, "ablat", "se"), "0.0102"),
    ("ablat+year year", lambda: _coef(ablat_year, "year", "estimate"), "0.0019"),
    ("ablat+year year se", lambda: _coef(ablat_year, "year", "se"), "0.0147"),
    # Egger-type regtest on the Knapp-Hartung model (index.html)
    ("regtest t", lambda: meta.regression_test(cells("RR").yi, cells("RR").vi).stat, "−0.7812"),
    ("regtest df", lambda: meta.regression_test(cells("RR").yi, cells("RR").vi).df, "11"),
    ("regtest p", lambda: meta.regression_test(cells("RR").yi, cells("RR").vi).p, "0.4512"),
    ("regtest limit b", lambda: meta.regression_test(cells("RR").yi, cells("RR").vi).limit_estimate, "−0.5104"),
    ("regtest limit low", lambda: meta.regression_test(cells("RR").yi, cells("RR").vi).limit_ci_low, "−1.2123"),
    ("regtest limit high", lambda: meta.regression_test(cells("RR").yi, cells("RR").vi).limit_ci_high, "0.1915"),
]


@pytest.mark.parametrize(("what", "value", "printed"), REFERENCE, ids=[r[0] for r in REFERENCE])
def test_reproduces_published_number(what: str, value: Callable[[], float], printed: str) -> None:
    assert_printed(value(), printed)


def test_bcg_log_risk_ratios_match_escalc() -> None:
    eff = cells("RR")
    for got, want in zip(eff.yi, BCG_YI, strict=True):
        assert_printed(got, want)
    for got, want in zip(eff.vi, BCG_VI, strict=True):
        assert_printed(got, want)


def test_reml_stops_where_metafor_stops() -> None:
    """metafor stops Fisher scoring at a change < 1e-5: 0.076355 (prints 0.0764), not 0.076348."""
    e = cells("RR")
    early = meta.meta_regression(e.yi, e.vi, BCG.ablat, test="knha", tau2_ci=False, r2=False)
    full = meta.meta_regression(e.yi, e.vi, BCG.ablat, test="knha", tau2_ci=False, r2=False, threshold=1e-12)
    assert round(early.tau2, 6) == 0.076355
    assert round(full.tau2, 6) == 0.076348


def test_pi_conventions_are_named_and_selectable() -> None:
    e = cells("RR")
    z, t1, t2 = (meta.pool(e.yi, e.vi, pi_method=m) for m in ("z", "t(k-1)", "t(k-2)"))
    assert (z.pi_method, t1.pi_method, t2.pi_method) == ("z", "t(k-1)", "t(k-2)")
    assert z.pi_high < t1.pi_high < t2.pi_high  # heavier tails, wider interval
    assert fit(test="knha").pi_method == "t(k-1)"  # metafor's predict() after Knapp-Hartung
    assert fit().with_pi_method("t(k-2)").pi_low == pytest.approx(t2.pi_low, rel=1e-14)
    with pytest.raises(ValueError, match="pi_method"):
        meta.pool(e.yi, e.vi, pi_method="t(k-3)")  # type: ignore[arg-type]


def test_knapp_hartung_scale_factor_is_not_truncated() -> None:
    """metafor's test="knha" keeps a scale factor below 1 (only test="adhoc" truncates it)."""
    yi, vi = [0.10, 0.12, 0.09, 0.11], [0.04, 0.05, 0.03, 0.06]  # far less spread than vi implies
    z, kh = meta.pool(yi, vi, method="DL"), meta.pool(yi, vi, method="DL", test="knha")
    w = 1 / np.array(vi)
    mu = (w * yi).sum() / w.sum()
    s2w = (w * (np.array(yi) - mu) ** 2).sum() / 3
    assert s2w < 1 and kh.se == pytest.approx(z.se * math.sqrt(s2w), rel=1e-12) and kh.se < z.se
    assert kh.df == 3 and kh.ci_high - kh.ci_low == pytest.approx(2 * stats.t.isf(0.025, 3) * kh.se)


def test_fixed_effect_models_have_no_prediction_interval() -> None:
    assert math.isnan(fit(method="FE").pi_low) and fit(method="FE").pi_method is None
    with pytest.raises(SynthesisError):
        fit(method="FE").prediction_interval("z")
    with pytest.raises(SynthesisError):
        mh("OR").prediction_interval("z")


def test_i2_definitions_differ_by_estimator() -> None:
    """metafor's I^2 moves with tau^2; meta's (Q - df)/Q does not; they coincide for DL."""
    dl, reml, ml = fit(method="DL"), fit(), fit(method="ML")
    assert dl.I2 == pytest.approx(dl.I2_Q, rel=1e-12)
    assert reml.I2 > reml.I2_Q > ml.I2
    assert reml.I2_Q == ml.I2_Q == dl.I2_Q


def test_paule_mandel_solves_q_equals_df() -> None:
    e = cells("RR")
    pm = meta.pool(e.yi, e.vi, method="PM", uniroot_tol=1e-12)
    w = 1 / (e.vi + pm.tau2)
    mu = (w * e.yi).sum() / w.sum()
    assert (w * (e.yi - mu) ** 2).sum() == pytest.approx(len(e) - 1, rel=1e-9)
    default = meta.pool(e.yi, e.vi, method="PM")  # R's uniroot tolerance: within ~1.2e-4
    assert abs(default.tau2 - pm.tau2) < meta.UNIROOT_TOL


def test_r_uniroot_port() -> None:
    root = meta.r_uniroot(lambda x: x * x - 2, 0.0, 2.0, -2.0, 2.0, tol=1e-14)
    assert root == pytest.approx(math.sqrt(2), abs=1e-13)
    coarse = meta.r_uniroot(lambda x: x * x - 2, 0.0, 2.0, -2.0, 2.0)
    assert abs(coarse - math.sqrt(2)) < meta.UNIROOT_TOL


# --- effect sizes ----------------------------------------------------------------------------


def test_continuity_correction_only_for_tables_with_a_zero_cell() -> None:
    eff = meta.binary_effects("RR", [0, 10], [20, 90], [5, 20], [15, 80])
    # Table 1 has a zero cell: 1/2 is added to all four cells; table 2 is left alone.
    assert eff.yi[0] == pytest.approx(math.log(0.5 / 21) - math.log(5.5 / 21), rel=1e-14)
    assert eff.vi[0] == pytest.approx(1 / 0.5 - 1 / 21 + 1 / 5.5 - 1 / 21, rel=1e-14)
    assert eff.yi[1] == pytest.approx(math.log(10 / 100) - math.log(20 / 100), rel=1e-14)
    everywhere = meta.binary_effects("RR", [0, 10], [20, 90], [5, 20], [15, 80], to="all")
    assert everywhere.yi[1] == pytest.approx(math.log(10.5 / 101) - math.log(20.5 / 101), rel=1e-14)
    none = meta.binary_effects("RR", [0, 10], [20, 90], [5, 20], [15, 80], to="none")
    assert math.isnan(none.yi[0]) and none.yi[1] == pytest.approx(eff.yi[1])


def test_events_and_totals_equal_cells_and_double_zero_tables_drop() -> None:
    by_cells = meta.binary_effects("OR", BCG.tpos, BCG.tneg, BCG.cpos, BCG.cneg)
    by_totals = meta.binary_effects("OR", BCG.tpos, ci=BCG.cpos, n1i=BCG.tpos + BCG.tneg, n2i=BCG.cpos + BCG.cneg)
    pd.testing.assert_frame_equal(by_cells, by_totals)
    kept = meta.binary_effects("RD", [0, 3], [10, 7], [0, 1], [12, 9])
    dropped = meta.binary_effects("RD", [0, 3], [10, 7], [0, 1], [12, 9], drop00=True)
    assert not math.isnan(kept.yi[0]) and math.isnan(dropped.yi[0]) and not math.isnan(dropped.yi[1])
    with pytest.raises(ValueError, match="counts"):
        meta.binary_effects("RR", [5], ci=[1], n1i=[4], n2i=[10])


def test_hedges_j_is_the_exact_gamma_form() -> None:
    m = np.array([2.0, 5.0, 18.0, 60.0])
    exact = special.gamma(m / 2) / (np.sqrt(m / 2) * special.gamma((m - 1) / 2))
    np.testing.assert_allclose(meta.hedges_j(m), exact, rtol=1e-12)
    approx = 1 - 3 / (4 * m - 1)
    assert np.all(np.abs(meta.hedges_j(m) - approx) > 1e-7)  # not the approximation
    assert meta.hedges_j([18.0])[0] == pytest.approx(40320 / (3 * 14034.407293483413), rel=1e-12)  # G(9) / (3 G(8.5))
    big = meta.hedges_j([5000.0])[0]  # the log-gamma form does not overflow
    assert math.isfinite(big) and big == pytest.approx(1 - 3 / (4 * 5000 - 1), rel=1e-8)
    assert math.isnan(meta.hedges_j([1.0])[0])


def test_smd_md_rom_formulas() -> None:
    eff = meta.continuous_effects("SMD", [10.0], [2.0], [12], [8.0], [3.0], [15])
    sdp = math.sqrt((11 * 4 + 14 * 9) / 25)
    j = math.exp(math.lgamma(12.5) - math.log(math.sqrt(12.5)) - math.lgamma(12.0))
    g = j * 2 / sdp
    assert eff.yi[0] == pytest.approx(g, rel=1e-13)
    assert eff.vi[0] == pytest.approx(1 / 12 + 1 / 15 + g**2 / (2 * 27), rel=1e-13)
    md = meta.continuous_effects("MD", [10.0], [2.0], [12], [8.0], [3.0], [15])
    assert (md.yi[0], md.vi[0]) == pytest.approx((2.0, 4 / 12 + 9 / 15))
    rom = meta.continuous_effects("ROM", [10.0], [2.0], [12], [8.0], [3.0], [15])
    assert rom.yi[0] == pytest.approx(math.log(10 / 8))
    assert rom.vi[0] == pytest.approx(4 / (12 * 100) + 9 / (15 * 64))
    with pytest.raises(ValueError, match="vtype"):
        meta.continuous_effects("SMD", [1.0], [1.0], [5], [0.0], [1.0], [5], vtype="HO")


def test_effect_from_ci_uses_the_log_scale_for_ratios() -> None:
    out = meta.effect_from_ci([0.71, 2.0], [0.52, 1.0], [0.97, 4.0], "RR")
    z = stats.norm.isf(0.025)
    assert out.yi[0] == pytest.approx(math.log(0.71))
    assert out.sei[0] == pytest.approx((math.log(0.97) - math.log(0.52)) / (2 * z))
    assert out.vi[1] == pytest.approx((math.log(4) / (2 * z)) ** 2)
    md = meta.effect_from_ci([1.5], [0.5], [2.5], "MD")
    assert md.sei[0] == pytest.approx(1 / z)
    with pytest.raises(ValueError, match="> 0"):
        meta.effect_from_ci([0.5], [0.0], [1.0], "OR")


# --- errors ----------------------------------------------------------------------------------


def test_a_single_study_is_not_pooled() -> None:
    with pytest.raises(SynthesisError, match=r"needs >= 2 studies to pool, got 1"):
        meta.pool([0.2], [0.04])
    with pytest.raises(SynthesisError, match=r"outcome 'readmission': needs >= 2 studies to pool, got 1"):
        meta.pool([0.2, np.nan], [0.04, 0.05], outcome="readmission")
    with pytest.raises(SynthesisError, match="got 1"):
        meta.pool_mantel_haenszel([3], [10], [4], [9])
    with pytest.raises(SynthesisError, match="got 1"):
        meta.pool_peto([3], [10], [4], [9])
    with pytest.raises(SynthesisError, match=">= 3 studies"):
        meta.leave_one_out([0.1, 0.2], [0.01, 0.02])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="> 0"):
        meta.pool([0.1, 0.2], [0.01, 0.0])
    with pytest.raises(ValueError, match="same length"):
        meta.pool([0.1, 0.2], [0.01])
    with pytest.raises(ValueError, match="method"):
        meta.pool([0.1, 0.2], [0.01, 0.02], method="HS")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a ratio"):
        meta.pool([0.1, 0.2], [0.01, 0.02], measure="SMD").back_transform()


# Fisher scoring oscillates on these (synthetic) data, as it would in metafor.
OSCILLATING_Y = [-0.66233313, -0.54702448, -0.13841131, -0.72456096, 0.16564996, -0.17419983, -0.23631937, 0.03517197]
OSCILLATING_V = [0.02843143, 0.17136801, 0.45956607, 0.39113058, 0.30559257, 0.24164651, 0.31604583, 0.03083766]


def test_non_convergence_is_reported_with_metafors_remedy() -> None:
    with pytest.raises(SynthesisError, match="did not converge.*stepadj"):
        meta.pool(OSCILLATING_Y, OSCILLATING_V)
    halved = meta.pool(OSCILLATING_Y, OSCILLATING_V, stepadj=0.5)
    tight = meta.pool(OSCILLATING_Y, OSCILLATING_V, stepadj=0.5, threshold=1e-12)
    assert halved.tau2 == pytest.approx(tight.tau2, abs=1e-5)
    frame = pd.DataFrame({"g": "a", "yi": OSCILLATING_Y, "vi": OSCILLATING_V})
    row = meta.pool_groups(frame, "g").loc["a"]
    assert row["status"].startswith("Fisher scoring did not converge") and math.isnan(row["estimate"])


def test_paule_mandel_beyond_metafors_search_limit_is_an_error() -> None:
    yi, vi = [0.0, 0.0, 0.0, 1000.0, -1000.0], [0.1, 0.1, 0.1, 0.1, 0.1]  # mad = 0: tau2.max = 100
    with pytest.raises(SynthesisError, match="outcome 'x': Paule-Mandel found no tau"):
        meta.pool(yi, vi, method="PM", outcome="x")
    assert meta.pool(yi, vi, method="DL").tau2 > 100
    status = meta.pool_groups(pd.DataFrame({"g": 1, "yi": yi, "vi": vi}), "g", method="PM")["status"].iloc[0]
    assert status.startswith("Paule-Mandel found no tau")


# --- vectorised groups, leave-one-out, cumulative ----------------------------------------------


def _synthetic_groups(seed: int = 7, n: int = 240) -> pd.DataFrame:
    """Synthetic outcome rows (seeded), some groups with a single row."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"outcome": rng.integers(0, 30, n), "measure": rng.choice(["RR", "SMD"], n),
                          "vi": rng.uniform(0.01, 0.5, n)})
    frame["yi"] = rng.normal(0, 0.4, n) + rng.normal(0, np.sqrt(frame["vi"]))
    frame["label"] = [f"study{i}" for i in range(n)]
    return frame.sample(frac=1, random_state=1)


@pytest.mark.parametrize(("method", "test"), [("REML", "z"), ("DL", "knha"), ("ML", "z"), ("PM", "z"), ("FE", "z")])
def test_pool_groups_equals_pool_per_group(method: str, test: str) -> None:
    frame = _synthetic_groups()
    by = ["outcome", "measure"]
    out = meta.pool_groups(frame, by, method=method, test=test, tau2_ci=True)  # type: ignore[arg-type]
    assert len(out) == frame.groupby(["outcome", "measure"]).ngroups
    singles = 0
    for key, grp in frame.groupby(["outcome", "measure"]):
        row = out.loc[key]
        if len(grp) < 2:
            singles += 1
            assert row["status"] == "needs >= 2 studies to pool, got 1" and math.isnan(row["estimate"])
            continue
        try:
            one = meta.pool(grp.yi, grp.vi, method=method, test=test)  # type: ignore[arg-type]
        except SynthesisError:
            assert row["status"] != "ok"
            continue
        for col in ("estimate", "se", "ci_low", "ci_high", "p", "tau2", "I2", "I2_Q", "H2", "Q", "pi_low", "pi_high"):
            assert row[col] == pytest.approx(getattr(one, col), rel=1e-12, abs=1e-14, nan_ok=True), col
        if method != "FE":
            assert row["tau2_ci_high"] == pytest.approx(one.tau2_ci_high, rel=1e-12)
    assert singles > 0  # the fixture does exercise the k = 1 path


@pytest.mark.parametrize("method", ["REML", "FE"])
def test_pool_groups_weights_are_each_rows_share_at_the_fitted_tau2(method: str) -> None:
    frame = _synthetic_groups().set_index("label")
    out = meta.pool_groups(frame, ["outcome", "measure"], method=method, weights=True)  # type: ignore[arg-type]
    for key, grp in frame.groupby(["outcome", "measure"]):
        row = out.loc[key]
        if row["status"] != "ok":
            assert row["weights"] == {}
            continue
        w = 1 / (grp["vi"] + row["tau2"])
        assert row["weights"] == pytest.approx((100 * w / w.sum()).to_dict(), rel=1e-12)
        estimate = sum(share * y for share, y in zip(row["weights"].values(), grp["yi"])) / 100
        assert estimate == pytest.approx(row["estimate"], rel=1e-9)  # the weights the estimate was pooled with


def test_leave_one_out_refits_without_each_study() -> None:
    e = cells("RR")
    loo = meta.leave_one_out(e.yi, e.vi, labels=BCG.author, test="knha")
    assert list(loo["omitted"]) == list(BCG.author) and (loo["k"] == 12).all()
    for i in (0, 7, 12):
        rest = e.drop(index=i)
        one = meta.pool(rest.yi, rest.vi, test="knha")
        assert loo["estimate"][i] == pytest.approx(one.estimate, rel=1e-12)
        assert loo["tau2"][i] == pytest.approx(one.tau2, rel=1e-12)
        assert loo["pi_high"][i] == pytest.approx(one.pi_high, rel=1e-12)
    # Dropping the huge, null TPT Madras trial moves the pooled log RR away from 0.
    assert loo["estimate"][7] < fit().estimate


def test_leave_one_out_groups_respects_max_k() -> None:
    frame = _synthetic_groups()
    sizes = frame.groupby(["outcome", "measure"]).size()
    out = meta.leave_one_out_groups(frame, ["outcome", "measure"], label="label", max_k=8)
    expected = int(sizes[(sizes >= 3) & (sizes <= 8)].sum())
    assert len(out) == expected and set(out["k"]) <= set(range(2, 8))
    checked = 0
    for _, row in out.iloc[::23].iterrows():  # rows spread over many groups
        grp = frame[(frame.outcome == row.outcome) & (frame.measure == row.measure) & (frame.label != row.omitted)]
        assert len(grp) == row["k"]
        if row["status"] == "ok":
            one = meta.pool(grp.yi, grp.vi)
            assert (row["estimate"], row["tau2"]) == pytest.approx((one.estimate, one.tau2), rel=1e-12, abs=1e-15)
            checked += 1
    assert checked >= 5


def test_cumulative_adds_studies_in_the_given_order() -> None:
    e = cells("RR")
    cum = meta.cumulative(e.yi, e.vi, order=BCG.year, labels=BCG.author)
    by_year = BCG.sort_values("year", kind="stable")
    assert list(cum["added"]) == list(by_year.author) and list(cum["k"]) == list(range(1, 14))
    assert cum["status"][0] == "single study" and cum["estimate"][0] == pytest.approx(e.yi[by_year.index[0]])
    assert math.isnan(cum["tau2"][0])
    for j in (1, 5, 12):
        first = e.loc[by_year.index[: j + 1]]
        assert cum["estimate"][j] == pytest.approx(meta.pool(first.yi, first.vi).estimate, rel=1e-12)
    assert cum["estimate"].iloc[-1] == pytest.approx(fit().estimate, rel=1e-12)


def test_leave_one_out_and_cumulative_drop_a_missing_pair_and_label_the_rest_by_position() -> None:
    e = cells("RR")
    yi, vi = e.yi.to_numpy().copy(), e.vi.to_numpy().copy()
    yi[1] = np.nan  # one trial without an estimate: dropped, as metafor's na.omit
    loo = meta.leave_one_out(yi, vi, test="knha")
    assert list(loo["omitted"]) == [1, *range(3, 14)] and (loo["k"] == 11).all()
    cum = meta.cumulative(yi, vi)
    assert list(cum["added"]) == [1, *range(3, 14)] and list(cum["k"]) == list(range(1, 13))
    with pytest.raises(ValueError, match="labels must have one entry per study"):
        meta.cumulative(yi, vi, labels=["a", "b"])


def test_an_unknown_model_option_is_an_error_not_ignored() -> None:
    e = cells("RR")
    with pytest.raises(TypeError, match="unexpected keyword argument.*methd"):
        meta.leave_one_out(e.yi, e.vi, methd="DL")  # type: ignore[call-arg]
    assert meta.cumulative(e.yi, e.vi, method="DL")["tau2"].iloc[-1] == pytest.approx(0.3088, abs=5e-5)


def test_estimate_tau2_and_qprofile_helpers_match_pool() -> None:
    e = cells("RR")
    est = meta.estimate_tau2(e.yi, e.vi, "REML")
    assert (est.tau2, est.se) == (fit().tau2, fit().tau2_se) and est.iterations > 0
    assert meta.qprofile_tau2_ci(e.yi, e.vi, tau2=est.tau2) == (fit().tau2_ci_low, fit().tau2_ci_high)


def test_result_exports_every_field() -> None:
    row = fit().to_series()
    for name in ("estimate", "se", "ci_low", "ci_high", "stat", "p", "tau2", "tau2_ci_low", "tau2_ci_high",
                 "I2", "I2_Q", "H2", "Q", "Q_df", "Q_p", "pi_low", "pi_high", "pi_method", "k", "method", "measure"):
        assert name in row.index
    assert row["k"] == 13 and row["method"] == "REML" and row["measure"] == "RR"


# --- properties --------------------------------------------------------------------------------

ALL_METHODS = ("FE", "DL", "REML", "ML", "PM")
COMPARED = ("estimate", "se", "ci_low", "ci_high", "tau2", "I2", "I2_Q", "H2", "Q", "pi_low", "pi_high")
# Deterministic examples (CI must not flake) and no example database written into the repo.
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def studies(draw: st.DrawFn, min_k: int = 2, max_k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(min_k, max_k))
    vi = np.array(draw(st.lists(st.floats(0.005, 1.0), min_size=k, max_size=k)))
    yi = np.array(draw(st.lists(st.floats(-3.0, 3.0), min_size=k, max_size=k)))
    return yi, vi


def _fit_or_reject(yi: np.ndarray, vi: np.ndarray, **kw: object) -> meta.MetaResult:
    try:
        return meta.pool(yi, vi, **kw)  # type: ignore[arg-type]
    except SynthesisError:  # Fisher scoring may (rarely) fail to converge, as in metafor
        reject()


def _same(
    a: meta.MetaResult, b: meta.MetaResult, *, rel: float, abs_: float, fields: tuple[str, ...] = COMPARED
) -> None:
    for name in fields:
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=rel, abs=abs_, nan_ok=True), name


@PROPERTY_SETTINGS
@given(data=studies(), method=st.sampled_from(ALL_METHODS), common=st.floats(-2, 2))
def test_homogeneous_effects_give_tau2_zero_and_re_equals_fe(
    data: tuple[np.ndarray, np.ndarray], method: str, common: float
) -> None:
    _, vi = data
    yi = np.full(len(vi), common)
    re, fe = _fit_or_reject(yi, vi, method=method), _fit_or_reject(yi, vi, method="FE")
    assert re.tau2 == 0.0
    _same(re, fe, rel=1e-12, abs_=1e-14, fields=("estimate", "se", "ci_low", "ci_high", "p"))


@PROPERTY_SETTINGS
@given(data=studies(), method=st.sampled_from(ALL_METHODS[1:]), spread=st.floats(0.0, 0.6))
def test_whenever_tau2_is_zero_re_equals_fe(data: tuple[np.ndarray, np.ndarray], method: str, spread: float) -> None:
    z, vi = data
    yi = 0.3 + spread * np.sqrt(vi) * np.clip(z, -2, 2)  # under-dispersed: tau^2 is often 0
    re, fe = _fit_or_reject(yi, vi, method=method), _fit_or_reject(yi, vi, method="FE")
    if method == "DL" and fe.Q <= fe.Q_df:
        assert re.tau2 == 0.0  # DL truncates at 0 exactly when Q <= k - 1
    if re.tau2 == 0.0:
        _same(re, fe, rel=1e-12, abs_=1e-14, fields=("estimate", "se", "ci_low", "ci_high", "p"))
    else:
        assert re.se > fe.se  # tau^2 > 0 widens the CI


@PROPERTY_SETTINGS
@given(data=studies(), method=st.sampled_from(ALL_METHODS), test=st.sampled_from(("z", "knha")),
       perm_seed=st.integers(0, 2**32 - 1))
def test_permutation_invariance(data: tuple[np.ndarray, np.ndarray], method: str, test: str, perm_seed: int) -> None:
    yi, vi = data
    perm = np.random.default_rng(perm_seed).permutation(len(yi))
    kw = {"method": method, "test": test, "uniroot_tol": 1e-10}
    a, b = _fit_or_reject(yi, vi, **kw), _fit_or_reject(yi[perm], vi[perm], **kw)
    _same(a, b, rel=1e-8, abs_=1e-10, fields=(*COMPARED, "tau2_ci_low", "tau2_ci_high", "I2_ci_low", "H2_ci_high"))


@st.composite
def tables(draw: st.DrawFn) -> np.ndarray:
    k = draw(st.integers(2, 10))
    rows = draw(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 300), st.integers(0, 40), st.integers(1, 300)),
                         min_size=k, max_size=k))
    return np.array(rows, dtype=float)


@PROPERTY_SETTINGS
@given(tab=tables(), which=st.sampled_from(("MH-OR", "MH-RR", "MH-RD", "PETO")), perm_seed=st.integers(0, 2**32 - 1))
def test_permutation_invariance_of_mh_and_peto(tab: np.ndarray, which: str, perm_seed: int) -> None:
    perm = np.random.default_rng(perm_seed).permutation(len(tab))

    def run(t: np.ndarray) -> meta.MetaResult:
        try:
            if which == "PETO":
                return meta.pool_peto(*t.T)
            return meta.pool_mantel_haenszel(*t.T, measure=which[3:])  # type: ignore[arg-type]
        except SynthesisError:  # fewer than two informative tables
            reject()

    _same(run(tab), run(tab[perm]), rel=1e-9, abs_=1e-12, fields=("estimate", "se", "ci_low", "ci_high", "Q", "I2"))


@PROPERTY_SETTINGS
@given(data=studies(), method=st.sampled_from(ALL_METHODS), test=st.sampled_from(("z", "knha")), c=st.floats(0.2, 5.0))
def test_scale_equivariance(data: tuple[np.ndarray, np.ndarray], method: str, test: str, c: float) -> None:
    yi, vi = data
    # metafor's stopping rules are absolute (tau^2 change < 1e-5, uniroot tol 1.2e-4), hence not
    # scale-free; the estimators themselves are, so compare them converged tightly.
    kw = {"method": method, "test": test, "threshold": 1e-11, "uniroot_tol": 1e-12}
    a, b = _fit_or_reject(yi, vi, **kw), _fit_or_reject(c * yi, c**2 * vi, **kw)
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert getattr(b, name) == pytest.approx(c * getattr(a, name), rel=1e-6, abs=1e-9, nan_ok=True), name
    assert b.se == pytest.approx(c * a.se, rel=1e-6, abs=1e-12)
    assert b.tau2 == pytest.approx(c**2 * a.tau2, rel=1e-6, abs=1e-9)
    assert b.Q == pytest.approx(a.Q, rel=1e-9, abs=1e-12)
    # A tau^2 left ~1e-11 above a boundary optimum at 0 moves I^2 (percent) by up to ~1e-7.
    for name in ("I2", "H2", "p"):
        assert getattr(b, name) == pytest.approx(getattr(a, name), rel=1e-6, abs=1e-6, nan_ok=True), name
    if method != "FE" and max(a.tau2_ci_high, b.tau2_ci_high) < 100:  # below metafor's search cap
        assert b.tau2_ci_high == pytest.approx(c**2 * a.tau2_ci_high, rel=1e-6, abs=1e-9)


@PROPERTY_SETTINGS
@given(data=studies(), method=st.sampled_from(ALL_METHODS), test=st.sampled_from(("z", "knha")), shift=st.floats(-5, 5))
def test_location_shift_equivariance(data: tuple[np.ndarray, np.ndarray], method: str, test: str, shift: float) -> None:
    yi, vi = data
    kw = {"method": method, "test": test, "uniroot_tol": 1e-10}
    a, b = _fit_or_reject(yi, vi, **kw), _fit_or_reject(yi + shift, vi, **kw)
    for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
        assert getattr(b, name) == pytest.approx(getattr(a, name) + shift, rel=1e-9, abs=1e-9, nan_ok=True), name
    _same(a, b, rel=1e-8, abs_=1e-10, fields=("se", "tau2", "I2", "I2_Q", "H2", "Q", "tau2_ci_low", "tau2_ci_high"))
