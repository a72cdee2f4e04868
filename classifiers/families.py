"""Task families for grouped cross-validation: MMLU subject groups (the MMLU paper's four categories), the unit of task-family holdout.

``REPORT_GROUP`` was fixed BEFORE any feature or model experiment (2026-12-01) as the split no
design choice looks at: development compares models by leaving one of the other three groups out
at a time, training on the remaining two; only the final figures in the README include the report
group (trained on the three development groups, tested on it).
"""

from __future__ import annotations

_STEM = (
    "abstract_algebra anatomy astronomy college_biology college_chemistry college_computer_science "
    "college_mathematics college_physics computer_security conceptual_physics electrical_engineering "
    "elementary_mathematics high_school_biology high_school_chemistry high_school_computer_science "
    "high_school_mathematics high_school_physics high_school_statistics machine_learning"
)
_HUMANITIES = (
    "formal_logic high_school_european_history high_school_us_history high_school_world_history "
    "international_law jurisprudence logical_fallacies moral_disputes moral_scenarios philosophy "
    "prehistory professional_law world_religions"
)
_SOCIAL = (
    "econometrics high_school_geography high_school_government_and_politics high_school_macroeconomics "
    "high_school_microeconomics high_school_psychology human_sexuality professional_psychology "
    "public_relations security_studies sociology us_foreign_policy"
)
_OTHER = (
    "business_ethics clinical_knowledge college_medicine global_facts human_aging management marketing "
    "medical_genetics miscellaneous nutrition professional_accounting professional_medicine virology"
)

GROUPS: dict[str, str] = {
    subject: name
    for name, subjects in (("stem", _STEM), ("humanities", _HUMANITIES), ("social_sciences", _SOCIAL), ("other", _OTHER))
    for subject in subjects.split()
}
REPORT_GROUP = "other"
DEV_GROUPS = ("stem", "humanities", "social_sciences")


def family_of(domain: str | None) -> str:
    """The family a row's ``meta.domain`` belongs to: its MMLU group, else the domain itself."""
    if domain is None:
        return "_none"
    return GROUPS.get(domain, domain)
