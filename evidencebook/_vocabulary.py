"""The review's controlled vocabularies: the words a coded study and finding may use.

One owner for each list: the field parsers (:mod:`._fields`), the table schemas, the synthesis and the book
all read them from here, so a word added here is accepted, validated and shown everywhere at once.
"""

from __future__ import annotations

from ._effects import LOG_SCALE_MEASURES

__all__ = ["BINARY_ARMS", "CERTAINTY", "CONTINUOUS_ARMS", "COMPARISON_TYPES", "DESIGN_TYPES", "DOMAINS", "MEASURES",
           "PEER_ROLES", "POPULATION_GROUPS", "RATIO_MEASURES", "RAW_FIELDS", "REVIEW_QUALITY", "RISK_OF_BIAS",
           "SETTING_TYPES", "STUDY_TYPES", "THEMES"]

DOMAINS = (
    "service use", "hospitalisation", "crisis/ED use", "engagement", "recovery", "hope",
    "empowerment", "quality of life", "symptoms", "substance use", "housing", "employment",
    "cost", "workforce", "other",
)
POPULATION_GROUPS = ("SMI", "SUD", "co-occurring", "youth", "family", "mental health (mixed)", "other")
STUDY_TYPES = ("review", "primary", "gray literature")
DESIGN_TYPES = (
    "umbrella review", "systematic review with meta-analysis", "systematic review", "RCT", "cluster RCT",
    "quasi-experimental", "observational cohort", "pre-post or single group", "qualitative or mixed methods",
    "gray literature", "other",
)
SETTING_TYPES = (
    "community mental health", "inpatient and transition from hospital", "emergency department",
    "substance use treatment and recovery support", "primary care", "criminal justice", "housing and homelessness",
    "schools and youth services", "online", "mixed or not stated",
)
PEER_ROLES = (
    "peer support specialist", "recovery coach or peer recovery specialist", "peer mentor", "peer navigator",
    "peer case manager", "consumer-provider", "group or mutual support", "family peer", "youth peer",
    "mixed or not stated",
)
# Implementation themes (qualitative findings on putting peers to work), for the Implementation chapter.
THEMES = (
    "role clarity", "supervision by peers", "pay and benefits", "training and certification", "career paths",
    "integration into teams", "stigma and organisational culture", "culturally specific services",
    "funding and billing", "other",
)
# What peer support is compared with: findings of different comparisons answer different questions and are
# never pooled, plotted or vote-counted together.
COMPARISON_TYPES = ("added to usual care", "replacing staff", "versus active intervention", "mixed or not stated")
COMPARISON_ALIASES = {"peers added to usual care": "added to usual care", "added to care": "added to usual care",
                      "replacing staff in the same role": "replacing staff", "peers replacing staff": "replacing staff",
                      "vs active intervention": "versus active intervention",
                      "versus another active intervention": "versus active intervention",
                      "not stated": "mixed or not stated", "mixed": "mixed or not stated"}
# Risk of bias: RoB 2 (randomised) and ROBINS-I (non-randomised) judgements, and 'not assessed'.
RISK_OF_BIAS = ("low", "some concerns", "high", "moderate", "serious", "critical", "no information", "not assessed")
REVIEW_QUALITY = ("high", "moderate", "low", "critically low")  # AMSTAR 2's overall confidence in a review
CERTAINTY = ("high", "moderate", "low", "very low")  # GRADE
MEASURES = ("SMD", "Hedges g", "MD", "RR", "OR", "HR", "RD", "narrative")
RATIO_MEASURES = tuple(m for m in MEASURES if m in LOG_SCALE_MEASURES)  # the coded ones; _effects owns the set
MEASURE_ALIASES = {m.lower(): m for m in MEASURES} | {
    "hedges' g": "Hedges g", "g": "Hedges g", "risk ratio": "RR", "odds ratio": "OR", "hazard ratio": "HR",
}


# Raw data per arm ("peer" is the peer support arm, "comparison" the other): the effect size and its
# variance are computed from them at sync (metafor's escalc conventions), so no one types them twice.
BINARY_ARMS = ("events_peer", "n_peer", "events_comparison", "n_comparison")
CONTINUOUS_ARMS = ("mean_peer", "sd_peer", "n_peer", "mean_comparison", "sd_comparison", "n_comparison")
RAW_FIELDS = tuple(dict.fromkeys((*BINARY_ARMS, *CONTINUOUS_ARMS)))
BINARY_MEASURES = ("RR", "OR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD", "Hedges g")


# Words people write for an outcome domain (a hint only: the domain is never guessed into the tables).
DOMAIN_WORDS = {"readmission": "hospitalisation", "admission": "hospitalisation", "inpatient": "hospitalisation",
                "emergency": "crisis/ED use", "crisis": "crisis/ED use", "depress": "symptoms", "anxiety": "symptoms",
                "psychosis": "symptoms", "qol": "quality of life", "wellbeing": "quality of life",
                "relapse": "substance use", "overdose": "substance use", "alcohol": "substance use",
                "retention": "engagement", "attendance": "engagement", "self-efficacy": "empowerment",
                "activation": "empowerment", "homeless": "housing", "job": "employment", "spending": "cost",
                "burnout": "workforce", "turnover": "workforce"}
