"""epidemiology: standard population and the Menni et al. 2020 model signal

- ``standard_populations``: the standard population for direct age standardisation, by age band, with the
  source of every figure; seeded with Denmark 1 January 2024 in the Influenzanet bands (0-20, 21-64, 65+).
- ``case_definitions``: the symptom-based prediction of COVID-19 of Menni et al. (Nature Medicine 2020,
  doi:10.1038/s41591-020-0916-2) as a labelled model signal (kind 'model'), key ``covid.menni2020``.

Revision ID: 0003_epidemiology
Revises: 0002
Create Date: 2026-11-27
"""
from alembic import op
import sqlalchemy as sa


revision = "0003_epidemiology"
down_revision = "0002"
branch_labels = None
depends_on = None

_TOTAL = 5_961_249  # Statistics Denmark FOLK1A, 1 January 2024 (the sum of regions.population)
_DERIVED = ("Derived (verify): UN World Population Prospects 2024 age shares for Denmark (0-14 15.7 %, "
            "15-64 63.4 %, 65+ 20.9 %) applied to the Statistics Denmark FOLK1A total of 1 January 2024 "
            "(5,961,249); ages 15-20 taken as 6/50 of the 15-64 group (uniform within it). Replace with FOLK1A "
            "by single year of age when available.")
# 0-14: 935,916.1; 15-64: 3,779,431.9 (of which 15-20: 453,531.8); 65+: 1,245,901.0 -> rounded, summing to the total.
STANDARD_POPULATION = [
    ("dk-2024", "influenzanet", "0-20", 1_389_448, _DERIVED),
    ("dk-2024", "influenzanet", "21-64", 3_325_900, _DERIVED),
    ("dk-2024", "influenzanet", "65+", 1_245_901, _DERIVED),
]
assert sum(row[3] for row in STANDARD_POPULATION) == _TOTAL

MENNI_RULE = {"logistic": {
    "intercept": -1.32167356,
    "terms": [
        {"coefficient": -0.00716455, "variable": "age_years"},
        {"coefficient": 0.43576578, "rule": {"field": "sex", "is": "male"}},
        {"coefficient": 1.74711853, "rule": {"any": [{"symptom": "loss_of_smell"}, {"symptom": "loss_of_taste"}]}},
        {"coefficient": 0.30872189, "rule": {"field": "persistent_cough", "is": True}},
        {"coefficient": 0.49534113, "rule": {"field": "severe_fatigue", "is": True}},
        {"coefficient": 0.38691672, "rule": {"field": "skipped_meals", "is": True}},
    ],
    "threshold": 0.5,
}}
MENNI = dict(
    key="covid.menni2020", version=1,
    label_en="Predicted COVID-19 (symptom model, Menni et al. 2020)",
    label_da="Forudsagt COVID-19 (symptommodel, Menni m.fl. 2020)",
    description="A model signal, not a diagnosis: logit = -1.32167356 - 0.00716455 age + 0.43576578 sex "
                "(male = 1, female and other = 0; verify) + 1.74711853 loss of smell or taste + 0.30872189 "
                "persistent cough + 0.49534113 severe fatigue + 0.38691672 skipped meals; predicted when "
                "P = 1 / (1 + exp(-logit)) > 0.5, i.e. logit > 0. Unanswered inputs count as 0.",
    source="Menni C, Valdes AM, Freidin MB, et al. Real-time tracking of self-reported symptoms to predict "
           "potential COVID-19. Nat Med 2020;26:1037-1040, doi:10.1038/s41591-020-0916-2 (coefficients as "
           "published; sex coding male = 1 from secondary sources: verify)",
    kind="model", default_method="w0", rule=MENNI_RULE, active=True,
)


def upgrade() -> None:
    op.create_table(
        "standard_populations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("age_band_scheme", sa.String(length=32), nullable=False),
        sa.Column("age_band", sa.String(length=16), nullable=False),
        sa.Column("population", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.CheckConstraint("population >= 0", name=op.f("ck_standard_populations_population")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standard_populations")),
        sa.UniqueConstraint("name", "age_band_scheme", "age_band",
                            name=op.f("uq_standard_populations_name_age_band_scheme_age_band")),
    )
    populations = sa.table("standard_populations", sa.column("name"), sa.column("age_band_scheme"),
                           sa.column("age_band"), sa.column("population"), sa.column("source"))
    op.bulk_insert(populations, [dict(name=n, age_band_scheme=s, age_band=b, population=p, source=src)
                                 for n, s, b, p, src in STANDARD_POPULATION])
    definitions = sa.table("case_definitions", sa.column("key"), sa.column("version"), sa.column("label_en"),
                           sa.column("label_da"), sa.column("description"), sa.column("source"),
                           sa.column("kind"), sa.column("default_method"), sa.column("rule", sa.JSON),
                           sa.column("active"))
    op.bulk_insert(definitions, [MENNI])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM case_definitions WHERE key = :key").bindparams(key=MENNI["key"]))
    op.drop_table("standard_populations")
