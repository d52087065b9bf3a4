"""Registry: versions, aliases, references, promotion following the evidence, audit trail."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner
from test_compare import ALWAYS, N_BOOT, binary_case, make_run

from workbench import compare as cmp
from workbench import registry as reg
from workbench.config import Workspace
from workbench.exceptions import ModelError, RunNotFound
from workbench.store import RunStatus, Store

A, B, C = "20260101-000000-aaaaaa", "20260101-000001-bbbbbb", "20260101-000002-cccccc"
PROMOTE = ["roc_auc delta_ci_low >= 0"]  # the strong model passes, the weak one does not


@pytest.fixture
def runs(workspace: Workspace, store: Store) -> tuple[str, str]:
    """(weak, strong) runs on the same rows."""
    y, weak, strong = binary_case()
    make_run(workspace, store, A, y_true=y, y_score=weak)
    make_run(workspace, store, B, y_true=y, y_score=strong, family="rf")
    return A, B


# -- versions -----------------------------------------------------------------------------------


def test_register_numbers_versions_once_per_run(store: Store, runs: tuple[str, str]) -> None:
    v1 = reg.register_model(store, A)
    v2 = reg.register_model(store, B[:15])  # a unique prefix is enough
    assert (v1.ref, v2.ref) == ("v1", "v2")
    assert reg.register_model(store, A) == v1  # idempotent
    assert v2.family == "rf" and v2.task == "classification" and v2.dataset_fingerprint
    assert v2.model_path.endswith("model.skops") and len(v2.sha256) == 64 and v2.size > 0
    assert v2.metrics["roc_auc"] == {"value": 0.9}
    assert [v.ref for v in reg.list_models(store)] == ["v2", "v1"]
    assert reg.get_version(store, 1).run_id == A
    with pytest.raises(RunNotFound, match="no model version v9; registered versions: v2, v1"):
        reg.get_version(store, 9)


def test_register_refuses_failed_runs_missing_or_tampered_models(
    workspace: Workspace, store: Store
) -> None:
    y, weak, _ = binary_case()
    make_run(workspace, store, A, y_true=y, y_score=weak, status=RunStatus.FAILED)
    with pytest.raises(reg.RegistryError, match=f"run {A} is failed"):
        reg.register_model(store, A)
    make_run(workspace, store, B, y_true=y, y_score=weak)
    (workspace.run_dir(B) / "model.skops").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="no longer matches the sha256"):
        reg.register_model(store, B)
    store.create_run(C, dataset_name="toy", model_family="rf", seed=0, stages=[], params={})
    with pytest.raises(reg.RegistryError, match="has no model"):
        reg.register_model(store, C)


# -- aliases and references ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Champion", "1st", "v2", "V10", "a b", "x" * 65, ""])
def test_bad_alias_names_are_refused(name: str) -> None:
    with pytest.raises(reg.RegistryError, match="alias"):
        reg.check_alias(name)


def test_good_alias_names() -> None:
    for name in ("champion", "challenger", "canary-eu_1", "v", "version2"):
        assert reg.check_alias(name) == name


def test_resolve_ref_accepts_alias_version_and_run_prefix(
    store: Store, runs: tuple[str, str]
) -> None:
    reg.promote(store, B, "champion")
    reg.register_model(store, A)
    assert reg.resolve_ref(store, "champion") == B
    assert reg.resolve_ref(store, "v1") == B and reg.resolve_ref(store, "v2") == A
    assert reg.resolve_ref(store, A) == A and reg.resolve_ref(store, A[:17]) == A
    with pytest.raises(RunNotFound) as e:
        reg.resolve_ref(store, "challenger")
    assert "no run, version or alias 'challenger'; aliases: champion (v1)" in str(e.value)
    with pytest.raises(RunNotFound, match="ambiguous"):
        reg.resolve_ref(store, "2026")
    assert reg.aliases(store)["champion"].run_id == B


# -- promotion ----------------------------------------------------------------------------------


def test_first_holder_needs_no_comparison(store: Store, runs: tuple[str, str]) -> None:
    p = reg.promote(store, A, "champion", actor="ana")
    assert p.changed and p.message == f"champion: (unset) → v1 (run {A})"
    event = p.event
    assert (event.from_version, event.to_version, event.actor, event.forced) == (
        None, 1, "ana", False,
    )  # fmt: skip
    assert event.reason == "first holder of champion"
    again = reg.promote(store, A, "champion")
    assert not again.changed and again.event is None and "already points at v1" in again.message
    assert len(reg.audit_trail(store)) == 1


def test_promotion_without_comparison_says_how_to_fix(store: Store, runs: tuple[str, str]) -> None:
    reg.promote(store, A, "champion")
    with pytest.raises(reg.PromotionRefused) as e:
        reg.promote(store, B, "champion")
    assert f"`workbench compare {B} champion`" in str(e.value)
    assert e.value.exit_code == 1
    assert reg.resolve_ref(store, "champion") == A


def test_promotion_follows_the_latest_comparison(
    workspace: Workspace, store: Store, runs: tuple[str, str]
) -> None:
    reg.promote(store, B, "champion")  # the strong model holds the alias
    held = cmp.compare_runs(workspace, store, A, "champion", gates=PROMOTE, n_boot=N_BOOT)
    assert held.decision == "hold"
    with pytest.raises(reg.PromotionRefused, match=f"comparison {held.id} .* decided hold: gate"):
        reg.promote(store, A, "champion")
    # A newer comparison that says promote (looser gates) lets it through, citing it.
    ok = cmp.compare_runs(workspace, store, A, "champion", gates=ALWAYS, n_boot=N_BOOT)
    p = reg.promote(store, A, "champion", actor="bo")
    assert p.event.comparison_id == ok.id and not p.event.forced
    assert p.event.reason == f"comparison {ok.id} decided promote"
    assert (p.event.from_run, p.event.to_run) == (B, A)
    # The evidence is about the *current* holder: against A nothing has been compared yet.
    with pytest.raises(reg.PromotionRefused, match="no comparison"):
        reg.promote(store, B, "champion")


def test_force_overrides_hold_and_is_recorded(
    workspace: Workspace, store: Store, runs: tuple[str, str]
) -> None:
    reg.promote(store, B, "champion")
    held = cmp.compare_runs(workspace, store, A, "champion", gates=PROMOTE, n_boot=N_BOOT)
    p = reg.promote(store, A, "champion", force=True, reason="business rule", actor="cy")
    assert p.changed and "(forced)" in p.message
    trail = reg.audit_trail(store, alias="champion")
    assert [e.to_dict()["forced"] for e in trail] == [False, True]
    last = trail[-1]
    assert (last.from_version, last.to_version) == (1, 2)
    assert (last.actor, last.reason, last.comparison_id) == ("cy", "business rule", held.id)
    assert reg.audit_trail(store, alias="challenger") == []


def test_audit_trail_is_per_alias_and_chronological(store: Store, runs: tuple[str, str]) -> None:
    reg.promote(store, A, "champion")
    reg.promote(store, B, "challenger")
    reg.promote(store, B, "champion", force=True)
    assert [(e.alias, e.to_run) for e in reg.audit_trail(store)] == [
        ("champion", A), ("challenger", B), ("champion", B),
    ]  # fmt: skip
    assert reg.audit_trail(store)[-1].reason == "forced without a comparison"
    assert [v.aliases for v in reg.list_models(store)] == [("challenger", "champion"), ()]


@pytest.mark.postgres
def test_registry_and_comparisons_on_postgresql(workspace: Workspace, postgres_url: str) -> None:
    from pg import fresh_database

    from workbench.store import open_store

    store = open_store(fresh_database(postgres_url, "registry_contract"))
    y, weak, strong = binary_case()
    make_run(workspace, store, A, y_true=y, y_score=weak)
    make_run(workspace, store, B, y_true=y, y_score=strong)
    reg.promote(store, A, "champion")
    c = cmp.compare_runs(workspace, store, B, "champion", gates=PROMOTE, n_boot=N_BOOT)
    assert c.decision == "promote"
    assert cmp.get_comparison(store, c.id).to_dict() == c.to_dict()
    p = reg.promote(store, B, "champion")
    assert p.event.comparison_id == c.id and reg.resolve_ref(store, "champion") == B
    assert [e.to_version for e in reg.audit_trail(store)] == [1, 2]


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_promote_models_and_audit(
    workspace: Workspace, store: Store, runs: tuple[str, str], cli: click.Group
) -> None:
    w = ["-w", str(workspace.root)]
    invoke = CliRunner().invoke
    assert invoke(cli, ["models", *w]).output.startswith("no model versions yet")
    out = invoke(cli, ["register", A, "--json", *w])
    assert out.exit_code == 0 and json.loads(out.stdout)["ref"] == "v1"
    out = invoke(cli, ["promote", A, "--alias", "champion", *w])
    assert out.exit_code == 0 and "champion: (unset) → v1" in out.output
    refused = invoke(cli, ["promote", B, "--alias", "champion", *w])
    assert refused.exit_code == 1
    assert (
        refused.output.startswith("error: no comparison of run")
        and "Traceback" not in refused.output
    )
    bad = invoke(cli, ["promote", B, "--alias", "Top Model", *w])
    assert bad.exit_code == 2 and "alias 'Top Model' is not a valid name" in bad.output
    forced = invoke(cli, ["promote", B, "--alias", "champion", "--force", "--reason", "hotfix",
                          "--json", *w])  # fmt: skip
    assert forced.exit_code == 0
    assert json.loads(forced.stdout)["event"]["forced"] is True
    models = json.loads(invoke(cli, ["models", "--json", *w]).stdout)
    assert [(m["ref"], m["aliases"]) for m in models] == [("v2", ["champion"]), ("v1", [])]
    audit = json.loads(invoke(cli, ["models", "--audit", "--json", *w]).stdout)
    assert [(e["to_version"], e["forced"], e["reason"]) for e in audit] == [
        (1, False, "first holder of champion"), (2, True, "hotfix"),
    ]  # fmt: skip
    table = invoke(cli, ["models", "--audit", *w]).output
    assert "hotfix" in table and "yes" in table
