"""API plumbing made faster by hand: each shortcut must answer exactly what DRF's own path answers.

Serializer validation (``PrebuiltFieldsMixin`` and its plain-text rules), the hand-written
deployment and release renderings, content negotiation, created answers rendered without DRF's
``Response``, the JSON parser, the sliding-window throttle and the cached detail paths.
"""

import copy
import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from types import SimpleNamespace

import pytest
from django.core.cache import caches
from django.urls import get_script_prefix, reverse, set_script_prefix
from rest_framework import parsers as drf_parsers
from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.renderers import JSONRenderer
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from deployments.selectors import deployment_list
from deployments.serializers import DeploymentCreateSerializer, DeploymentSerializer
from deployments.services import deployment_record, deployment_update
from releases.selectors import release_detail, release_list
from releases.serializers import (
    CommitObjectSerializer,
    CommitSerializer,
    ReleaseCreateSerializer,
    ReleaseSerializer,
)
from releases.services import CommitInput, release_create
from releasetracker.api import throttling
from releasetracker.api.parsers import JSONParser
from releasetracker.api.serializers import (
    PrebuiltFieldsMixin,
    RejectUnknownFieldsMixin,
    _ProhibitSurrogateCharactersValidator,
)
from releasetracker.api.throttling import TokenRateThrottle
from releasetracker.api.viewsets import detail_path
from tests.factories import ReleaseFactory, issue_token

SHA = "abc1234def5678abc1234def5678abc1234def56"


# Serializer validation ---------------------------------------------------------------------


def drf_twin(serializer_class):
    """``serializer_class`` on DRF's plain machinery: the reference the fast path must equal.

    A new class is built from the same declared fields (deep-copied: the twin owns its
    templates) and the same public methods (``validate``) on ``RejectUnknownFieldsMixin`` and
    ``serializers.Serializer`` only. Without ``PrebuiltFieldsMixin`` in its MRO, DRF's own
    ``get_fields`` (a deep copy per instance), ``to_internal_value``, ``_read_only_defaults``
    and ``ProhibitSurrogateCharactersValidator`` run. Subclassing ``serializer_class`` and
    overriding the mixin's methods back would also work, but would silently keep any new
    override the mixin grows; a class that never inherits from it cannot.
    """
    namespace = {name: value for name, value in vars(serializer_class).items() if not name.startswith("_")}
    namespace.update(copy.deepcopy(serializer_class._declared_fields))
    bases = (RejectUnknownFieldsMixin,) if issubclass(serializer_class, RejectUnknownFieldsMixin) else ()
    twin = type(f"Drf{serializer_class.__name__}", (*bases, serializers.Serializer), namespace)
    assert PrebuiltFieldsMixin not in twin.__mro__
    assert list(twin._declared_fields) == list(serializer_class._declared_fields)
    return twin


DrfDeploymentCreateSerializer = drf_twin(DeploymentCreateSerializer)

FULL = {
    "environment": "production",
    "trigger_workflow": True,
    "release": "1.4.0",
    "commit_sha": SHA,
    "project": "api",
    "status": "in_progress",
    "started_at": "2024-05-01T12:00:00.123456+02:00",
    "finished_at": "2024-05-01T10:04:30.5Z",
    "deployed_at": "2024-05-01T06:34:30-03:30",
    "duration_seconds": 270.5,
    "title": "  Deploy 1.4.0  ",
    "changelog": "- Fix login redirect\n- Faster ingest",
    "url": "https://ci.example.com/runs/7",
    "branch": "main",
    "is_fix": True,
    "is_hotfix": "true",
    "is_forced": 1,
    "is_rollback": "false",
    "tags": ["is_fix", " team-a ", ""],
    "triggered_by": "ci",
    "external_id": "run-7",
    "member": "alice",
    "pull_request_number": "7",
    "repository_url": "https://github.com/acme/api",
    "commits_count": 3,
}
MINIMAL = {"environment": "production", "commit_sha": SHA}

VALID_PAYLOADS = {
    "minimal": MINIMAL,
    "every field": FULL,
    "tags as a comma-separated string": {**MINIMAL, "tags": " canary, is_hotfix ,,team-a"},
    "booleans as strings and numbers": {
        **MINIMAL,
        "is_fix": "True",
        "is_hotfix": 0,
        "is_forced": "1",
        "is_rollback": "no",
    },
    "integers and floats as strings": {
        **MINIMAL,
        "pull_request_number": "7",
        "commits_count": 0,
        "duration_seconds": "1.5",
    },
    "null for every nullable field": {
        **MINIMAL,
        "started_at": None,
        "finished_at": None,
        "deployed_at": None,
        "duration_seconds": None,
        "pull_request_number": None,
        "commits_count": None,
    },
    "blank strings where blank is allowed": {**MINIMAL, "release": "", "title": "", "url": "", "project": ""},
    "astral characters": {**MINIMAL, "title": "🚀 ship it", "member": "𝒶𝓁𝒾𝒸ℯ"},
    "a release and no commit": {"environment": "staging", "release": "2.0.0", "status": "failure"},
}
INVALID_PAYLOADS = {
    "an unknown key": {**MINIMAL, "stauts": "failure"},
    "two unknown keys next to an invalid value": {**MINIMAL, "zeta": 1, "alpha": 2, "environment": ""},
    "environment missing": {"commit_sha": SHA},
    "an empty object": {},
    "neither release nor commit_sha (validate)": {"environment": "production"},
    "environment as a list": {**MINIMAL, "environment": ["production"]},
    "tags as an object": {**MINIMAL, "tags": {"a": "b"}},
    "tags as a list of numbers": {**MINIMAL, "tags": [1, 2]},
    "over-long strings": {
        **MINIMAL,
        "environment": "e" * 101,
        "title": "t" * 501,
        "url": "https://x.example/" + "a" * 500,
    },
    "a NUL byte": {**MINIMAL, "title": "a\x00b"},
    "a lone surrogate": {**MINIMAL, "title": "bad \ud800 title"},
    "a NUL byte and a surrogate in one string": {**MINIMAL, "branch": "\x00\udfff"},
    "null for non-nullable fields": {**MINIMAL, "environment": None, "tags": None, "is_fix": None, "status": None},
    "an unknown status": {**MINIMAL, "status": "bogus"},
    "a naive and a malformed time": {**MINIMAL, "started_at": "2024-05-01T12:00:00", "finished_at": "yesterday"},
    "numbers out of range": {**MINIMAL, "pull_request_number": -1, "commits_count": 2**31, "duration_seconds": -0.5},
    "not a number": {**MINIMAL, "pull_request_number": "7.5", "commits_count": True, "duration_seconds": "fast"},
    "a boolean that is not one": {**MINIMAL, "is_fix": "maybe", "trigger_workflow": [True]},
    "a url that is not one": {**MINIMAL, "url": "not a url", "repository_url": "ftp//x"},
    "one bad field among many good ones": {**FULL, "commits_count": "many"},
}
NOT_OBJECTS = {"a list": [MINIMAL], "a string": "environment=production", "a number": 7, "null": None}


