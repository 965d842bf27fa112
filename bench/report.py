#!/usr/bin/env python3
"""report.py OUT [--doc FILE]: the benchmark's table and plots from the
figures bench/run.sh recorded.

Reads OUT/results.tsv (scenario, case, size, tool, metric, rep, value,
method: one measurement a line; a value that is not a number is a failure
or a refusal, quoted as is) and OUT/machine.tsv. Writes OUT/results.md (the
tables: min / median / max over the repetitions and the vmsnap/anchor ratio
of the medians) and, with gnuplot, OUT/time-per-scenario.png,
OUT/cost-vs-ram.png and OUT/cost-vs-count.png (their data beside them as
OUT/*.dat). With --doc, the tables replace the generated section of FILE
(docs/benchmarks.md), between its bench:generated markers.
"""
import collections
import os
import shutil
import subprocess
import sys

SCENARIOS = {
    "1": "Full snapshot of a running guest (most of its memory dirtied)",
    "2": "Revert to a snapshot of a running guest",
    "3": "Disk-only snapshot of a running guest",
    "4": "Delete/merge of an external snapshot",
    "5": "Snapshot metadata at scale",
    "6": "Memory-state files: save, verify, restore",
}
BEGIN = "<!-- bench:generated:begin (bench/run.sh writes this section; edit bench/report.py) -->"
END = "<!-- bench:generated:end -->"


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def load(out):
    rows = []
    path = os.path.join(out, "results.tsv")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            f = line.rstrip("\n").split("\t")
            if len(f) == 8:
                rows.append(f)
    machine = collections.OrderedDict()
    path = os.path.join(out, "machine.tsv")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            k, _, v = line.rstrip("\n").partition("\t")
            machine[k] = v
    return rows, machine


