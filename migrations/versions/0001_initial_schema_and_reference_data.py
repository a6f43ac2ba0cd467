"""initial schema and reference data

The whole schema, the Danish regions and municipalities, the Influenzanet age bands, the first case
definitions, and the triggers that make the audit log append-only (on SQLite and PostgreSQL alike).

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


# Statistics Denmark / DAGI region codes, ISO 3166-2 codes, population 1 January 2024 (FOLK1A; verify).
REGIONS = [
    (1081, "DK-81", "Region Nordjylland", 593135),
    (1082, "DK-82", "Region Midtjylland", 1365688),
    (1083, "DK-83", "Region Syddanmark", 1238406),
    (1084, "DK-84", "Region Hovedstaden", 1911067),
    (1085, "DK-85", "Region Sjælland", 852953),
]

# The 98 municipalities (kommuner) with their 3-digit codes, by region. Christiansø (411) is not a
# municipality and is not listed.
MUNICIPALITIES = {
    1084: [(101, "København"), (147, "Frederiksberg"), (151, "Ballerup"), (153, "Brøndby"), (155, "Dragør"),
           (157, "Gentofte"), (159, "Gladsaxe"), (161, "Glostrup"), (163, "Herlev"), (165, "Albertslund"),
           (167, "Hvidovre"), (169, "Høje-Taastrup"), (173, "Lyngby-Taarbæk"), (175, "Rødovre"), (183, "Ishøj"),
           (185, "Tårnby"), (187, "Vallensbæk"), (190, "Furesø"), (201, "Allerød"), (210, "Fredensborg"),
           (217, "Helsingør"), (219, "Hillerød"), (223, "Hørsholm"), (230, "Rudersdal"), (240, "Egedal"),
           (250, "Frederikssund"), (260, "Gribskov"), (270, "Halsnæs"), (400, "Bornholm")],
    1085: [(253, "Greve"), (259, "Køge"), (265, "Roskilde"), (269, "Solrød"), (306, "Odsherred"),
           (316, "Holbæk"), (320, "Faxe"), (326, "Kalundborg"), (329, "Ringsted"), (330, "Slagelse"),
           (336, "Stevns"), (340, "Sorø"), (350, "Lejre"), (360, "Lolland"), (370, "Næstved"),
           (376, "Guldborgsund"), (390, "Vordingborg")],
    1083: [(410, "Middelfart"), (420, "Assens"), (430, "Faaborg-Midtfyn"), (440, "Kerteminde"), (450, "Nyborg"),
           (461, "Odense"), (479, "Svendborg"), (480, "Nordfyns"), (482, "Langeland"), (492, "Ærø"),
           (510, "Haderslev"), (530, "Billund"), (540, "Sønderborg"), (550, "Tønder"), (561, "Esbjerg"),
           (563, "Fanø"), (573, "Varde"), (575, "Vejen"), (580, "Aabenraa"), (607, "Fredericia"),
           (621, "Kolding"), (630, "Vejle")],
    1082: [(615, "Horsens"), (657, "Herning"), (661, "Holstebro"), (665, "Lemvig"), (671, "Struer"),
           (706, "Syddjurs"), (707, "Norddjurs"), (710, "Favrskov"), (727, "Odder"), (730, "Randers"),
           (740, "Silkeborg"), (741, "Samsø"), (746, "Skanderborg"), (751, "Aarhus"), (756, "Ikast-Brande"),
           (760, "Ringkøbing-Skjern"), (766, "Hedensted"), (779, "Skive"), (791, "Viborg")],
    1081: [(773, "Morsø"), (787, "Thisted"), (810, "Brønderslev"), (813, "Frederikshavn"),
           (820, "Vesthimmerland"), (825, "Læsø"), (840, "Rebild"), (846, "Mariagerfjord"), (849, "Jammerbugt"),
           (851, "Aalborg"), (860, "Hjørring")],
}

# Influenzanet's standardisation strata (ifnBase R/incidence_design.R).
AGE_BANDS = [("influenzanet", "0-20", 0, 20, 1), ("influenzanet", "21-64", 21, 64, 2),
             ("influenzanet", "65+", 65, 150, 3)]

_SUDDEN = {"any": [{"field": "sudden_onset", "is": True}, {"field": "fever_sudden", "is": True}]}
_GENERAL = {"any": [{"symptom": "fever"}, {"symptom": "chills"}, {"symptom": "tiredness"},
                    {"all": [{"age_over": 5}, {"any": [{"symptom": "muscle_pain"}, {"symptom": "headache"}]}]}]}
_RESPIRATORY = {"any": [{"symptom": "sore_throat"}, {"symptom": "cough"}, {"symptom": "shortness_of_breath"}]}
_IFN = "ifnBase R/syndrome_provider_2019.R and R/syndrome_provider_covid.R (Influenzanet)"

CASE_DEFINITIONS = [
    ("ili.ecdc", 1, "Influenza-like illness (ECDC)", "Influenzalignende sygdom (ECDC)",
     "Sudden onset AND a general symptom (fever, chills, tiredness, or muscle pain or headache above age 5) "
     "AND a respiratory symptom (sore throat, cough, shortness of breath).", _IFN, "w1_s2_if2_ex",
     {"all": [_SUDDEN, _GENERAL, _RESPIRATORY]}),
    ("covid.ecdc", 1, "COVID-19 case definition (ECDC)", "COVID-19-casedefinition (ECDC)",
     "Cough OR fever OR shortness of breath OR (sudden onset AND age above 5 AND loss of smell or taste).",
     _IFN, "w0",
     {"any": [{"symptom": "cough"}, {"symptom": "fever"}, {"symptom": "shortness_of_breath"},
              {"all": [_SUDDEN, {"age_over": 5},
                       {"any": [{"symptom": "loss_of_smell"}, {"symptom": "loss_of_taste"}]}]}]}),
    ("ari", 1, "Acute respiratory infection", "Akut luftvejsinfektion",
     "Sudden onset AND a general symptom AND (cough OR runny nose OR sneezing).", _IFN, "w1_s2_if2_ex",
     {"all": [_SUDDEN, _GENERAL, {"any": [{"symptom": "cough"}, {"symptom": "runny_nose"},
                                          {"symptom": "sneezing"}]}]}),
    ("fever.cough", 1, "Fever and cough (FluTracking)", "Feber og hoste (FluTracking)",
     "Fever AND cough: FluTracking's headline definition.", "FluTracking (Australia)", "w0",
     {"all": [{"symptom": "fever"}, {"symptom": "cough"}]}),
    ("cli", 1, "COVID-like illness (Delphi)", "COVID-lignende sygdom (Delphi)",
     "Fever AND (cough OR shortness of breath): Delphi's COVID-like illness.", "Delphi COVIDcast surveys", "w0",
     {"all": [{"symptom": "fever"}, {"any": [{"symptom": "cough"}, {"symptom": "shortness_of_breath"}]}]}),
    ("any.symptom", 1, "Any symptom", "Ethvert symptom",
     "Any symptom other than 'no symptoms'.", _IFN, "w0", {"any_symptom": True}),
]

_AUDIT_GUARD = "audit_log is append-only"


def upgrade() -> None:
    _create_schema()
    regions = sa.table("regions", sa.column("code"), sa.column("iso_code"), sa.column("name"),
                       sa.column("population"))
    op.bulk_insert(regions, [dict(code=c, iso_code=i, name=n, population=p) for c, i, n, p in REGIONS])
    municipalities = sa.table("municipalities", sa.column("code"), sa.column("name"), sa.column("region_code"))
    op.bulk_insert(municipalities, [dict(code=code, name=name, region_code=region)
                                    for region, rows in MUNICIPALITIES.items() for code, name in rows])
    bands = sa.table("age_bands", sa.column("scheme"), sa.column("label"), sa.column("min_age"),
                     sa.column("max_age"), sa.column("position"))
    op.bulk_insert(bands, [dict(scheme=s, label=label, min_age=lo, max_age=hi, position=pos)
                           for s, label, lo, hi, pos in AGE_BANDS])
    definitions = sa.table("case_definitions", sa.column("key"), sa.column("version"), sa.column("label_en"),
                           sa.column("label_da"), sa.column("description"), sa.column("source"),
                           sa.column("kind"), sa.column("default_method"), sa.column("rule", sa.JSON),
                           sa.column("active"))
    op.bulk_insert(definitions, [dict(key=k, version=v, label_en=en, label_da=da, description=d, source=src,
                                      kind="definition", default_method=m, rule=rule, active=True)
                                 for k, v, en, da, d, src, m, rule in CASE_DEFINITIONS])
    _create_audit_guard()


def _create_audit_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION '{_AUDIT_GUARD}'; END $$""")
        op.execute("""CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
                      FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log
                           BEGIN SELECT RAISE(ABORT, '{_AUDIT_GUARD}'); END""")