def strict(value) -> str:
    """A comparable text that tells 1 from True and 1.0, ErrorDetail codes and tzinfo apart."""
    if isinstance(value, dict):
        return repr(sorted((str(key), strict(item)) for key, item in value.items()))
    if isinstance(value, list):
        return repr([strict(item) for item in value])
    return f"{type(value).__name__}:{value!r}"


def outcome(serializer_class, payload) -> dict:
    serializer = serializer_class(data=copy.deepcopy(payload))
    valid = serializer.is_valid()
    result = {"valid": valid}
    if valid:
        result["validated_data"] = strict(dict(serializer.validated_data))
    else:
        # The messages in DRF's order, their codes via the raised exception's get_codes().
        result["errors"] = json.dumps(serializer.errors)
        result["strict errors"] = strict(dict(serializer.errors))
        with pytest.raises(serializers.ValidationError) as raised:
            serializer_class(data=copy.deepcopy(payload)).is_valid(raise_exception=True)
        result["codes"] = json.dumps(raised.value.get_codes())
    return result


@pytest.mark.parametrize(
    "payload",
    [*VALID_PAYLOADS.values(), *INVALID_PAYLOADS.values(), *NOT_OBJECTS.values()],
    ids=[*VALID_PAYLOADS, *INVALID_PAYLOADS, *NOT_OBJECTS],
)
def test_the_fast_validation_answers_exactly_what_drf_answers(payload):
    fast = outcome(DeploymentCreateSerializer, payload)
    assert fast == outcome(DrfDeploymentCreateSerializer, payload)


COMMIT_PAYLOADS = {
    "a sha": {"sha": SHA},
    "Sentry's id": {"id": SHA, "repository": "acme/api"},
    "every field": {
        "sha": SHA,
        "repository": "acme/api",
        "message": "  Fix login  \n",
        "author_name": "Zoë",
        "author_email": "zoe@example.com",
        "timestamp": "2024-05-01T12:00:00+02:00",
        "pr_number": "7",
    },
    "an unknown key (kept out)": {"sha": SHA, "patch_set": [{"path": "a.py", "type": "M"}]},
    "no sha": {"message": "x"},
    "nulls": {"sha": SHA, "timestamp": None, "pr_number": None, "message": None},
    "wrong types": {"sha": ["x"], "pr_number": "seven", "timestamp": "yesterday"},
    "a NUL byte and a surrogate": {"sha": SHA, "message": "a\x00b", "author_name": "\ud800"},
    "over-long": {"sha": "a" * 65, "author_email": "e" * 255},
}
RELEASE_PAYLOADS = {
    "a version": {"version": "1.0.0"},
    "every field": {
        "version": " 1.0.0 ",
        "projects": ["api", "web"],
        "commits": [SHA, {"sha": SHA[:7], "message": "m"}],
        "name": "One",
        "ref": "main",
        "url": "https://ci.example.com/1",
        "date_released": "2024-05-01T12:00:00Z",
        "refs": [{"repository": "acme/api", "commit": SHA, "previous_commit": None}],
        "trigger_build_workflow": "true",
    },
    "an unknown key": {"version": "1", "dateReleased": "2024-05-01T12:00:00Z"},
    "no version": {"projects": ["api"]},
    "bad nested values": {"version": "1", "commits": [7, {"message": "no sha"}], "refs": [{"commit": SHA}]},
    "projects as a string": {"version": "1", "projects": "api"},
}


@pytest.mark.parametrize(
    "serializer_class, payload",
    [
        *[(CommitObjectSerializer, p) for p in COMMIT_PAYLOADS.values()],
        *[(ReleaseCreateSerializer, p) for p in RELEASE_PAYLOADS.values()],
    ],
    ids=[*(f"commit: {n}" for n in COMMIT_PAYLOADS), *(f"release: {n}" for n in RELEASE_PAYLOADS)],
)
def test_the_release_serializers_validate_exactly_as_drf_does(serializer_class, payload):
    assert outcome(serializer_class, payload) == outcome(drf_twin(serializer_class), payload)


