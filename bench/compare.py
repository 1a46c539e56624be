#!/usr/bin/env python3
"""Same-run comparison of two `make bench` reports (bench/run.sh with BENCH_BASELINE=<ref>).

usage: bench/compare.py BASELINE.md NEW.md [LABEL_BASELINE LABEL_NEW]

Prints one markdown table, new/baseline per row (throughput of every scenario and concurrency both reports
have), then issue 12's targets: charge, replay and reads >= 90% of the baseline at the focus concurrency,
rebuild >= 50,000 events/s, host peak RSS < 300 MB, no errors, start-up to ready < 3 s.
"""
import re
import sys


def rows(path):
    """(scenario, clients) -> the table's cells, from the report's one markdown table."""
    table = {}
    header = None
    for line in open(path, encoding="utf-8"):
        if not line.startswith("| "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        table[(cells[0], cells[1])] = dict(zip(header, cells))
    return table


def target_line(path, prefix):
    for line in open(path, encoding="utf-8"):
        if prefix in line:
            return line.strip()
    return None


def number(text):
    m = re.search(r"[-\d,.]+", text or "")
    return float(m.group(0).replace(",", "")) if m and m.group(0) not in "-,." else None


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    base_path, new_path = argv[1], argv[2]
    base_label = argv[3] if len(argv) > 3 else "baseline"
    new_label = argv[4] if len(argv) > 4 else "new"
    base, new = rows(base_path), rows(new_path)

    print(f"new = {new_label}, baseline = {base_label}; same machine, one after the other in one `make bench` run.")
    print()
    header = ["scenario", "clients", "baseline req/s", "new req/s", "new/baseline", "baseline p99 ms", "new p99 ms", "new errors"]
    out = [header]
    for key, r in new.items():
        b = base.get(key)
        if b is None:
            continue
        nb, nn = number(b["req/s"]), number(r["req/s"])
        ratio = f"{100 * nn / nb:.0f}%" if nb and nn is not None else "-"
        out.append([key[0], key[1], b["req/s"], r["req/s"], ratio, b.get("p99 ms", "-"), r.get("p99 ms", "-"), r.get("errors", "-")])
    widths = [max(len(row[i]) for row in out) for i in range(len(header))]
    fmt = lambda row: "| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)) + " |"
    print(fmt(out[0]))
    print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")
    for row in out[1:]:
        print(fmt(row))

    print()
    print("Targets (issue 12):")
    focus = None
    for (scenario, clients) in new:
        if scenario.startswith("replay"):
            focus = clients

    def ratio_target(prefix, what):
        keys = [k for k in new if k[0].startswith(prefix) and (focus is None or k[1] == focus)]
        if not keys or keys[0] not in base:
            print(f"  [ -- ] {what} >= 90% of the baseline: not measured in both runs")
            return
        k = keys[0]
        nb, nn = number(base[k]["req/s"]), number(new[k]["req/s"])
        share = nn / nb if nb else 0
        print(f"  [{'PASS' if share >= 0.9 else 'FAIL'}] {what} >= 90% of the baseline at {k[1]} clients: "
              f"{100 * share:.0f}% ({nn:.0f}/s vs {nb:.0f}/s)")

    ratio_target("charge, 1 merchant", "charge, one merchant")
    many = [k for k in new if re.match(r"charge, \d+ merchants", k[0]) and (focus is None or k[1] == focus)]
    if many:
        ratio_target(many[0][0], many[0][0])
    ratio_target("replay", "replay")
    ratio_target("read: GET /v1/payments/{id}", "GET one payment")
    ratio_target("read: GET /v1/payments?limit", "GET a list")
    rebuild = [r for k, r in new.items() if k[0].startswith("rebuild")]
    if rebuild:
        rate = number(rebuild[0]["req/s"])
        base_rebuild = [r for k, r in base.items() if k[0].startswith("rebuild")]
        versus = f" (baseline {base_rebuild[0]['req/s']}/s)" if base_rebuild else ""
        print(f"  [{'PASS' if rate and rate >= 50000 else 'FAIL'}] rebuild >= 50,000 events/s: {rebuild[0]['req/s']} events/s{versus}")
    rss = target_line(new_path, "host peak RSS < 300 MB")
    if rss:
        print("  " + rss)
    errors = sum(int(number(r.get("errors", "0")) or 0) for r in new.values())
    print(f"  [{'PASS' if errors == 0 else 'FAIL'}] no errors in any run: {errors} errors")
    startup = target_line(new_path, "start-up to ready")
    if startup:
        print("  " + startup)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
