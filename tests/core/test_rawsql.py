"""releasetracker/rawsql.py writes and reads rows exactly as the ORM would, on either database."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.models.signals import post_init

from deployments.models import Deployment, DeploymentStatusChange
from deployments.services import deployment_record
from deployments.statements import DEPLOYMENTS, ENVIRONMENTS, STATUS_CHANGES
from releasetracker.models import ApiToken
from releasetracker.rawsql import Table, fetchone, passes_unchanged
from releasetracker.services import token_authenticate
from tests.factories import EnvironmentFactory, ReleaseFactory, issue_token

pytestmark = pytest.mark.django_db


def orm_params(table: Table, obj, prefix: str) -> dict:
    """What Model.save(force_insert=True) sends: each field's pre_save, then get_db_prep_save."""
    return {f"{prefix}{f.attname}": f.get_db_prep_save(f.pre_save(obj, True), connection) for f in table.insert_fields}


def comparable(params: dict) -> dict:
    # psycopg's Jsonb and Int8 wrappers compare by identity: compare what they carry.
    return {key: getattr(value, "obj", value) for key, value in params.items()}


def a_full_deployment(org) -> Deployment:
    env = EnvironmentFactory(organization=org, name="production")
    release = ReleaseFactory(organization=org, version="1.0.0")
    started = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone(timedelta(hours=2)))
    return DEPLOYMENTS.new(
        related={"organization": org, "environment": env, "release": release, "project": None},
        commit_sha="ab" * 20,
        status="success",
        started_at=started,
        finished_at=started + timedelta(minutes=3),
        deployed_at=None,
        occurred_at=started + timedelta(minutes=3),
        duration_seconds=180.5,
        title="Deploy 1.0.0 ✓",
        changelog="- fix\n- feat",
        url="https://ci.example.com/1",
        branch="main",
        is_fix=True,
        is_hotfix=False,
        is_forced=True,
        tags=["is_fix", "team-a"],
        triggered_by="ci",
        external_id="run-1",
        member="alice",
        pull_request_number=42,
        repository_url="https://github.com/acme/api",
        commits_count=3,
        source="api",
        created_by="token ci",
        created_at=started,
    )


def test_insert_params_are_what_the_orm_would_send_for_a_whole_deployment(org):
    deployment = a_full_deployment(org)
    orm = orm_params(DEPLOYMENTS, deployment, "d_")
    ours = DEPLOYMENTS.insert_params(deployment, connection, "d_")

    # updated_at is auto_now: each call stamps its own time.
    assert ours.pop("d_updated_at") >= orm.pop("d_updated_at")
    assert comparable(ours) == comparable(orm)
    # And the same types: what the driver binds must not change either.
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in orm.items()}


def test_insert_params_are_what_the_orm_would_send_for_a_deployment_of_defaults_and_nulls(org):
    env = EnvironmentFactory(organization=org, name="staging")
    deployment = DEPLOYMENTS.new(
        related={"organization": org, "environment": env, "release": None, "project": None},
        commit_sha="cd" * 20,
        created_at=datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC),
    )
    orm = orm_params(DEPLOYMENTS, deployment, "d_")
    ours = DEPLOYMENTS.insert_params(deployment, connection, "d_")

    assert ours.pop("d_updated_at") >= orm.pop("d_updated_at")
    assert comparable(ours) == comparable(orm)
    assert {k: type(v) for k, v in ours.items()} == {k: type(v) for k, v in orm.items()}
    assert ours["d_release_id"] is None and ours["d_pull_request_number"] is None


def test_insert_params_leave_out_the_columns_a_statement_fills_itself(org):
    deployment = a_full_deployment(org)
    ours = DEPLOYMENTS.insert_params(deployment, connection, "d_", skip=frozenset({"environment_id", "release_id"}))

    assert "d_environment_id" not in ours and "d_release_id" not in ours
    assert ours["d_commit_sha"] == "ab" * 20


def test_a_naive_datetime_still_goes_through_the_fields_own_preparation(org):
    deployment = a_full_deployment(org)
    deployment.deployed_at = datetime(2026, 1, 2, 3, 4, 5)  # noqa: DTZ001 - the point of the test
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        ours = DEPLOYMENTS.insert_params(deployment, connection, "d_")
    assert ours["d_deployed_at"] is not deployment.deployed_at


def test_only_text_booleans_and_backend_neutral_datetimes_skip_preparation():
    fields = {f.attname: f for f in Deployment._meta.concrete_fields}

    assert passes_unchanged(fields["commit_sha"], connection) == {str, type(None)}
    assert passes_unchanged(fields["changelog"], connection) == {str, type(None)}
    assert passes_unchanged(fields["is_fix"], connection) == {bool, type(None)}
    # Integers, floats and foreign keys: only None (NULL everywhere) skips; a number is wrapped.
    for name in ("pull_request_number", "environment_id", "duration_seconds"):
        assert passes_unchanged(fields[name], connection) == {type(None)}, name
    for name in ("public_id", "tags"):
        assert passes_unchanged(fields[name], connection) == frozenset(), name
    # PostgreSQL takes datetimes as they are; SQLite's backend turns them into text.
    expected = {datetime, type(None)} if connection.vendor == "postgresql" else frozenset()
    assert passes_unchanged(fields["started_at"], connection) == expected