@pytest.mark.parametrize("name", INVALID_PAYLOADS)
def test_the_invalid_payloads_above_are_refused(name):
    # So the equivalence above compares errors for these (the valid ones: see the next tests).
    assert not DeploymentCreateSerializer(data=INVALID_PAYLOADS[name]).is_valid()


def test_the_full_payload_is_validated_into_the_service_arguments():
    serializer = DeploymentCreateSerializer(data=FULL)
    assert serializer.is_valid(), serializer.errors
    data = serializer.validated_data
    assert data["request_workflow"] is True and "trigger_workflow" not in data
    assert data["started_at"] == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert data["deployed_at"] == datetime(2024, 5, 1, 10, 4, 30, tzinfo=UTC)
    assert (data["is_fix"], data["is_hotfix"], data["is_forced"], data["is_rollback"]) == (True, True, True, False)
    assert data["tags"] == ["is_fix", "team-a"]
    assert data["pull_request_number"] == 7 and type(data["pull_request_number"]) is int
    assert data["title"] == "Deploy 1.4.0"


@pytest.fixture
def drf_path_calls(monkeypatch):
    """The serializer classes that validated through DRF's path (the fast path's fallback).

    That path starts at ``RejectUnknownFieldsMixin.to_internal_value`` (the unknown-key check),
    then DRF's ``Serializer.to_internal_value`` (the loop over every writable field).
    """
    calls = []
    original = RejectUnknownFieldsMixin.to_internal_value

    def spy(self, data):
        calls.append(type(self))
        return original(self, data)

    monkeypatch.setattr(RejectUnknownFieldsMixin, "to_internal_value", spy)
    return calls


@pytest.mark.parametrize("name", VALID_PAYLOADS)
def test_a_valid_plain_object_is_validated_without_drfs_path(name, drf_path_calls):
    assert DeploymentCreateSerializer(data=VALID_PAYLOADS[name]).is_valid()
    assert drf_path_calls == []


def test_the_fast_path_leaves_the_validate_hook_to_drf(drf_path_calls):
    # validate() runs after to_internal_value, as in DRF: its error is the same, without DRF's path.
    serializer = DeploymentCreateSerializer(data={"environment": "production"})
    assert not serializer.is_valid()
    assert serializer.errors == {"release": ["send a release version or a commit_sha"]}
    assert drf_path_calls == []


@pytest.mark.parametrize(
    "payload",
    [
        INVALID_PAYLOADS["an unknown key"],
        INVALID_PAYLOADS["environment missing"],
        INVALID_PAYLOADS["a NUL byte"],
        [MINIMAL],
    ],
    ids=["unknown key", "required field missing", "field error", "not an object"],
)
def test_anything_else_goes_through_drfs_path(payload, drf_path_calls):
    assert not DeploymentCreateSerializer(data=payload).is_valid()
    assert drf_path_calls == [DeploymentCreateSerializer]


TEXT_FIELDS = {
    "plain": {},
    "max 5": {"max_length": 5},
    "min 3, max 5": {"min_length": 3, "max_length": 5},
    "blank allowed": {"allow_blank": True, "max_length": 5},
    "not trimmed": {"trim_whitespace": False, "max_length": 5},
    "not trimmed, blank allowed": {"trim_whitespace": False, "allow_blank": True},
}
TEXT_VALUES = [
    "abc",
    " abc ",
    "abcde",
    "abcdef",
    " abcde ",
    "ab",
    "",
    "   ",
    "\t\n",
    "a\x00b",
    "a\ud800b",
    "😀😀",
    "é" * 5,
]


@pytest.mark.parametrize("kwargs", TEXT_FIELDS.values(), ids=TEXT_FIELDS.keys())
@pytest.mark.parametrize("value", TEXT_VALUES)
def test_a_plain_text_field_is_checked_as_drfs_char_field_checks_it(kwargs, value):
    class OneText(PrebuiltFieldsMixin, serializers.Serializer):
        text = serializers.CharField(**kwargs)

    rule = OneText._plan()[3]["text"]
    field = serializers.CharField(**kwargs)
    field.bind("text", serializers.Serializer())
    try:
        expected = field.run_validation(value)
    except serializers.ValidationError:
        expected = None  # refused: the fast check must leave it to the field, for DRF's error
    assert rule.clean(value) == expected
    # And the whole serializer answers as DRF's own does.
    assert outcome(OneText, {"text": value}) == outcome(drf_twin(OneText), {"text": value})


def test_text_fields_with_other_validators_are_left_to_the_field():
    class Special(PrebuiltFieldsMixin, serializers.Serializer):
        slug = serializers.CharField(validators=[lambda value: None])
        email = serializers.EmailField()
        text = serializers.CharField()

    assert set(Special._plan()[3]) == {"text"}


def test_partial_validation_goes_through_drf():
    # No required field and no defaults in a partial validation, as DRF does it.
    for cls in (DeploymentCreateSerializer, DrfDeploymentCreateSerializer):
        serializer = cls(data={"title": "x", "commit_sha": SHA}, partial=True)
        assert serializer.is_valid(), serializer.errors
        assert dict(serializer.validated_data) == {"title": "x", "commit_sha": SHA}


# The surrogate check -----------------------------------------------------------------------


def test_a_lone_surrogate_is_refused_with_drfs_message_and_code():
    serializer = DeploymentCreateSerializer(data={**MINIMAL, "title": "deploy \ud800 now"})
    assert not serializer.is_valid()
    [error] = serializer.errors["title"]
    assert str(error) == "Surrogate characters are not allowed: U+D800."
    assert error.code == "surrogate_characters_not_allowed"