class Figure:
    """The runs of one tool for one (scenario, case, size, metric)."""

    def __init__(self):
        self.values = []
        self.notes = []
        self.method = ""

    def add(self, value, method):
        v = number(value)
        if v is None:
            if value not in self.notes:
                self.notes.append(value)
        else:
            self.values.append(v)
        self.method = method

    def stats(self):
        if not self.values:
            return None
        v = sorted(self.values)
        return v[0], v[(len(v) - 1) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2, v[-1]

    def median(self):
        s = self.stats()
        return s[1] if s else None


def fmt(x):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def group(rows):
    """OrderedDict (scenario, case, size, metric) -> OrderedDict tool -> Figure."""
    groups = collections.OrderedDict()
    for s, case, size, tool, metric, _rep, value, method in rows:
        g = groups.setdefault((s, case, size, metric), collections.OrderedDict())
        g.setdefault(tool, Figure()).add(value, method)
    return groups


def is_vmsnap(tool):
    return tool.startswith("vmsnap") and "own figure" not in tool


def ratios(figs):
    """tool -> ratio text: vmsnap's median over the anchor's."""
    ours = [t for t in figs if is_vmsnap(t)]
    anchors = [t for t in figs if not t.startswith("vmsnap")]
    out = {}
    if len(ours) == 1:
        v = figs[ours[0]].median()
        for a in anchors:
            m = figs[a].median()
            if v is not None and m:
                out[a] = f"{v / m:.2f}"
    elif len(anchors) == 1:
        m = figs[anchors[0]].median()
        for t in ours:
            v = figs[t].median()
            if v is not None and m:
                out[t] = f"{v / m:.2f} (÷ {anchors[0]})"
    return out


def tables(rows, machine):
    lines = []
    m = machine
    lines.append(f"Run: {m.get('date', '?')}; {m.get('cpu', '?')}; {m.get('kernel', '?')}; "
                 f"{m.get('disk', '?')}; {m.get('qemu', '?')}; libvirt {m.get('libvirt', '?')}; "
                 f"{m.get('vmsnap', '?')}; accel: {m.get('accel', '?')}; load at start: "
                 f"{m.get('load', '?')}; {m.get('reps', '?')} repetitions"
                 + (" (smoke run: one repetition, smallest sizes; not figures to quote)"
                    if m.get("smoke") == "1" else "") + ".")
    took = [f"scenario {k.split()[1]}: {v} s" for k, v in m.items() if k.startswith("scenario ")]
    if took:
        lines.append("Wall time of the run per scenario (boots included): " + ", ".join(took) + ".")
    lines.append("")
    lines.append("Figures are min / median / max over the repetitions (n = how many succeeded); "
                 "*vmsnap ÷ tool* is the ratio of the medians (below 1: vmsnap takes less; for "
                 "MB/s, above 1 is faster). A cell that is not a number is the tool's own answer "
                 "(a refusal or an error).")
    groups = group(rows)
    for s in sorted({k[0] for k in groups}):
        lines.append("")
        lines.append(f"### {s}. {SCENARIOS.get(s, '')}")
        lines.append("")
        lines.append("| case | size | metric | tool | min / median / max | n | vmsnap ÷ tool | how measured |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for (gs, case, size, metric), figs in groups.items():
            if gs != s:
                continue
            r = ratios(figs)
            for tool, f in figs.items():
                st = f.stats()
                cell = " / ".join(fmt(x) for x in st) if st else ""
                if f.notes:
                    cell = (cell + "; " if cell else "") + "; ".join(f.notes)
                lines.append(f"| {case} | {size} | {metric} | {tool} | {cell} | {len(f.values)} | "
                             f"{r.get(tool, '—')} | {f.method} |")
    return "\n".join(lines) + "\n"


def gnuplot(out, name, script):
    with open(os.path.join(out, name + ".gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", name + ".gp"], cwd=out, check=True)
    os.unlink(os.path.join(out, name + ".gp"))


def dq(text):
    return '"' + text.replace('"', "'") + '"'


def plot_time_per_scenario(out, groups):
    """Bars: median per tool in each timed case of scenarios 1-4, error bars min-max."""
    cases = sorted(((k, figs) for k, figs in groups.items()
                    if k[0] in "1234" and k[3] in ("total ms", "pause ms")), key=lambda kv: kv[0][0])
    if not cases:
        return False
    tools = []
    for _k, figs in cases:
        for t in figs:
            if figs[t].stats() and t not in tools:
                tools.append(t)
    blocks = {t: [] for t in tools}
    xtics = []
    x = 0.0
    for (s, case, size, metric), figs in cases:
        present = [t for t in figs if figs[t].stats()]
        if not present:
            continue
        start = x
        for t in present:
            lo, med, hi = figs[t].stats()
            blocks[t].append(f"{x:.2f} {max(med, 0.01)} {max(lo, 0.01)} {max(hi, 0.01)}")
            x += 1
        label = f"{s}: {case}, {size}, {metric.replace(' ms', '')}"
        xtics.append(f'{dq(label)} {(start + x - 1) / 2:.2f}')
        x += 1.2
    with open(os.path.join(out, "time-per-scenario.dat"), "w") as f:
        for t in tools:
            f.write(f"# {t}\n" + "\n".join(blocks[t]) + "\n\n\n")
    plots = []
    for i, t in enumerate(tools):
        plots.append(f"'time-per-scenario.dat' index {i} using 1:2 with boxes lc {i + 1} title {dq(t)}")
        plots.append(f"'time-per-scenario.dat' index {i} using 1:2:3:4 with yerrorbars lc rgb 'black' pt -1 notitle")
    gnuplot(out, "time-per-scenario", f"""
set terminal pngcairo size 1400,700 font 'sans,9'
set output 'time-per-scenario.png'
set title 'Time per scenario: median, error bars min-max (ms, log scale; a pause of 0 shows no bar)'
set yrange [1:*]
set logscale y
set ylabel 'ms'
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set key outside right top
set xtics rotate by -35 ({", ".join(xtics)})
set xrange [-1:{x:.2f}]
set bmargin 14
plot {", ".join(plots)}
""")
    return True


def plot_lines(out, name, title, xlabel, series, logx=False, colour_by_what=True):
    """series: list of (title, [(x, lo, med, hi)])."""
    series = [(t, pts) for t, pts in series if pts]
    if not series:
        return False
    with open(os.path.join(out, name + ".dat"), "w") as f:
        for t, pts in series:
            f.write(f"# {t}\n" + "\n".join(f"{x} {med} {lo} {hi}" for x, lo, med, hi in pts) + "\n\n\n")
    # Titles are "TOOL: WHAT". By default one colour per WHAT, solid for
    # vmsnap and dashed for the anchors; else one colour per TOOL, solid
    # for the first WHAT (total) and dashed for the others (pause).
    plots, colours = [], {}
    for i, (t, _pts) in enumerate(series):
        tool, what = t.split(": ", 1)
        if colour_by_what:
            dash = "dt 1" if tool.startswith("vmsnap") else "dt 2"
        else:
            dash = "dt 1" if what == "total" else "dt 2"
            what = tool
        colour = colours.setdefault(what, len(colours) + 1)
        plots.append(f"'{name}.dat' index {i} using 1:2:3:4 with yerrorlines lw 2 {dash} lc {colour} "
                     f"title {dq(t)}")
    xs = sorted({p[0] for _t, pts in series for p in pts})
    gnuplot(out, name, f"""
set terminal pngcairo size 1100,650 font 'sans,9'
set output '{name}.png'
set title {dq(title)}
set logscale y
{"set logscale x" if logx else ""}
set xlabel {dq(xlabel)}
set ylabel 'ms (median, error bars min-max)'
set grid
set key outside right top
set xtics ({", ".join(f'"{x:g}" {x}' for x in xs)})
set offsets graph 0.05, graph 0.05, 0, 0
plot {", ".join(plots)}
""")
    return True


def plot_all(out, rows):
    if not shutil.which("gnuplot"):
        print("report.py: gnuplot not found: no plots (apt-get install gnuplot-nox)", file=sys.stderr)
        return []
    groups = group(rows)
    made = []
    if plot_time_per_scenario(out, groups):
        made.append("time-per-scenario.png")
    # Cost vs guest RAM: scenario 1, per tool and metric.
    series = collections.OrderedDict()
    for (s, case, size, metric), figs in groups.items():
        if s != "1" or metric not in ("total ms", "pause ms"):
            continue
        mib = int(size.split()[0]) * (1024 if "GiB" in size else 1)
        for t, f in figs.items():
            st = f.stats()
            if st:
                series.setdefault(f"{t}: {metric.replace(' ms', '')}", []).append((mib, *st))
    if plot_lines(out, "cost-vs-ram", "Full snapshot of a running guest vs guest RAM",
                  "guest RAM (MiB), most of it dirtied", list(series.items()), colour_by_what=False):
        made.append("cost-vs-ram.png")
    series = collections.OrderedDict()
    for (s, case, size, metric), figs in sorted(groups.items(), key=lambda kv: kv[0][1]):
        if s != "5" or metric != "total ms" or case.startswith("import"):
            continue
        n = int(size.split()[0])
        for t, f in figs.items():
            st = f.stats()
            if st:
                series.setdefault(f"{t}: {case}", []).append((n, *st))
    if plot_lines(out, "cost-vs-count", "Snapshot metadata: one command vs number of snapshots",
                  "snapshots in the domain", list(series.items()), logx=True):
        made.append("cost-vs-count.png")
    return made


def update_doc(doc, out, text, plots):
    rel = os.path.relpath(out, os.path.dirname(doc))
    body = text + "\n" + "".join(f"![{p[:-4]}]({rel}/{p})\n\n" for p in plots)
    body += (f"Raw figures: [`{rel}/results.tsv`]({rel}/results.tsv) (one line per measurement), "
             f"[`{rel}/machine.tsv`]({rel}/machine.tsv); `bench/run.sh --plot-only` "
             f"regenerates this section and the plots from them.\n")
    old = open(doc, encoding="utf-8").read()
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
    else:
        head, tail = old.rstrip("\n") + "\n\n## Generated by `bench/run.sh`\n\n", "\n"
    with open(doc, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n\n" + body + "\n" + END + tail)


def main():
    out = sys.argv[1]
    doc = sys.argv[sys.argv.index("--doc") + 1] if "--doc" in sys.argv else None
    rows, machine = load(out)
    if not rows:
        raise SystemExit(f"report.py: no figures in {out}/results.tsv")
    text = tables(rows, machine)
    with open(os.path.join(out, "results.md"), "w", encoding="utf-8") as f:
        f.write(text)
    plots = plot_all(out, rows)
    if doc:
        update_doc(doc, out, text, plots)
    print(f"report.py: {out}/results.md" + "".join(f", {out}/{p}" for p in plots)
          + (f"; {doc} updated" if doc else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