def _drop_audit_guard() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")


def _create_schema() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminders_paused_until', sa.Date(), nullable=True),
    sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminder_weekday', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'active')", name=op.f('ck_accounts_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('email', name=op.f('uq_accounts_email'))
    )
    op.create_table('age_bands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=16), nullable=False),
    sa.Column('min_age', sa.SmallInteger(), nullable=False),
    sa.Column('max_age', sa.SmallInteger(), nullable=False),
    sa.Column('position', sa.SmallInteger(), nullable=False),
    sa.CheckConstraint('min_age <= max_age', name=op.f('ck_age_bands_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_age_bands')),
    sa.UniqueConstraint('scheme', 'label', name=op.f('uq_age_bands_scheme_label'))
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('prefix', sa.String(length=12), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('name', name=op.f('uq_api_tokens_name')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_id', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('detail', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('remote_addr', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_occurred_at', ['occurred_at'], unique=False)

    op.create_table('case_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('label_en', sa.String(length=120), nullable=False),
    sa.Column('label_da', sa.String(length=120), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('default_method', sa.String(length=32), nullable=False),
    sa.Column('rule', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_definitions')),
    sa.UniqueConstraint('key', 'version', name=op.f('uq_case_definitions_key_version'))
    )
    op.create_table('incidence_estimates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('geo_type', sa.String(length=8), nullable=False),
    sa.Column('geo_code', sa.String(length=8), nullable=False),
    sa.Column('age_band', sa.String(length=16), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('definition_key', sa.String(length=40), nullable=False),
    sa.Column('definition_version', sa.SmallInteger(), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Integer(), nullable=True),
    sa.Column('cases', sa.Integer(), nullable=True),
    sa.Column('incidence', sa.Float(), nullable=True),
    sa.Column('lower_95', sa.Float(), nullable=True),
    sa.Column('upper_95', sa.Float(), nullable=True),
    sa.Column('missing_reason', sa.SmallInteger(), nullable=False),
    sa.Column('issue', sa.Date(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("geo_type IN ('nation', 'region')", name=op.f('ck_incidence_estimates_geo_type')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidence_estimates')),
    sa.UniqueConstraint('week', 'geo_type', 'geo_code', 'age_band', 'sex', 'definition_key', 'definition_version', 'method', 'issue', name=op.f('uq_incidence_estimates_week_geo_type_geo_code_age_band_sex_definition_key_definition_version_method_issue'))
    )
    with op.batch_alter_table('incidence_estimates', schema=None) as batch_op:
        batch_op.create_index('ix_incidence_estimates_lookup', ['definition_key', 'method', 'geo_type', 'week'], unique=False)

    op.create_table('instance_facts',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_instance_facts'))
    )
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_name', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f('ck_job_runs_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('job_name', 'period', name=op.f('uq_job_runs_job_name_period'))
    )
    op.create_table('outbox_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body_text', sa.Text(), nullable=False),
    sa.Column('headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.SmallInteger(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f('ck_outbox_messages_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox_messages'))
    )
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_messages_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('regions',
    sa.Column('code', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('iso_code', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions')),
    sa.UniqueConstraint('iso_code', name=op.f('uq_regions_iso_code'))
    )
    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('failed_attempts', sa.SmallInteger(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('epidemiologist', 'authority', 'admin')", name=op.f('ck_staff_users_role')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('email', name=op.f('uq_staff_users_email'))
    )
    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=32), nullable=False),
    sa.Column('given_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_consents_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_account_id'), ['account_id'], unique=False)

    op.create_table('login_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('week', sa.Date(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('confirm', 'login', 'weekly')", name=op.f('ck_login_tokens_purpose')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_login_tokens_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_login_tokens_token_hash'))
    )
    with op.batch_alter_table('login_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_tokens_account_id'), ['account_id'], unique=False)

    op.create_table('municipalities',
    sa.Column('code', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_municipalities_region_code_regions')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_municipalities'))
    )
    with op.batch_alter_table('municipalities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_municipalities_region_code'), ['region_code'], unique=False)

    op.create_table('user_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_hash', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('(account_id IS NULL) <> (staff_user_id IS NULL)', name=op.f('ck_user_sessions_one_owner')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_user_sessions_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'], name=op.f('fk_user_sessions_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
    sa.UniqueConstraint('session_hash', name=op.f('uq_user_sessions_session_hash'))
    )
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_sessions_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_sessions_staff_user_id'), ['staff_user_id'], unique=False)

    op.create_table('profiles',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('relation', sa.String(length=16), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=True),
    sa.Column('birth_year', sa.SmallInteger(), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('municipality_code', sa.Integer(), nullable=False),
    sa.Column('intake_version', sa.String(length=32), nullable=False),
    sa.Column('intake_answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("relation IN ('self', 'child', 'parent', 'partner', 'other')", name=op.f('ck_profiles_relation')),
    sa.CheckConstraint("sex IN ('female', 'male', 'other')", name=op.f('ck_profiles_sex')),
    sa.CheckConstraint('birth_year BETWEEN 1900 AND 2100', name=op.f('ck_profiles_birth_year')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_profiles_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['municipality_code'], ['municipalities.code'], name=op.f('fk_profiles_municipality_code_municipalities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profiles'))
    )
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_profiles_account_id'), ['account_id'], unique=False)

    op.create_table('weekly_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('profile_id', sa.String(length=32), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revision', sa.SmallInteger(), nullable=False),
    sa.Column('questionnaire_version', sa.String(length=32), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('region_code', sa.Integer(), nullable=False),
    sa.Column('municipality_code', sa.Integer(), nullable=False),
    sa.Column('sex', sa.String(length=8), nullable=False),
    sa.Column('birth_year', sa.SmallInteger(), nullable=False),
    sa.Column('age_years', sa.SmallInteger(), nullable=False),
    sa.Column('no_symptoms', sa.Boolean(), nullable=False),
    sa.Column('fever', sa.Boolean(), nullable=False),
    sa.Column('chills', sa.Boolean(), nullable=False),
    sa.Column('runny_nose', sa.Boolean(), nullable=False),
    sa.Column('sneezing', sa.Boolean(), nullable=False),
    sa.Column('sore_throat', sa.Boolean(), nullable=False),
    sa.Column('cough', sa.Boolean(), nullable=False),
    sa.Column('shortness_of_breath', sa.Boolean(), nullable=False),
    sa.Column('headache', sa.Boolean(), nullable=False),
    sa.Column('muscle_pain', sa.Boolean(), nullable=False),
    sa.Column('chest_pain', sa.Boolean(), nullable=False),
    sa.Column('tiredness', sa.Boolean(), nullable=False),
    sa.Column('loss_of_appetite', sa.Boolean(), nullable=False),
    sa.Column('coloured_sputum', sa.Boolean(), nullable=False),
    sa.Column('watery_eyes', sa.Boolean(), nullable=False),
    sa.Column('nausea', sa.Boolean(), nullable=False),
    sa.Column('vomiting', sa.Boolean(), nullable=False),
    sa.Column('diarrhoea', sa.Boolean(), nullable=False),
    sa.Column('stomach_ache', sa.Boolean(), nullable=False),
    sa.Column('loss_of_smell', sa.Boolean(), nullable=False),
    sa.Column('loss_of_taste', sa.Boolean(), nullable=False),
    sa.Column('nose_bleed', sa.Boolean(), nullable=False),
    sa.Column('rash', sa.Boolean(), nullable=False),
    sa.Column('other_symptom', sa.Boolean(), nullable=False),
    sa.Column('same_illness', sa.String(length=12), nullable=True),
    sa.Column('symptom_start', sa.Date(), nullable=True),
    sa.Column('symptom_end', sa.Date(), nullable=True),
    sa.Column('sudden_onset', sa.Boolean(), nullable=True),
    sa.Column('fever_start', sa.Date(), nullable=True),
    sa.Column('fever_sudden', sa.Boolean(), nullable=True),
    sa.Column('temperature_measured', sa.Boolean(), nullable=True),
    sa.Column('highest_temperature', sa.String(length=12), nullable=True),
    sa.Column('tested', sa.String(length=16), nullable=True),
    sa.Column('test_result', sa.String(length=16), nullable=True),
    sa.Column('onset_date', sa.Date(), nullable=False),
    sa.Column('onset_week', sa.Date(), nullable=False),
    sa.CheckConstraint('revision >= 1', name=op.f('ck_weekly_reports_revision')),
    sa.ForeignKeyConstraint(['municipality_code'], ['municipalities.code'], name=op.f('fk_weekly_reports_municipality_code_municipalities')),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_weekly_reports_profile_id_profiles'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_weekly_reports_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_weekly_reports')),
    sa.UniqueConstraint('profile_id', 'week', name=op.f('uq_weekly_reports_profile_id_week'))
    )
    with op.batch_alter_table('weekly_reports', schema=None) as batch_op:
        batch_op.create_index('ix_weekly_reports_onset_week', ['onset_week'], unique=False)
        batch_op.create_index('ix_weekly_reports_week_region', ['week', 'region_code'], unique=False)

    op.create_table('report_revisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.SmallInteger(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('questionnaire_version', sa.String(length=32), nullable=False),
    sa.Column('answers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['weekly_reports.id'], name=op.f('fk_report_revisions_report_id_weekly_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report_revisions')),
    sa.UniqueConstraint('report_id', 'revision', name=op.f('uq_report_revisions_report_id_revision'))
    )
    op.create_table('report_submissions',
    sa.Column('submission_id', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('body_hash', sa.String(length=64), nullable=False),
    sa.Column('revision', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['report_id'], ['weekly_reports.id'], name=op.f('fk_report_submissions_report_id_weekly_reports'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id', name=op.f('pk_report_submissions'))
    )
    with op.batch_alter_table('report_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_submissions_report_id'), ['report_id'], unique=False)



def downgrade() -> None:
    _drop_audit_guard()
    with op.batch_alter_table('report_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_submissions_report_id'))

    op.drop_table('report_submissions')
    op.drop_table('report_revisions')
    with op.batch_alter_table('weekly_reports', schema=None) as batch_op:
        batch_op.drop_index('ix_weekly_reports_week_region')
        batch_op.drop_index('ix_weekly_reports_onset_week')

    op.drop_table('weekly_reports')
    with op.batch_alter_table('profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_profiles_account_id'))

    op.drop_table('profiles')
    with op.batch_alter_table('user_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_sessions_staff_user_id'))
        batch_op.drop_index(batch_op.f('ix_user_sessions_account_id'))

    op.drop_table('user_sessions')
    with op.batch_alter_table('municipalities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_municipalities_region_code'))

    op.drop_table('municipalities')
    with op.batch_alter_table('login_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_tokens_account_id'))

    op.drop_table('login_tokens')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_account_id'))

    op.drop_table('consents')
    op.drop_table('staff_users')
    op.drop_table('regions')
    with op.batch_alter_table('outbox_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_messages_due')

    op.drop_table('outbox_messages')
    op.drop_table('job_runs')
    op.drop_table('instance_facts')
    with op.batch_alter_table('incidence_estimates', schema=None) as batch_op:
        batch_op.drop_index('ix_incidence_estimates_lookup')

    op.drop_table('incidence_estimates')
    op.drop_table('case_definitions')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_occurred_at')

    op.drop_table('audit_log')
    op.drop_table('api_tokens')
    op.drop_table('age_bands')
    op.drop_table('accounts')
