#!/usr/bin/env python3
"""Same-run comparison of two `make bench` reports (bench/run.sh with BENCH_BASELINE=<ref>).

usage: bench/compare.py BASELINE.md[,BASELINE2.md] NEW.md[,NEW2.md] [LABEL_BASELINE LABEL_NEW]

Several reports per side (comma-separated: the rounds of an ABBA run) are averaged row by row. Prints one
markdown table, new/baseline per row (throughput of every scenario and concurrency both sides have), then
issue 12's targets: charge, replay and reads >= 90% of the baseline at the focus concurrency,
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
        key = (cells[0], cells[1])
        while key in table:  # the paired runs repeat a scenario name: number the repeats
            key = (key[0] + " (again)", key[1])
        table[key] = dict(zip(header, cells))
    return table


def averaged(paths):
    """The rows of several reports of one side, req/s and p99 averaged; errors summed."""
    tables = [rows(p) for p in paths]
    merged = {}
    for key in tables[0]:
        present = [t[key] for t in tables if key in t]
        row = dict(present[0])
        for column in ("req/s", "p99 ms"):
            values = [number(r.get(column)) for r in present]
            values = [v for v in values if v is not None]
            if values:
                row[column] = f"{sum(values) / len(values):.0f}" if column == "req/s" else f"{sum(values) / len(values):.1f}"
        row["errors"] = str(sum(int(number(r.get("errors")) or 0) for r in present))
        row["runs"] = "/".join(r["req/s"] for r in present)
        merged[key] = row
    return merged


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
    base_paths, new_paths = argv[1].split(","), argv[2].split(",")
    new_path = new_paths[0]
    base_label = argv[3] if len(argv) > 3 else "baseline"
    new_label = argv[4] if len(argv) > 4 else "new"
    base, new = averaged(base_paths), averaged(new_paths)

    order = "baseline, new, new, baseline" if len(base_paths) > 1 and len(new_paths) > 1 else "baseline then new"
    print(f"new = {new_label}, baseline = {base_label}; same machine, one `make bench` run ({order}); "
          f"req/s and p99 are the mean of {len(new_paths)} run(s) per side, each run's req/s in the last column.")
    print()
    header = ["scenario", "clients", "baseline req/s", "new req/s", "new/baseline", "baseline p99 ms", "new p99 ms", "new errors", "runs (baseline; new)"]
    out = [header]
    for key, r in new.items():
        b = base.get(key)
        if b is None:
            continue
        nb, nn = number(b["req/s"]), number(r["req/s"])
        ratio = f"{100 * nn / nb:.0f}%" if nb and nn is not None else "-"
        out.append([key[0], key[1], b["req/s"], r["req/s"], ratio, b.get("p99 ms", "-"), r.get("p99 ms", "-"), r.get("errors", "-"),
                    f"{b['runs']}; {r['runs']}"])
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
        if rate is None:
            print("  [ -- ] rebuild >= 50,000 events/s: not measured in this run")
        else:
            print(f"  [{'PASS' if rate >= 50000 else 'FAIL'}] rebuild >= 50,000 events/s: {rebuild[0]['req/s']} events/s{versus}")
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