def test_astral_characters_are_accepted():
    serializer = DeploymentCreateSerializer(data={**MINIMAL, "title": "🚀 launch", "branch": "feat/😀", "member": "𝒶"})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data["title"] == "🚀 launch"
    assert serializer.validated_data["branch"] == "feat/😀"


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "",
        "🚀",
        "\ud7ff\ue000\uffff",
        "\ud800",
        "\udbff",
        "\udc00",
        "\udfff",
        "a\udc00b\ud800",
        "\ud83d\ude80",
        42,
    ],
)
def test_the_regex_surrogate_check_answers_like_drfs(value):
    def run(validator):
        try:
            validator(value)
        except serializers.ValidationError as exc:
            return [(str(detail), detail.code) for detail in exc.detail]
        return None

    assert run(_ProhibitSurrogateCharactersValidator()) == run(ProhibitSurrogateCharactersValidator())


def test_every_prebuilt_text_field_uses_the_regex_surrogate_check():
    prebuilt = DeploymentCreateSerializer._prebuilt()
    text_fields = [field for field in prebuilt.values() if isinstance(field, serializers.CharField)]
    assert len(text_fields) >= 10
    for field in text_fields:
        kinds = [type(validator) for validator in field.validators]
        assert ProhibitSurrogateCharactersValidator not in kinds, field
        assert kinds.count(_ProhibitSurrogateCharactersValidator) == 1, field
    # DRF's own fields (the twin's) keep DRF's validator: the twin really is the reference.
    twin_field = DrfDeploymentCreateSerializer().fields["title"]
    assert ProhibitSurrogateCharactersValidator in [type(validator) for validator in twin_field.validators]


