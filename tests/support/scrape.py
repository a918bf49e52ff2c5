"""Reading a Prometheus scrape (``GET /metrics``) back into numbers, for the tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Series:
    """Every sample of a scrape, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """A sample's value; 0 for one never counted (Prometheus leaves it out)."""
    return series.get((name, frozenset(labels.items())), 0.0)
