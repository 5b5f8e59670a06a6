import { beforeAll, describe, expect, it } from "vitest";
import {
  createSealer,
  type Finding,
  InvalidArgumentError,
  MemoryLedger,
  type ReconcileReport,
  type RenderOptions,
  type RepairResult,
  reconcile,
  renderReport,
} from "../../src/index.js";
import { formatDuration } from "../../src/reconcile/render.js";
import { createManualClock, createMemorySink } from "../../src/testing/index.js";
import { catchError } from "../helpers.js";
import { scenario, sinkOf, XSS } from "./render-scenario.js";

let report: ReconcileReport;
let repaired: RepairResult;
beforeAll(async () => {
  ({ report, repaired } = await scenario());
});

/** The cells of a Markdown table row, split at unescaped pipes. */
function cells(line: string): string[] {
  return line
    .replace(/^\|/, "")
    .replace(/\|$/, "")
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

function tableLines(markdown: string): string[] {
  return markdown.split("\n").filter((l) => l.startsWith("|"));
}

/** Every table's rows have as many cells as its header. */
function expectTablesIntact(markdown: string): void {
  const lines = markdown.split("\n");
  let width: number | undefined;
  for (const line of lines) {
    if (!line.startsWith("|")) {
      width = undefined;
      continue;
    }
    expect(line.endsWith("|"), line).toBe(true);
    const n = cells(line).length;
    width ??= n;
    expect(n, line).toBe(width);
  }
}

describe("the scenario", () => {
  it("has every kind of finding the renderers must show", () => {
    const obs = sinkOf(report, "obs");
    expect(obs.basis).toBe("observed");
    for (const kind of [
      "missing-late",
      "missing-lost",
      "mismatched",
      "duplicate",
      "unexpected",
    ] as const) {
      expect(obs.counts[kind], kind).toBeGreaterThan(0);
    }
    expect(obs.frozen).toBeDefined();
    expect(obs.findings.some((f) => (f.paths?.length ?? 0) > 0)).toBe(true);
    expect(sinkOf(report, "dig").basis).toBe("digest");
    expect(sinkOf(report, "rec").basis).toBe("receipts");
    expect(sinkOf(report, "broken").error).toBeDefined();
    expect(repaired.actions.some((a) => a.status === "done")).toBe(true);
    expect(repaired.unresolved.map((u) => u.key)).toContain("orphan");
  });
});

describe("renderReport json", () => {
  it("parses back to the report alone when no repair is given", () => {
    const text = renderReport(report, { format: "json" });
    expect(text).toBe(JSON.stringify({ report }, null, 2));
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(["report"]);
    expect(parsed).toEqual({ report });
  });

  it("parses back to the report and the repair", () => {
    const text = renderReport(report, { format: "json", repair: repaired, topFindings: 1 });
    expect(text).toBe(JSON.stringify({ report, repair: repaired }, null, 2));
    expect(JSON.parse(text)).toEqual({ report, repair: repaired });
  });
});

describe("renderReport markdown", () => {
  const md = () => renderReport(report, { format: "markdown" });

  it("starts with the title and the verdict line", () => {
    const lines = md().split("\n");
    expect(lines[0]).toBe("# sinkproof consistency report");
    expect(lines[2]).toBe(
      `**Verdict: inconsistent (${report.sinks.filter((s) => !s.consistent).length} of 5 sinks).** ` +
        `ledger positions 1 to 201 (201 entries), generated ${report.generatedAt}, took ${formatDuration(report.durationMs)}.`,
    );
    expect(renderReport(report, { format: "markdown", title: "Nightly *check*" })).toMatch(
      /^# Nightly \\\*check\\\*\n/,
    );
  });

  it("has one summary row per sink with the exact counts", () => {
    const rows = tableLines(md());
    expect(cells(rows[0] ?? "")).toEqual([
      "sink",
      "basis",
      "verdict",
      "matched",
      "late",
      "lost",
      "mismatched",
      "duplicate",
      "unexpected",
      "contradicted",
      "window",
    ]);
    for (const s of report.sinks) {
      const row = rows.find((l) => l.startsWith(`| \`${s.name}\` | ${s.basis} |`));
      expect(row, s.name).toBeDefined();
      const c = cells(row ?? "");
      const verdict =
        s.error !== undefined ? "unreadable" : s.consistent ? "consistent" : "inconsistent";
      expect(c[2]).toBe(s.frozen === undefined ? verdict : `${verdict}, frozen`);
      expect(c.slice(3, 10).map(Number)).toEqual([
        s.counts.matched,
        s.counts["missing-late"],
        s.counts["missing-lost"],
        s.counts.mismatched,
        s.counts.duplicate,
        s.counts.unexpected,
        s.contradicted,
      ]);
    }
    const obs = sinkOf(report, "obs");
    const obsRow = rows.find((l) => l.startsWith("| `obs` |")) ?? "";
    // A sink with lost, altered and extra rows differs; it is not merely behind.
    expect(cells(obsRow)[10]).toBe(
      `matches up to position ${obs.window.position}; first entry not matched at ${obs.window.position + 1}, ${formatDuration(obs.window.behindMs)} old`,
    );
    expect(rows.find((l) => l.startsWith("| `rec` |"))).toContain("up to date (position 201)");
  });

  it("says when a sink is judged from receipts only", () => {
    expect(md()).toContain(
      "> **Receipt-based:** `rec` is judged from receipts only: weaker, since a receipt says what was written, not what is still there.",
    );
    expect(md()).not.toContain("**Receipt-based:** `obs`");
  });

  it("lists read errors, frozen reasons and digest statistics", () => {
    const text = md();
    expect(text).toContain("### Sink read errors");
    expect(text).toContain(
      "- `broken`: `sink_read_failed` disk \\| on fire; its counts are partial.",
    );
    expect(text).toContain("### Frozen");
    expect(text).toContain(`- \`obs\`: guard frozen: ${sinkOf(report, "obs").frozen}\n`);
    const digest = sinkOf(report, "dig").digest;
    expect(digest).toBeDefined();
    expect(text).toContain(
      `| \`dig\` | ${digest?.buckets} | ${digest?.differing} | ${digest?.rowsRead} |`,
    );
  });

  it("shows the findings with keys, checksums, differing paths, ages and contradicting receipts", () => {
    const text = md();
    const obs = sinkOf(report, "obs");
    const mismatched = obs.findings.find((f) => f.kind === "mismatched" && f.paths !== undefined);
    expect(mismatched).toBeDefined();
    const row = tableLines(text).find((l) => l.includes(`\`${mismatched?.key}\``)) ?? "";
    expect(cells(row)).toEqual([
      "mismatched (payload differs)",
      `\`${mismatched?.key}\``,
      String(mismatched?.position),
      `\`${mismatched?.expected}\``,
      `\`${mismatched?.observed}\``,
      // At each differing path, what the ledger holds and what the sink holds.
      (mismatched?.differences ?? [])
        .map((d) => `\`${d.path}\`: \`${d.expected}\` → \`${d.observed}\``)
        .join("; "),
      "",
      "",
    ]);
    expect(mismatched?.differences?.map((d) => d.path)).toEqual(mismatched?.paths);
    expect(mismatched?.differences?.length).toBeGreaterThan(0);
    const lost = obs.findings.find((f) => f.kind === "missing-lost" && f.receipt !== undefined);
    const lostRow = tableLines(text).find((l) => l.includes(`\`${lost?.key}\``)) ?? "";
    expect(cells(lostRow).slice(6)).toEqual(["2 min 0 s", `says ${lost?.receipt}`]);
    const dup = obs.findings.find((f) => f.kind === "duplicate");
    expect(text).toContain(`| duplicate (${dup?.count} copies) | \`${dup?.key}\` |`);
  });

  it("escapes pipes, backticks and newlines in keys and paths so tables never break", () => {
    // A real unexpected key with `|` and a backtick; and, edited in, one with a newline and
    // a path with a pipe (reconcile cannot produce those: see the note in the final report).
    const text = md();
    expect(text).toContain("| unexpected | ``we\\|ird`key`` |");
    expectTablesIntact(text);
    const edited: ReconcileReport = {
      ...report,
      sinks: report.sinks.map((s) =>
        s.name !== "obs"
          ? s
          : {
              ...s,
              findings: [
                ...s.findings,
                { kind: "unexpected", sink: "obs", key: "we|ird\nkey", count: 1 },
                // No ledger checksum: not a finding reconcile makes, but one the renderer must draw.
                {
                  kind: "mismatched",
                  sink: "obs",
                  key: "`tick",
                  position: 1,
                  paths: ['$["a|b"]', "$.line\r\nbreak"],
                } as unknown as Finding,
              ],
            },
      ),
    };
    const out = renderReport(edited, { format: "markdown", topFindings: 1000 });
    expect(out).toContain("| unexpected | `we\\|ird\\nkey` |");
    expect(out).toContain(
      '| mismatched | `` `tick `` | 1 |   |   | `$["a\\|b"]`, `$.line\\r\\nbreak` |',
    );
    expect(out).not.toContain("we|ird\nkey");
    expectTablesIntact(out);
  });

  it("shows the top findings, late entries last, and counts the rest", () => {
    const obs = sinkOf(report, "obs");
    const total = obs.findings.length;
    const text = renderReport(report, { format: "markdown", topFindings: 3 });
    const section = text.slice(text.indexOf("### `obs`"), text.indexOf("### `dig`"));
    expect(section).toContain(`${total} findings, 3 shown.`);
    expect(section).toContain(`… and ${total - 3} more findings`);
    expect(tableLines(section)).toHaveLength(2 + 3);
    const all = renderReport(report, { format: "markdown", topFindings: 1000 });
    const full = all.slice(all.indexOf("### `obs`"), all.indexOf("### `dig`"));
    const kinds = tableLines(full)
      .slice(2)
      .map((l) => cells(l)[0]);
    expect(kinds).toHaveLength(total);
    expect(kinds.at(-1)).toBe("missing-late");
    expect(full).not.toContain("more findings");
    const none = renderReport(report, { format: "markdown", topFindings: 0 });
    expect(none).toContain(`… and ${total} more findings`);
    expect(tableLines(none.slice(none.indexOf("## Findings")))).toEqual([]);
  });

  it("includes the repair log when given", () => {
    expect(md()).not.toContain("## Repair");
    const text = renderReport(report, { format: "markdown", repair: repaired });
    expect(text).toContain("## Repair");
    for (const s of repaired.sinks) {
      expect(text).toContain(
        `| \`${s.name}\` | ${s.planned} | ${s.done} | ${s.failed} | ${s.flagged} | ${s.alreadyResolved} | ${s.deferred} | ${s.converged ? "yes" : "no"} | ${s.unfrozen ? "yes" : "no"} |`,
      );
    }
    const done = repaired.actions.find(
      (a) => a.status === "done" && a.sink === "obs" && a.position !== undefined,
    );
    expect(done).toBeDefined();
    const row = tableLines(text).find((l) => l.startsWith(`| ${done?.action} | \`${done?.key}\``));
    expect(cells(row ?? "")).toEqual([
      done?.action,
      `\`${done?.key}\``,
      done?.position === undefined ? "" : String(done.position),
      done?.finding,
      done?.receipt === undefined ? "done" : `done (${done.receipt})`,
      String(done?.audit),
      "",
    ]);
    expect(text).toContain("### Unresolved");
    const orphan = repaired.unresolved.find((u) => u.key === "orphan");
    expect(text).toContain(`| \`orphan\` | unexpected | ${orphan?.reason} |`);
    expectTablesIntact(text);
  });

  it("marks a dry run", async () => {
    const dry: RepairResult = { ...repaired, dryRun: true };
    expect(renderReport(report, { format: "markdown", repair: dry })).toContain(
      "## Repair (dry run: nothing executed)",
    );
  });
});

describe("renderReport html", () => {
  const html = (options: Partial<RenderOptions> = {}) =>
    renderReport(report, { format: "html", ...options });

  it("after a repair, opens with what the repair came to, then the report's verdict before it", () => {
    for (const converged of [true, false]) {
      const result: RepairResult = { ...repaired, converged };
      const page = html({ repair: result });
      const headline = page.indexOf('class="headline"');
      const before = page.indexOf("before repair:");
      expect(headline).toBeGreaterThan(0);
      expect(before).toBeGreaterThan(headline);
      const first = page.slice(headline, before);
      expect(first).toContain(
        converged
          ? '<span class="badge good">converged</span>'
          : '<span class="badge bad">not converged</span>',
      );
      const md = renderReport(report, { format: "markdown", repair: result });
      expect(
        md.indexOf(converged ? "**Repair: converged.**" : "**Repair: not converged.**"),
      ).toBeLessThan(md.indexOf("**Verdict before repair:"));
    }
    expect(html()).not.toContain("before repair");
    // It claims no more than the result says: a dry run, a truncated report.
    const dry = renderReport(report, { format: "markdown", repair: { ...repaired, dryRun: true } });
    expect(dry).toContain("**Repair: dry run.** nothing was changed:");
    const partial = renderReport(report, {
      format: "markdown",
      repair: { ...repaired, converged: true, remaining: true },
    });
    expect(partial).toContain("so more remain: reconcile and repair again");
    expect(partial).not.toContain("every finding fixed");
  });

  it("wraps long keys where it must, and never breaks a sink name or a short token mid-word", () => {
    const page = html();
    expect(page).not.toContain("word-break:break-all");
    expect(page).toContain("overflow-wrap:anywhere");
    expect(page).toContain("h2 code,td code{overflow-wrap:normal;white-space:nowrap}");
    expect(page).not.toMatch(/max-width:1100px/);
  });

  it("is one valid, self-contained HTML5 file", () => {
    const page = html({ repair: repaired });
    expect(
      page.startsWith('<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">'),
    ).toBe(true);
    expect(page).toContain("<title>sinkproof consistency report</title>");
    expect(page).toContain("<style>");
    expect(page.trimEnd().endsWith("</html>")).toBe(true);
    for (const forbidden of [
      "http://",
      "https://",
      "src=",
      "<link",
      "<script",
      "url(",
      "@import",
    ]) {
      expect(page, forbidden).not.toContain(forbidden);
    }
    expect(page.match(/<svg/g)).toHaveLength(report.sinks.length);
    expect(page.match(/<\/svg>/g)).toHaveLength(report.sinks.length);
  });

  it("escapes every string taken from the report and the options", () => {
    const page = html({ repair: repaired, title: `<b>"T" & 'x'</b>` });
    expect(page).toContain("&lt;img onerror=x&gt;");
    expect(page).not.toContain(XSS);
    expect(page).not.toContain("<img");
    expect(page).toContain("<title>&lt;b&gt;&quot;T&quot; &amp; &#39;x&#39;&lt;/b&gt;</title>");
    expect(page).toContain("<code>we|ird`key</code>");
    expect(page).toContain("disk | on\\nfire");
  });

  it("draws a stacked bar per sink: proportional, zero segments left out, small ones visible", () => {
    const page = html();
    const bars = [...page.matchAll(/<svg[^>]*>([\s\S]*?)<\/svg>/g)].map((m) => m[1] ?? "");
    expect(bars).toHaveLength(report.sinks.length);
    report.sinks.forEach((s, i) => {
      const rects = [...(bars[i] ?? "").matchAll(/<rect x="([\d.]+)" y="0" width="([\d.]+)"/g)];
      const counts = [
        s.counts.matched,
        s.counts["missing-late"],
        s.counts["missing-lost"],
        s.counts.mismatched,
        s.counts.duplicate,
        s.counts.unexpected,
      ];
      const nonzero = counts.filter((c) => c > 0);
      expect(rects, s.name).toHaveLength(Math.max(1, nonzero.length));
      const widths = rects.map((r) => Number(r[2]));
      expect(widths.reduce((a, w) => a + w, 0)).toBeCloseTo(600, 1);
      for (const w of widths) expect(w).toBeGreaterThanOrEqual(4);
      if (nonzero.length > 0) {
        // The widest segment is the largest count.
        const widest = widths.indexOf(Math.max(...widths));
        expect(nonzero[widest]).toBe(Math.max(...nonzero));
      }
    });
    const obs = sinkOf(report, "obs");
    expect(page).toContain(`<title>lost: ${obs.counts["missing-lost"]} (`);
    expect(page).toContain(`late <b>${obs.counts["missing-late"]}</b>`);
    // A sink with nothing to compare still gets its (grey) bar.
    expect(bars[report.sinks.findIndex((s) => s.name === "broken")]).toContain(
      "nothing to compare",
    );
  });

  it("shows window, basis, verdict, findings and differing paths per sink", () => {
    const page = html();
    const obs = sinkOf(report, "obs");
    const section = page.slice(page.indexOf('<section class="sink" id="sink-0">'));
    expect(section).toContain('<span class="badge info">observed</span>');
    expect(section).toContain('<span class="badge bad">inconsistent</span>');
    expect(section).toContain(`<dt>consistent to position</dt><dd>${obs.window.position}</dd>`);
    expect(section).toContain(
      `<dt>first entry not matched at</dt><dd>${obs.window.position + 1}</dd>`,
    );
    expect(section).toContain(
      `<dt>first unmatched entry age</dt><dd>${formatDuration(obs.window.behindMs)}</dd>`,
    );
    expect(section.slice(0, section.indexOf("</section>"))).not.toContain("<dt>behind</dt>");
    const mismatched = obs.findings.find((f) => f.paths !== undefined);
    for (const path of mismatched?.paths ?? []) expect(section).toContain(`<code>${path}</code>`);
    expect(page).toContain('<span class="badge warn">receipts</span>');
    expect(page).toContain("<b>Receipt-based:</b>");
    const top = html({ topFindings: 2 });
    expect(top).toContain(`… and ${obs.findings.length - 2} more findings`);
  });

  it("shows the repair actions when given", () => {
    expect(html()).not.toContain("Repair");
    const page = html({ repair: repaired });
    expect(page).toContain('<section class="repair">');
    const done = repaired.actions.find((a) => a.status === "done" && a.position !== undefined);
    expect(page).toContain(`<td>${done?.action}</td><td><code>${done?.key}</code></td>`);
    expect(page).toContain('<span class="status s-flagged">flagged</span>');
    expect(page).toContain("<h3>Unresolved</h3>");
    expect(page).toContain("<code>orphan</code>");
  });
});

describe("renderReport", () => {
  it("renders the same input to the same text", () => {
    for (const format of ["json", "markdown", "html"] as const) {
      expect(renderReport(report, { format, repair: repaired })).toBe(
        renderReport(report, { format, repair: repaired }),
      );
    }
  });

  it("renders an empty report", async () => {
    const ledger = new MemoryLedger();
    const empty = await reconcile({ ledger, sinks: [], clock: () => 0 });
    expect(renderReport(empty, { format: "markdown" })).toContain("No sinks were reconciled.");
    expect(renderReport(empty, { format: "markdown" })).toContain("no ledger entries");
    expect(renderReport(empty, { format: "html" })).not.toContain("<svg");
  });

  it("rejects bad input with an InvalidArgumentError naming the argument", () => {
    const cases: Array<[() => unknown, string]> = [
      [() => renderReport(null as never, { format: "json" }), "report"],
      [() => renderReport({} as never, { format: "json" }), "report.range"],
      [() => renderReport({ ...report, sinks: "x" } as never, { format: "json" }), "report.sinks"],
      [
        () =>
          renderReport({ ...report, sinks: [{ ...report.sinks[0], findings: [null] }] } as never, {
            format: "markdown",
          }),
        "report.sinks[0].findings[0]",
      ],
      [
        () =>
          renderReport(
            {
              ...report,
              sinks: [
                { ...report.sinks[0], findings: [{ kind: "mismatched", key: "k", paths: "abc" }] },
              ],
            } as never,
            { format: "html" },
          ),
        "report.sinks[0].findings[0].paths",
      ],
      [
        () => renderReport({ ...report, sinks: [null] } as never, { format: "html" }),
        "report.sinks[0]",
      ],
      [() => renderReport(report, null as never), "options"],
      [() => renderReport(report, {} as never), "options.format"],
      [() => renderReport(report, { format: "pdf" } as never), "options.format"],
      [() => renderReport(report, { format: "markdown", topFindings: -1 }), "options.topFindings"],
      [() => renderReport(report, { format: "markdown", topFindings: 1.5 }), "options.topFindings"],
      [
        () => renderReport(report, { format: "html", topFindings: Number.NaN }),
        "options.topFindings",
      ],
      [
        () => renderReport(report, { format: "html", topFindings: "3" as never }),
        "options.topFindings",
      ],
      [() => renderReport(report, { format: "html", title: 3 as never }), "options.title"],
      [
        () => renderReport(report, { format: "html", repair: {} as never }),
        "options.repair.actions",
      ],
      [() => renderReport(report, { format: "html", repair: null as never }), "options.repair"],
      [
        () =>
          renderReport(report, {
            format: "html",
            repair: { actions: [null], sinks: [], unresolved: [] } as never,
          }),
        "options.repair.actions[0]",
      ],
    ];
    for (const [fn, path] of cases) {
      const error = catchError(fn);
      expect(error, path).toBeInstanceOf(InvalidArgumentError);
      expect(error.path, path).toBe(path);
    }
  });
});

describe("formatDuration", () => {
  it("writes durations the way people read them", () => {
    expect(formatDuration(0)).toBe("0 ms");
    expect(formatDuration(0.2)).toBe("<1 ms");
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(999.6)).toBe("1.0 s");
    expect(formatDuration(12_300)).toBe("12.3 s");
    expect(formatDuration(59_960)).toBe("1 min 0 s");
    expect(formatDuration(245_000)).toBe("4 min 5 s");
    expect(formatDuration(7_380_000)).toBe("2 h 3 min");
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe("3 d 4 h");
    expect(formatDuration(-5)).toBe("0 ms");
    expect(formatDuration(Number.NaN)).toBe("n/a");
  });
});