def test_a_surrogate_in_a_request_body_is_a_400_naming_the_field(api):
    body = json.dumps({**MINIMAL, "title": "x\ud800"})
    assert body.endswith('"x\\ud800"}')  # the JSON escape: valid UTF-8, a lone surrogate once parsed
    response = api.generic("POST", "/api/v1/deployments/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["fields"] == {"title": ["Surrogate characters are not allowed: U+D800."]}


# Bound state -------------------------------------------------------------------------------


def test_interleaved_serializers_keep_their_own_results():
    first = DeploymentCreateSerializer(data={**MINIMAL, "environment": "staging", "title": "first"})
    second = DeploymentCreateSerializer(data={**MINIMAL, "environment": "production", "tags": "a,b"})
    broken = DeploymentCreateSerializer(data={**MINIMAL, "title": "t" * 501})
    assert second.fields["title"].parent is second  # fields built before anyone validated
    assert first.is_valid()
    assert not broken.is_valid()
    assert second.is_valid()
    third = DeploymentCreateSerializer(data={**MINIMAL, "environment": "qa", "is_fix": True})
    assert third.is_valid()

    assert (first.validated_data["environment"], first.validated_data["title"]) == ("staging", "first")
    assert "tags" not in first.validated_data
    assert (second.validated_data["environment"], second.validated_data["tags"]) == ("production", ["a", "b"])
    assert "title" not in second.validated_data and second.validated_data["is_fix"] is False
    assert (third.validated_data["environment"], third.validated_data["is_fix"]) == ("qa", True)
    assert list(broken.errors) == ["title"]


def test_each_serializer_has_its_own_bound_fields_after_validation():
    declared = list(DeploymentCreateSerializer._declared_fields)
    one = DeploymentCreateSerializer(data=FULL)
    other = DeploymentCreateSerializer(data=MINIMAL)
    assert one.is_valid() and other.is_valid()
    assert list(one.fields) == declared
    assert list(other.fields) == declared
    prebuilt = DeploymentCreateSerializer._prebuilt()
    for name in declared:
        field = one.fields[name]
        assert (field.field_name, field.parent) == (name, one)
        assert other.fields[name].parent is other
        assert field is not other.fields[name] and field is not prebuilt[name]
    assert one.fields["trigger_workflow"].source_attrs == ["request_workflow"]


def test_the_class_level_prebuilt_fields_are_never_bound():
    prebuilt = DeploymentCreateSerializer._prebuilt()
    for payload in [MINIMAL, FULL, INVALID_PAYLOADS["an unknown key"], INVALID_PAYLOADS["a NUL byte"], [MINIMAL]]:
        serializer = DeploymentCreateSerializer(data=payload)
        serializer.is_valid()
        serializer.fields  # noqa: B018 (builds the instance's fields)
    assert DeploymentCreateSerializer._prebuilt() is prebuilt
    assert list(prebuilt) == list(DeploymentCreateSerializer._declared_fields)
    for name, field in prebuilt.items():
        assert field.field_name is None, name
        assert field.parent is None, name
        assert not hasattr(field, "source_attrs"), name
    assert prebuilt["title"].source is None
    assert prebuilt["trigger_workflow"].source == "request_workflow"


# Deployment rendering ----------------------------------------------------------------------


def drf_rendering(instance, serializer_class=DeploymentSerializer) -> dict:
    """DRF's generic rendering of a serializer's declared fields, bypassing its hand-written override."""
    return serializers.ModelSerializer.to_representation(serializer_class(instance), instance)


def assert_rendered_like_drf(instance, serializer_class=DeploymentSerializer) -> dict:
    rendered = serializer_class(instance).data
    reference = drf_rendering(instance, serializer_class)
    assert list(rendered) == serializer_class.Meta.fields
    assert list(reference) == serializer_class.Meta.fields
    assert rendered == reference
    # The bytes a client gets: 90 and 90.0, or True and 1, compare equal in Python, not in JSON.
    assert JSONRenderer().render(rendered) == JSONRenderer().render(reference)
    return rendered


@pytest.fixture
def full_deployment(org):
    ReleaseFactory(organization=org, version="2.1.0")
    started = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    deployment, created = deployment_record(
        organization=org,
        environment="production",
        release="2.1.0",
        commit_sha=SHA,
        project="web",
        status="in_progress",
        started_at=started,
        deployed_at=datetime(2024, 5, 1, 10, 1, 2, 654321, tzinfo=UTC),
        duration_seconds=12.25,
        is_fix=True,
        is_forced=True,
        tags=["canary", "is_hotfix"],
        external_id="run-7",
        pull_request_number=42,
        commits_count=3,
        created_by="token:ci",
        title="Deploy 2.1.0",
        changelog="- Faster ingest",
        url="https://ci.example.com/runs/7",
        branch="main",
        triggered_by="ci",
        member="alice",
        repository_url="https://github.com/acme/web",
    )
    assert created
    return deployment


def test_a_new_deployment_renders_like_drf(full_deployment):
    rendered = assert_rendered_like_drf(full_deployment)
    assert rendered["started_at"] == "2024-05-01T10:00:00.123456Z"
    assert rendered["deployed_at"] == "2024-05-01T10:01:02.654321Z"
    assert (rendered["release"], rendered["project"]) == ("2.1.0", "web")
    assert [change["status"] for change in rendered["status_history"]] == ["in_progress"]


def test_a_fully_populated_deployment_renders_like_drf(org, full_deployment):
    finished = datetime(2024, 5, 1, 10, 30, 0, 999999, tzinfo=UTC)
    updated = deployment_update(organization=org, deployment=full_deployment, status="success", at=finished)
    rendered = assert_rendered_like_drf(updated)
    reread = deployment_list(organization=org).get(pk=full_deployment.pk)
    assert assert_rendered_like_drf(reread) == rendered
    # Every field is set: nothing in the comparison is a pair of Nones.
    assert all(value not in (None, "", []) for value in rendered.values()), rendered
    assert rendered["finished_at"] == "2024-05-01T10:30:00.999999Z"
    assert rendered["duration_seconds"] == pytest.approx(1800.876543)
    assert [change["status"] for change in rendered["status_history"]] == ["in_progress", "success"]
    assert rendered["status_history"][1]["at"] == "2024-05-01T10:30:00.999999Z"
    flags = [rendered[name] for name in ("is_fix", "is_hotfix", "is_forced", "is_rollback")]
    assert flags == [True, True, True, False]  # is_hotfix from its tag


def test_a_minimal_deployment_renders_like_drf(org):
    deployment, _ = deployment_record(organization=org, environment="staging", commit_sha=SHA[:12])
    rendered = assert_rendered_like_drf(deployment)
    reread = deployment_list(organization=org).get(pk=deployment.pk)
    assert assert_rendered_like_drf(reread) == rendered
    assert rendered["release"] is None and rendered["release_id"] is None and rendered["project"] is None
    assert rendered["started_at"] is None and rendered["duration_seconds"] is None
    assert rendered["pull_request_number"] is None and rendered["commits_count"] is None
    assert rendered["tags"] == [] and rendered["is_production"] is False


def test_a_deployment_recorded_with_a_whole_number_duration_renders_like_drf(org):
    # The API's FloatField hands the service a float; a direct caller may pass an int, kept as
    # it is on the new row the create answers with (a row read back from the database is a float).
    deployment, _ = deployment_record(organization=org, environment="staging", commit_sha=SHA, duration_seconds=90)
    assert_rendered_like_drf(deployment)


def test_a_deployment_listed_through_the_api_renders_like_drf(api, org, full_deployment):
    response = api.get("/api/v1/deployments/")
    assert response.status_code == 200
    [listed] = response.json()["results"]
    reread = deployment_list(organization=org).get(pk=full_deployment.pk)
    assert listed == json.loads(JSONRenderer().render(drf_rendering(reread)))


# Release rendering -------------------------------------------------------------------------


def assert_release_rendered_like_drf(release) -> dict:
    return assert_rendered_like_drf(release, ReleaseSerializer)


@pytest.fixture
def full_release(org):
    release, created = release_create(
        organization=org,
        version="3.0.0",
        projects=["web", "api", "Zeta"],
        commits=[CommitInput(sha=SHA, message="Faster")],
        name="Three",
        ref="v3.0.0",
        url="https://ci.example.com/releases/3",
        date_released=datetime(2024, 6, 1, 9, 30, 0, 250000, tzinfo=timezone(timedelta(hours=-4))),
        status="success",
        created_by="token:ci",
        loaded=True,
    )
    assert created
    return release


def test_a_new_release_renders_like_drf(full_release):
    rendered = assert_release_rendered_like_drf(full_release)
    assert rendered["projects"] == ["Zeta", "api", "web"]  # by code point, as sorted() orders them
    assert rendered["date_released"] == "2024-06-01T13:30:00.250000Z"
    assert rendered["commit_count"] == 1


def test_a_listed_release_renders_like_drf(org, full_release):
    reread = release_list(organization=org).get(pk=full_release.pk)
    rendered = assert_release_rendered_like_drf(reread)
    assert all(value not in (None, "", []) for value in rendered.values()), rendered
    assert rendered == assert_release_rendered_like_drf(full_release)


def test_a_minimal_release_renders_like_drf(org):
    release, _ = release_create(organization=org, version="0.0.1")
    rendered = assert_release_rendered_like_drf(release_list(organization=org).get(pk=release.pk))
    assert rendered["projects"] == [] and rendered["date_released"] is None and rendered["commit_count"] == 0


def test_releases_listed_through_the_api_render_like_drf(api, org, full_release):
    release_create(organization=org, version="0.0.1")
    response = api.get("/api/v1/releases/")
    assert response.status_code == 200
    listed = response.json()["results"]
    assert [item["version"] for item in listed] == ["0.0.1", "3.0.0"]
    reread = release_list(organization=org)
    assert listed == [json.loads(JSONRenderer().render(drf_rendering(r, ReleaseSerializer))) for r in reread]


def test_the_release_list_reads_projects_in_one_query_whatever_the_page_size(api, org, django_assert_num_queries):
    for index in range(3):
        release_create(organization=org, version=f"1.0.{index}", projects=["web", f"p{index}"])
    api.get("/api/v1/releases/")  # the token's first use also records its last-used time
    with django_assert_num_queries(3):  # the token, the page, the page's projects
        response = api.get("/api/v1/releases/")
    assert [item["projects"] for item in response.json()["results"]] == [["p2", "web"], ["p1", "web"], ["p0", "web"]]


def test_commits_render_like_drf(org):
    stamp = datetime(2024, 6, 1, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    release, _ = release_create(
        organization=org,
        version="4.0.0",
        commits=[
            CommitInput(
                sha=SHA,
                repository="acme/web",
                message="Faster\n\nBody",
                author_name="Ada",
                author_email="ada@example.com",
                timestamp=stamp,
                pr_number=7,
            ),
            CommitInput(sha=SHA[:9].replace("a", "f")),
        ],
    )
    reread = release_detail(organization=org).get(pk=release.pk)
    full, bare = [assert_rendered_like_drf(link.commit, CommitSerializer) for link in reread.release_commits.all()]
    assert all(value not in (None, "") for value in full.values()), full
    assert (full["repository"], full["timestamp"], full["pr_number"]) == ("acme/web", "2024-06-01T02:30:00.000005Z", 7)
    assert (bare["repository"], bare["timestamp"], bare["pr_number"]) == (None, None, None)


def test_a_release_detail_through_the_api_lists_its_commits_as_drf_renders_them(api, org):
    release, _ = release_create(
        organization=org, version="4.1.0", commits=[CommitInput(sha=SHA, repository="acme/web", pr_number=3)]
    )
    response = api.get(f"/api/v1/releases/{release.public_id}/")
    assert response.status_code == 200
    [commit] = response.json()["commits"]
    link = release_detail(organization=org).get(pk=release.pk).release_commits.get()
    assert commit == json.loads(JSONRenderer().render(drf_rendering(link.commit, CommitSerializer)))


# Content negotiation -----------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", " application/json ", "application/*"])
def test_plain_json_accept_values_get_json(api, accept):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    response = api.get("/api/v1/releases/", **headers)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json()["results"] == []


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "text/csv, application/xml;q=0.9"])
def test_an_accept_value_the_api_cannot_satisfy_is_a_406_in_the_error_shape(api, accept):
    response = api.get("/api/v1/releases/", HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "not_acceptable"
    assert isinstance(body["error"], str) and body["error"]
    assert set(body) == {"error", "code"}


def test_a_json_accept_with_parameters_goes_through_drfs_negotiation(api):
    # DRF's negotiation keeps the indent parameter and the renderer honours it.
    response = api.get("/api/v1/releases/", HTTP_ACCEPT="application/json; indent=4")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert b'\n    "results": []' in response.content


def test_a_format_override_goes_through_drfs_negotiation(api):
    assert api.get("/api/v1/releases/?format=json").status_code == 200
    assert api.get("/api/v1/releases/?format=xml").status_code == 404


# Created answers -----------------------------------------------------------------------------


def without_ids(body: dict) -> dict:
    return {key: value for key, value in body.items() if key not in ("id", "name", "created_at", "updated_at")}


def test_a_create_rendered_directly_answers_as_drfs_response_does(api):
    # Without an Idempotency-Key the answer is rendered in created_response; with one, DRF's
    # Response renders it (the key's store reads response.data). Both must look the same.
    direct = api.post("/api/v1/environments/", {"name": "direct"}, format="json")
    drf = api.post("/api/v1/environments/", {"name": "drf"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert direct.status_code == drf.status_code == 201
    assert type(direct).__name__ == "HttpResponse" and type(drf).__name__ == "Response"
    assert set(direct.headers) == set(drf.headers)
    for header in ("Content-Type", "Allow", "X-Content-Type-Options", "X-Frame-Options"):
        assert direct[header] == drf[header], header
    assert direct["Location"] == f"/api/v1/environments/{direct.json()['id']}/"
    assert without_ids(direct.json()) == without_ids(drf.json())
    assert direct.content == json.dumps(direct.json(), separators=(",", ":"), ensure_ascii=False).encode()


def test_a_repeat_of_a_create_is_a_303_rendered_the_same_way(api):
    first = api.post("/api/v1/environments/", {"name": "again"}, format="json")
    again = api.post("/api/v1/environments/", {"name": "again"}, format="json")

    assert (first.status_code, again.status_code) == (201, 303)
    assert again["Location"] == first["Location"]
    assert again.json() == first.json()


def test_a_create_asked_for_indented_json_gets_it(api):
    response = api.post(
        "/api/v1/environments/", {"name": "indented"}, format="json", HTTP_ACCEPT="application/json; indent=2"
    )
    assert response.status_code == 201
    assert response["Content-Type"] == "application/json"
    assert b'\n  "name": "indented"' in response.content


# JSON parser -------------------------------------------------------------------------------


def post_raw(client, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", "/api/v1/deployments/", body, content_type=content_type)


def assert_malformed_json(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "malformed_request"
    assert body["error"].startswith("body: JSON parse error - "), body
    return body


@pytest.mark.parametrize("raw", [b'{"environment": ', b"{'environment': 'production'}", b'{"a": 1} trailing', b"{,}"])
def test_invalid_json_is_a_400_naming_json(api, raw):
    assert_malformed_json(post_raw(api, raw))


@pytest.mark.parametrize("raw", [b"\xff\xfe", b'{"environment": "\xe9t\xe9"}', b'{"title": "\xed\xa0\x80"}'])
def test_a_body_that_is_not_utf8_is_a_400_not_a_500(api, raw):
    body = assert_malformed_json(post_raw(api, raw))
    assert "utf-8" in body["error"]


def test_a_body_in_the_charset_it_names_is_read_in_that_charset(api):
    raw = json.dumps({"environment": "pré-prod", "commit_sha": SHA}, ensure_ascii=False).encode("latin-1")
    response = post_raw(api, raw, content_type="application/json; charset=latin-1")
    assert response.status_code == 201, response.content
    assert response.json()["environment"] == "pré-prod"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_as_drfs_strict_json_does(api, literal):
    # STRICT_JSON is DRF's default (True) here: NaN and the infinities are not JSON.
    assert JSONParser.strict is True
    raw = json.dumps(MINIMAL)[:-1].encode() + b', "duration_seconds": ' + literal.encode() + b"}"
    body = assert_malformed_json(post_raw(api, raw))
    assert literal in body["error"]


def test_non_finite_numbers_parse_when_strict_json_is_off(monkeypatch):
    monkeypatch.setattr(JSONParser, "strict", False)
    parsed = JSONParser().parse(BytesIO(b'{"a": NaN, "b": -Infinity}'))
    assert math.isnan(parsed["a"]) and parsed["b"] == -math.inf


def test_input_nested_too_deeply_is_a_400(api):
    body = assert_malformed_json(post_raw(api, b"[" * 100_000))
    assert body["error"] == "body: JSON parse error - nested too deeply"


@pytest.mark.parametrize(
    "raw, charset",
    [
        (b'{"environment": "production", "tags": ["a", "b"], "n": 1.5e3, "x": null}', None),
        ('{"é": "☃ 🚀"}'.encode(), None),
        (b'"\\ud800"', None),
        (b"[]", None),
        (b"", None),
        (b" ", None),
        (b'{"environment": ', None),
        (b"\xff\xfe", None),
        (b"\xef\xbb\xbf{}", None),
        (b'{"a": NaN}', None),
        (b'{"a": 1} {"b": 2}', None),
        (json.dumps({"env": "pré"}, ensure_ascii=False).encode("latin-1"), "latin-1"),
        (json.dumps({"env": "pré"}).encode("utf-16"), "utf-16"),
        (b"{}", "no-such-charset"),
        (b"{}", "bz2_codec"),
    ],
)
def test_the_json_parser_answers_like_drfs(raw, charset):
    context = {} if charset is None else {"encoding": charset}

    def run(parser):
        try:
            return "parsed", parser.parse(BytesIO(raw), "application/json", dict(context))
        except ParseError as exc:
            return "refused", str(exc.detail)

    assert run(JSONParser()) == run(drf_parsers.JSONParser())


# Rate limits: the sliding window -----------------------------------------------------------

RATE_CACHE = "test-api-plumbing-rate-limits"
WINDOW_START = 1_700_000_040.0  # a multiple of 60: t=0 opens a one-minute window


class FakeClock:
    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now

    def at(self, seconds: float) -> "FakeClock":
        """Seconds since the first window opened."""
        self.now = WINDOW_START + seconds
        return self


@pytest.fixture
def clock(monkeypatch):
    # The throttle module calls time.time(); it gets this clock as its ``time`` (the real time
    # module, which the cache and everything else keep using, is left alone).
    fake = FakeClock(WINDOW_START)
    monkeypatch.setattr(throttling, "time", fake)
    return fake


@pytest.fixture
def ten_a_minute(settings):
    """Ten requests a minute per token, counted in a local-memory cache of this module's own."""
    settings.CACHES = {
        **settings.CACHES,
        RATE_CACHE: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": RATE_CACHE},
    }
    settings.RATE_LIMIT_CACHE = RATE_CACHE
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "10/min", "anon": "10/min"},
    }
    caches[RATE_CACHE].clear()
    yield
    caches[RATE_CACHE].clear()


@pytest.fixture
def token(org):
    return issue_token(org, name="throttled")[0]


def attempt(token) -> tuple[bool, TokenRateThrottle]:
    """One request as DRF makes it: a new throttle per request, the request authenticated by ``token``."""
    throttle = TokenRateThrottle()
    return throttle.allow_request(SimpleNamespace(auth=token, META={}), None), throttle


def allowed(token) -> bool:
    return attempt(token)[0]


def spend_the_first_window(clock, token) -> None:
    """Ten requests at t=0..9s: the whole budget of the first window."""
    for second in range(10):
        clock.at(second)
        assert allowed(token), f"request at t={second}s"


def test_ten_requests_in_a_minute_pass_and_the_eleventh_is_refused(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(10)
    assert not allowed(token)
    clock.at(59.9)
    assert not allowed(token)  # refused requests are not counted, but the window is still full


def test_at_the_start_of_the_next_window_the_previous_one_still_weighs_almost_all(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    # At 60.5s the previous window weighs 59.5/60: an estimate of 9.92, so one request passes
    # (a fixed window would let ten through), and then the estimate is 10.92.
    clock.at(60.5)
    assert allowed(token)
    assert not allowed(token)
    clock.at(61)
    assert not allowed(token)


def test_half_way_through_the_next_window_half_of_the_previous_one_counts(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(90)  # the previous ten weigh 5
    assert [allowed(token) for _ in range(6)] == [True] * 5 + [False]


def test_two_windows_later_the_first_one_counts_no_more(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(120)
    assert [allowed(token) for _ in range(11)] == [True] * 10 + [False]


@pytest.mark.parametrize("refused_at, spent_before", [(10, 0), (75, 3), (90, 5), (119, 10)])
def test_wait_is_between_one_second_and_two_windows_and_a_request_passes_just_after_it(
    ten_a_minute, clock, token, refused_at, spent_before
):
    spend_the_first_window(clock, token)
    clock.at(refused_at)
    for _ in range(spent_before):
        assert allowed(token)
    ok, throttle = attempt(token)
    assert not ok
    wait = throttle.wait()
    assert 1 <= wait <= 120
    clock.at(refused_at + wait + 0.001)
    assert allowed(token)


def test_wait_after_spending_a_whole_window_is_the_rest_of_that_window(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(10)
    ok, throttle = attempt(token)
    assert not ok
    # The rest of the window, and a moment more: at the boundary itself the estimate is still 10.
    assert 50 < throttle.wait() <= 50.01
    clock.at(59.999)
    assert not allowed(token)


def test_after_sleeping_what_wait_says_a_request_passes(ten_a_minute, clock, token):
    spend_the_first_window(clock, token)
    clock.at(10)
    ok, throttle = attempt(token)
    assert not ok
    clock.at(10 + throttle.wait())  # 60.0: the previous ten still weigh 60/60
    assert allowed(token)


def test_each_token_has_its_own_window(ten_a_minute, clock, org, other_org, token):
    second = issue_token(org, name="second")[0]
    foreign = issue_token(other_org, name="foreign")[0]
    spend_the_first_window(clock, token)
    assert not allowed(token)
    assert [allowed(second) for _ in range(11)] == [True] * 10 + [False]
    assert allowed(foreign)
    clock.at(90)
    assert [allowed(token) for _ in range(6)] == [True] * 5 + [False]
    assert [allowed(second) for _ in range(6)] == [True] * 5 + [False]


def test_the_api_answers_429_with_the_throttles_wait(ten_a_minute, clock, api):
    for second in range(10):
        clock.at(second)
        assert api.get("/api/v1/releases/").status_code == 200
    clock.at(10)
    response = api.get("/api/v1/releases/")
    assert response.status_code == 429
    assert response["Retry-After"] == "51"  # the 50 s left in the window, rounded up past the boundary
    assert response.json()["code"] == "throttled"
    clock.at(90)
    assert [api.get("/api/v1/releases/").status_code for _ in range(6)] == [200] * 5 + [429]


# Detail paths ------------------------------------------------------------------------------

IDS = [uuid.UUID(int=0), uuid.UUID("12345678-1234-5678-1234-567812345678"), uuid.uuid4(), str(uuid.uuid4())]
URL_NAMES = ["api:deployment-detail", "api:environment-detail", "api:release-detail", "api:webhook-detail"]


@pytest.fixture
def restore_script_prefix():
    previous = get_script_prefix()
    yield
    set_script_prefix(previous)


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_detail_path_is_what_reverse_answers(url_name, restore_script_prefix):
    set_script_prefix("/")
    for public_id in IDS:
        assert detail_path(url_name, public_id) == reverse(url_name, kwargs={"id": public_id})
    assert detail_path(url_name, IDS[1]).endswith(f"/{IDS[1]}/")


@pytest.mark.parametrize("url_name", URL_NAMES)
def test_detail_path_follows_the_script_prefix(url_name, restore_script_prefix):
    set_script_prefix("/")
    plain = detail_path(url_name, IDS[1])  # cached for "/" first
    set_script_prefix("/tracker/")
    for public_id in IDS:
        expected = reverse(url_name, kwargs={"id": public_id})
        assert expected.startswith("/tracker/api/v1/")
        assert detail_path(url_name, public_id) == expected
    set_script_prefix("/")
    assert detail_path(url_name, IDS[1]) == plain == reverse(url_name, kwargs={"id": IDS[1]})
    assert not plain.startswith("/tracker/")


def test_the_location_of_a_create_honours_the_script_prefix(api, restore_script_prefix):
    # Django's WSGI handler sets the prefix from SCRIPT_NAME for each request; the test client
    # does not, so the test sets it as the handler would for SCRIPT_NAME=/tracker.
    body = {"environment": "production", "commit_sha": SHA}
    set_script_prefix("/")
    first = api.post("/api/v1/deployments/", body, format="json")
    assert first["Location"] == f"/api/v1/deployments/{first.json()['id']}/"
    set_script_prefix("/tracker/")
    second = api.post("/api/v1/deployments/", body, format="json", SCRIPT_NAME="/tracker")
    assert second.status_code == 201
    assert second["Location"] == f"/tracker/api/v1/deployments/{second.json()['id']}/"