def test_a_row_inserted_here_reads_back_like_one_the_orm_saved(org):
    ours = a_full_deployment(org)
    DEPLOYMENTS.insert(ours, connection)
    orm = a_full_deployment_copy(ours)
    orm.save(force_insert=True)

    def stored(pk):
        row = Deployment.objects.get(pk=pk)
        values = {f.attname: getattr(row, f.attname) for f in Deployment._meta.concrete_fields}
        for name in ("id", "public_id", "updated_at", "external_id"):
            values.pop(name)
        return values

    assert stored(ours.pk) == stored(orm.pk)


def a_full_deployment_copy(deployment: Deployment) -> Deployment:
    values = {f.attname: getattr(deployment, f.attname) for f in Deployment._meta.concrete_fields}
    values.update(id=None, public_id=uuid.uuid4(), external_id="run-2")
    return Deployment(**values)


def test_new_builds_what_the_keyword_constructor_builds(org):
    at = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    ours = STATUS_CHANGES.new(related={"organization": org}, status="queued", at=at)
    theirs = DeploymentStatusChange(organization=org, status="queued", at=at)

    for field in DeploymentStatusChange._meta.concrete_fields:
        if field.attname not in ("created_at", "public_id"):
            assert getattr(ours, field.attname) == getattr(theirs, field.attname), field.attname
    assert ours.organization is org  # cached: no query to read it
    with pytest.raises(TypeError, match="no field"):
        STATUS_CHANGES.new(stauts="queued")


def test_read_converts_values_as_the_orm_does_and_defers_the_columns_it_skips(org, django_assert_num_queries):
    env = EnvironmentFactory(organization=org, name="staging", is_production=False)
    row = fetchone(
        connection,
        f"SELECT {ENVIRONMENTS.columns('e')} FROM deployments_environment e WHERE e.id = %s",  # noqa: S608
        [env.pk],
    )
    read = ENVIRONMENTS.read(connection, row)

    assert (read.pk, read.public_id, read.name, read.is_production) == (env.pk, env.public_id, "staging", False)
    assert isinstance(read.public_id, uuid.UUID)  # converted on SQLite, where UUIDs are text
    assert read.get_deferred_fields() == {"created_at", "updated_at"}
    with django_assert_num_queries(1):
        assert read.created_at == env.created_at  # loaded on first access, like QuerySet.only()


def test_a_token_read_by_the_fixed_lookup_has_its_organization_and_loads_the_rest_on_demand(org):
    token, clear = issue_token(org, scopes=["read"], name="ci")

    found = token_authenticate(clear)

    assert found.pk == token.pk
    assert found.organization.slug == org.slug
    assert found.scopes == ["read"]  # JSON converted
    assert found.created_at == ApiToken.objects.get(pk=token.pk).created_at  # deferred, then read


def test_a_recorded_deployment_survives_a_round_trip_through_the_orm(org):
    deployment, created = deployment_record(
        organization=org, environment="production", commit_sha="cd" * 20, duration_seconds=90
    )

    assert created
    assert deployment.duration_seconds == 90.0 and isinstance(deployment.duration_seconds, float)
    stored = Deployment.objects.get(pk=deployment.pk)
    for field in Deployment._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(deployment, field.attname), field.attname


def test_instances_are_built_with_the_constructor_when_something_listens_to_its_signals(org):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=DeploymentStatusChange)
    try:
        table = Table(DeploymentStatusChange)  # a new table decides anew
        built = table.new(related={"organization": org}, status="queued", at=datetime(2026, 1, 1, tzinfo=UTC))
    finally:
        post_init.disconnect(receiver, sender=DeploymentStatusChange)

    assert seen == [built]
    assert built.status == "queued" and built._state.adding is True


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_only_the_fixed_statements_are_prepared_and_other_queries_keep_their_own_plans(org):
    if not connection.settings_dict["OPTIONS"].get("server_side_binding"):
        pytest.skip("PREPARED_STATEMENTS=0: nothing is prepared")
    _, clear = issue_token(org, scopes=["read"], name="ci")
    for _ in range(3):
        token_authenticate(clear)
        list(ApiToken.objects.filter(organization=org).values_list("name", flat=True))

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]

    assert any("releasetracker_apitoken t" in s and "token_hash = $1" in s for s in statements), statements
    assert not any('"name"' in s and "token_hash" not in s for s in statements), statements
    assert connection.connection.prepare_threshold is None  # restored after each fixed statement