describe("the consistency window in words", () => {
  it("a sink missing only late entries is behind; one with any other finding differs", async () => {
    const clock = createManualClock();
    const ledger = new MemoryLedger({ clock: clock.now });
    const seal = createSealer({ clock: clock.now });
    const envelopes = [1, 2, 3].map((seq) =>
      seal({ producer: "p", seq, type: "t", schema: { name: "s", version: 1 }, payload: { seq } }),
    );
    await ledger.append(envelopes);
    const lagging = createMemorySink({ name: "lagging", ledger });
    await lagging.guard?.deliver(envelopes[0] as never);
    const differing = createMemorySink({ name: "differing", ledger });
    for (const e of envelopes) await differing.guard?.deliver(e as never);
    differing.put((envelopes[1] as { key: string }).key, { altered: true });
    clock.advance(1_000);
    const got = await reconcile({ ledger, sinks: [lagging, differing], clock: clock.now });
    const md = renderReport(got, { format: "markdown" });
    expect(md).toContain(`consistent to position 1; 2 entries, ${formatDuration(1_000)} behind`);
    expect(md).toContain("matches up to position 1; first entry not matched at 2,");
    // A sink whose every entry matches but that holds keys never emitted is not "up to date".
    const extra = createMemorySink({ name: "extra", ledger });
    for (const e of envelopes) await extra.guard?.deliver(e as never);
    extra.put("never-emitted", { x: 1 });
    const withExtra = await reconcile({ ledger, sinks: [extra], clock: clock.now });
    expect(renderReport(withExtra, { format: "markdown" })).toContain(
      "every entry matches (to position 3); 1 key the ledger never emitted",
    );
  });
});
