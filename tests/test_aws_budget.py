"""The cloud budget's inputs come from the team configuration wherever it lives: $LABCTL_TEAM,
else the catalog's `team:` section (not only $LABCTL_TEAM)."""

from __future__ import annotations

from pathlib import Path

from labctl import catalog as catalog_mod
from labctl import cost

REPO = Path(__file__).resolve().parents[1]


def test_budget_inputs_from_the_catalogs_team_section(home, monkeypatch, tmp_path):
    monkeypatch.delenv("LABCTL_TEAM", raising=False)
    cat = catalog_mod.load(REPO / "labs.yaml")
    assert cost.budget_inputs("ana@example.com", cat)["monthly_budget_usd"] == 300
    assert cost.budget_inputs("ana@example.com")["monthly_budget_usd"] is None  # no team at all
    team = dict(cat.team, engineers={"ana@example.com": {"monthly_budget_usd": 500}})
    custom = cat.model_copy(update={"team": team})
    assert cost.budget_inputs("ana@example.com", custom)["monthly_budget_usd"] == 500
    assert cost.budget_inputs("bo@example.com", custom)["alert_thresholds"] == [50, 75, 100]
    file = tmp_path / "team.yaml"
    file.write_text("team: {monthly_budget_usd: 120}\n")
    monkeypatch.setenv("LABCTL_TEAM", str(file))  # the team file wins over the catalog's
    assert cost.budget_inputs("ana@example.com", cat)["monthly_budget_usd"] == 120
