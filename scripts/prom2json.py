#!/usr/bin/python3
"""Parses a Prometheus text exposition (stdin) with the Prometheus client library's own parser and prints it as JSON:
{"families": [{"name", "type", "help", "samples": [{"name", "labels", "value"}]}]}. Exit 2, with the parser's words,
if the text is not valid exposition. The metrics specs read /metrics through this rather than by string matching.
Needs python3-prometheus-client, for Debian's own python3 (/usr/bin/python3, whatever python3 is first on PATH):
scripts/observability.sh ensure."""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families

text = sys.stdin.read()
try:
    families = [
        {
            "name": f.name,
            "type": f.type,
            "help": f.documentation,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": None if math.isnan(s.value) else s.value}
                for s in f.samples
            ],
        }
        for f in text_string_to_metric_families(text)
    ]
except Exception as e:  # the parser raises ValueError and friends on malformed lines
    print(f"not valid Prometheus exposition: {e}", file=sys.stderr)
    sys.exit(2)
json.dump({"families": families}, sys.stdout)
