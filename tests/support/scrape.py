"""Reads a Prometheus endpoint as Prometheus would: GET /metrics, parsed by the client
library's own text parser."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families


class Sample(dict):
    """{(name, ((label, value), ...)): value} of one scrape."""

    def get_value(self, name: str, **labels: str) -> float:
        """A sample's value; 0 for one not (yet) exported."""
        return self.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(port: int, timeout: float = 30) -> Sample:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as answer:
        text = answer.read().decode()
    sample = Sample()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            sample[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return sample
