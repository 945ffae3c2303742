"""Which custom resources the local cloud creates at start, and in which order: the
template's, as CloudFormation would create them."""

from __future__ import annotations

from pathlib import Path

from localcloud.provision import in_dependency_order
from localcloud.template import load_template

ROOT = Path(__file__).resolve().parents[2]


def test_the_migrations_come_first_and_the_demo_products_only_when_asked_for() -> None:
    # GIVEN the project's template, loaded with and without the demo products
    with_demo = load_template(ROOT / "template.yaml", {"SeedDemoProducts": "true"})
    without = load_template(ROOT / "template.yaml", {})
    # WHEN the local cloud orders their custom resources
    ordered = [(r.name, r.function) for r in in_dependency_order(with_demo.custom_resources)]
    # THEN the migrations run first, then the seeds, each by the function the template names
    assert ordered[0] == ("Migrations", "MigrateFunction")
    assert set(ordered[1:]) == {
        ("SeedAdmin", "AuthFunction"),
        ("DemoProducts", "InventoryFunction"),
    }
    # AND the demo products' condition is honoured
    assert [r.name for r in without.custom_resources] == ["Migrations", "SeedAdmin"]
