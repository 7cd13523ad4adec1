"""The valid fixture loads into the IR the runtime executes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from engine.definitions import (
    CheckReport,
    check_paths,
    default_workflows_dir,
    load_workflow,
    load_workflows,
    schema_path,
)
from engine.definitions.model import (
    PREVIOUS_STATE,
    CatchUp,
    Duration,
    Model,
    Phase,
    TimerKind,
)
from engine.errors import DefinitionError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VALID = FIXTURES / "valid"
REFERRAL = VALID / "referral.yaml"


@pytest.fixture(scope="module")
def referral():
    return load_workflow(REFERRAL)


def test_identity_and_settings(referral):
    assert referral.key == ("referral", 1)
    assert referral.model is Model.BROKERAGE
    assert referral.initial == "referred"
    assert referral.timezone == "America/Chicago"
    assert (referral.calendar.country, referral.calendar.subdivision) == ("US", "TX")
    assert referral.parameters == {
        "first_contact_days": 3,
        "assessment_deadline": "P14D",
        "max_attempts": 3,
    }


def test_fragment_states_and_roles_are_merged(referral):
    assert list(referral.states)[-3:] == ["closing", "closed", "closed_unable_to_contact"]
    assert "records_clerk" in referral.roles
    assert referral.states["closing"].on_enter == ("send_closure_letter",)
    assert referral.states["closing"].location.file.endswith("fragments/closure.yaml")
    assert referral.final_states == ("closed", "closed_unable_to_contact")


def test_shared_transitions_follow_each_states_own(referral):
    events = [t.event for t in referral.transitions_from("referred")]
    assert events == [
        "first_contact_made",
        "contact_failed",
        "first_contact_overdue",
        "first_contact_overdue",
        "put_on_hold",
        "withdraw",
    ]


def test_shared_from_open_respects_except_and_finals(referral):
    sources = [t.source for t in referral.transitions if t.event == "put_on_hold"]
    assert sources == ["referred", "assessing", "planning", "delivering", "monitoring"]


def test_shared_from_phases_selects_non_final_states_of_those_phases(referral):
    sources = [t.source for t in referral.transitions if t.event == "withdraw"]
    assert sources == ["referred", "assessing", "planning", "delivering", "monitoring", "on_hold"]


def test_internal_transition_has_no_target(referral):
    (failed,) = [t for t in referral.transitions if t.event == "contact_failed"]
    assert failed.target is None
    assert failed.internal
    assert failed.sets == (("contact_attempts", "case.contact_attempts + 1"),)


def test_writes_list_becomes_pairs(referral):
    (done,) = [t for t in referral.transitions if t.event == "assessment_completed"]
    assert done.writes == (("risk_level", "risk_level"),)
    assert done.payload_schema["required"] == ["risk_level"]


def test_previous_target_is_kept(referral):
    (resume,) = referral.transitions_from("on_hold")[:1]
    assert resume.target == PREVIOUS_STATE
    assert resume.returns_to_previous
    assert referral.states["on_hold"].hold


def test_timers_resolve_parameters(referral):
    (first,) = referral.timers_of("referred")
    assert (first.kind, first.business_days) == (TimerKind.BUSINESS_DAYS, 3)
    (assess,) = referral.timers_of("assessing")
    assert assess.kind is TimerKind.AFTER
    assert assess.after == Duration(text="P14D", days=14)
    assert assess.pausable
    cadence, follow_up = referral.timers_of("monitoring")
    assert (cadence.kind, cadence.every.days, cadence.catch_up) == (
        TimerKind.EVERY,
        7,
        CatchUp.ONCE,
    )
    assert (follow_up.kind, follow_up.at, follow_up.offset.days) == (
        TimerKind.AT,
        "case.discharge_date",
        30,
    )


def test_locations_point_at_the_definition(referral):
    state = referral.states["referred"]
    assert (state.location.line, state.location.column) == (39, 3)
    assert str(state.location) == f"{REFERRAL}:39:3"
    first = referral.transitions_from("referred")[0]
    assert (first.location.line, first.location.column) == (47, 9)


def test_source_text_and_hash_cover_the_fragments(referral):
    main = REFERRAL.read_text()
    assert referral.source_text.startswith(main)
    assert "\n---\n# fragment: " in referral.source_text
    assert referral.source_text.endswith((VALID / "fragments" / "closure.yaml").read_text())
    digest = hashlib.sha256(referral.source_text.encode()).hexdigest()
    assert referral.content_hash == digest
    assert referral.source_path == str(REFERRAL)


def test_phases_are_enums(referral):
    assert referral.states["delivering"].phase is Phase.SERVICE_DELIVERY


def test_changing_a_fragment_changes_the_hash(tmp_path: Path, referral):
    copy = tmp_path / "valid"
    shutil.copytree(VALID, copy)
    frag = copy / "fragments" / "closure.yaml"
    frag.write_text(frag.read_text().replace("Case closed.", "Case closed for good."))
    assert load_workflow(copy / "referral.yaml").content_hash != referral.content_hash


def test_folder_check_skips_fragments_as_workflows():
    report = check_paths([VALID])
    assert isinstance(report, CheckReport)
    assert report.ok
    assert not report.diagnostics
    assert [d.name for d in report.definitions] == ["items_demo", "referral"]
    assert len(report.files) == 3


def test_load_workflows_returns_every_definition():
    assert [d.key for d in load_workflows([VALID])] == [("items_demo", 1), ("referral", 1)]


def test_fragment_alone_is_not_a_workflow():
    with pytest.raises(DefinitionError) as info:
        load_workflow(VALID / "fragments" / "closure.yaml")
    assert info.value.diagnostics[0].code == "not-a-workflow"


def test_same_name_and_version_twice_is_an_error(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "a")
    shutil.copy(REFERRAL, tmp_path / "a" / "copy.yaml")
    report = check_paths([tmp_path / "a"])
    (dup,) = report.diagnostics
    assert (dup.code, dup.json_path, dup.line) == ("duplicate-workflow", "$.name", 2)
    assert sorted(d.name for d in report.definitions) == ["items_demo", "referral"]
    with pytest.raises(DefinitionError):
        load_workflows([tmp_path / "a"])


def test_role_defined_in_workflow_and_fragment_names_both_places(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    main = tmp_path / "v" / "referral.yaml"
    main.write_text(
        main.read_text().replace(
            "roles:\n  case_manager:",
            "roles:\n  records_clerk:\n    description: X.\n  case_manager:",
        )
    )
    (diag,) = check_paths([main]).diagnostics
    assert diag.code == "duplicate-role"
    assert diag.file.endswith("fragments/closure.yaml")
    assert diag.hint == f"first defined at {main}:34:3"


def test_check_paths_never_raises_for_a_mix_of_good_and_bad(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    report = check_paths([VALID, bad])
    assert not report.ok
    assert [d.code for d in report.errors] == ["yaml-syntax"]
    assert [d.name for d in report.definitions] == ["items_demo", "referral"]


def test_schema_and_workflow_dirs_exist():
    assert schema_path().is_file()
    assert schema_path().name == "workflow.schema.json"
    assert default_workflows_dir().is_dir()


def test_definition_error_message_lists_every_error(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    bad = tmp_path / "v" / "referral.yaml"
    bad.write_text(REFERRAL.read_text().replace("target: assessing", "target: asessing", 1))
    with pytest.raises(DefinitionError) as info:
        load_workflow(bad)
    assert f"{bad}:48:17: $.states.referred.transitions[0].target: unknown target state " in (
        info.value.message
    )


def test_a_file_named_twice_is_checked_once():
    report = check_paths([VALID, REFERRAL])
    assert report.ok
    assert [d.name for d in report.definitions] == ["items_demo", "referral"]
    assert len(report.files) == 3


def _copy_with(tmp_path: Path, old: str, new: str) -> Path:
    shutil.copytree(VALID, tmp_path / "v")
    main = tmp_path / "v" / "referral.yaml"
    text = main.read_text()
    assert old in text
    main.write_text(text.replace(old, new, 1))
    return main


def test_unknown_holiday_calendar_is_located(tmp_path: Path):
    main = _copy_with(tmp_path, "  country: US\n", "  country: ZZ\n")
    (diag,) = check_paths([main]).diagnostics
    assert (diag.code, diag.json_path, diag.line) == ("invalid-calendar", "$.calendar.country", 9)
    assert diag.message == "no holiday calendar is known for country 'ZZ'"


def test_unknown_holiday_subdivision_is_located(tmp_path: Path):
    main = _copy_with(tmp_path, "  subdivision: TX\n", "  subdivision: QQ\n")
    (diag,) = check_paths([main]).diagnostics
    assert (diag.code, diag.json_path, diag.line) == (
        "invalid-calendar",
        "$.calendar.subdivision",
        10,
    )


def test_including_a_workflow_instead_of_a_fragment_is_an_error(tmp_path: Path):
    main = _copy_with(tmp_path, "  - fragments/closure.yaml\n", "  - referral.yaml\n")
    codes = [d.code for d in check_paths([main]).errors]
    assert "include-not-fragment" in codes


def test_error_inside_a_fragment_is_reported_once_for_a_folder(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    shutil.copy(tmp_path / "v" / "referral.yaml", tmp_path / "v" / "second.yaml")
    second = tmp_path / "v" / "second.yaml"
    second.write_text(second.read_text().replace("name: referral", "name: second"))
    frag = tmp_path / "v" / "fragments" / "closure.yaml"
    frag.write_text(frag.read_text().replace("final: true", "final: yes", 1))
    report = check_paths([tmp_path / "v"])
    wrong = [d for d in report.errors if d.code == "wrong-type"]
    assert len(wrong) == 1
    assert wrong[0].file == str(frag)
    assert wrong[0].message == "expected true/false, found string"


def test_unchanged_files_give_the_same_definition_object(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    main = tmp_path / "v" / "referral.yaml"
    first = load_workflow(main)
    assert load_workflow(main) is first


def test_editing_a_fragment_is_seen_immediately(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    main = tmp_path / "v" / "referral.yaml"
    frag = tmp_path / "v" / "fragments" / "closure.yaml"
    first = load_workflow(main)
    frag.write_text(frag.read_text().replace("Case closed.", "Case shut.!"))  # same length
    second = load_workflow(main)
    assert second is not first
    assert second.states["closed"].description == "Case shut.!"


def test_a_missing_include_appearing_is_seen(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    main = tmp_path / "v" / "referral.yaml"
    frag = tmp_path / "v" / "fragments" / "closure.yaml"
    saved = frag.read_text()
    frag.unlink()
    assert not check_paths([main]).ok
    frag.write_text(saved)
    assert check_paths([main]).ok


def test_cached_diagnostics_cannot_be_changed_by_callers(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    first = check_paths([bad]).diagnostics
    assert check_paths([bad]).diagnostics == first


def test_bad_shared_from_is_not_followed_by_graph_consequences(tmp_path: Path):
    main = _copy_with(tmp_path, "    from: open\n", "    from: opn\n")
    assert [(d.code, d.json_path) for d in check_paths([main]).diagnostics] == [
        ("invalid-value", "$.shared_transitions[0].from")
    ]


def test_malformed_duration_is_reported_once(tmp_path: Path):
    main = _copy_with(tmp_path, "        every: P7D\n", "        every: 7 days\n")
    (diag,) = check_paths([main]).diagnostics
    assert (diag.code, diag.json_path) == ("invalid-value", "$.states.monitoring.timers[0].every")
    assert "ISO 8601 duration" in diag.message


def test_zero_duration_literal_is_reported_by_the_checker(tmp_path: Path):
    main = _copy_with(tmp_path, "        every: P7D\n", "        every: P0D\n")
    (diag,) = check_paths([main]).diagnostics
    assert (diag.code, diag.json_path) == (
        "invalid-duration",
        "$.states.monitoring.timers[0].every",
    )


def test_type_list_message_reads_naturally(tmp_path: Path):
    main = _copy_with(tmp_path, "    value: 3\n", "    value: [3]\n")
    messages = [d.message for d in check_paths([main]).diagnostics if d.code == "wrong-type"]
    assert messages == ["expected a string, a number or true/false, found list"]


def test_a_lone_path_is_accepted_where_a_list_is_expected():
    assert [d.key for d in load_workflows(str(VALID))] == [("items_demo", 1), ("referral", 1)]
    assert check_paths(VALID).ok


def test_content_hash_does_not_depend_on_how_the_path_was_written(monkeypatch):
    absolute = load_workflow(REFERRAL)
    monkeypatch.chdir(VALID.parent)
    relative = load_workflow("valid/referral.yaml")
    assert relative.source_path == "valid/referral.yaml"
    assert relative.content_hash == absolute.content_hash
    assert "\n---\n# fragment: fragments/closure.yaml\n" in relative.source_text


def test_windows_line_ends_and_bom_do_not_change_the_definition(tmp_path: Path):
    shutil.copytree(VALID, tmp_path / "v")
    main = tmp_path / "v" / "referral.yaml"
    main.write_bytes(b"\xef\xbb\xbf" + main.read_bytes().replace(b"\n", b"\r\n"))
    crlf = load_workflow(main)
    plain = load_workflow(REFERRAL)
    assert crlf.content_hash == plain.content_hash
    assert crlf.states["referred"].location.line == plain.states["referred"].location.line
