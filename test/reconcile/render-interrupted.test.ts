/**
 * Reports and repairs with interrupted actions and self-inconsistent rows: the
 * renderers show them (Markdown, HTML, JSON), the shape checks accept reports made
 * before the fields existed and refuse malformed ones with the path.
 */
import { describe, expect, it } from "vitest";
import {
  checksum,
  InvalidArgumentError,
  type ReconcileReport,
  renderReport,
  repair,
} from "../../src/index.js";
import { catchError } from "../helpers.js";
import { interruptedScenario } from "./render-scenario.js";
import { order } from "./scenario.js";

const setUp = interruptedScenario;

describe("rendering interrupted actions and self-inconsistent rows", () => {
  it("Markdown: the verdict, the interrupted list, what disagrees, and the settlement", async () => {
    const { report, key, intent, ledger, sink, clock } = await setUp();
    expect(report.sinks[0]?.interrupted).toMatchObject([{ intent: intent.index, key: key(5) }]);
    const md = renderReport(report, { format: "markdown" });
    expect(md).toContain("inconsistent, 1 interrupted");
    expect(md).toContain("### Interrupted repair actions");
    expect(md).toMatch(
      new RegExp(`\\| ${intent.index} \\| rewrite \\| \`${key(5)}\` \\| 6 \\| killed-job \\|`),
    );
    expect(md).toContain("mismatched (payload edited under the ledger's checksum)");
    expect(md).toContain(
      `payload ${checksum({ ...order(3), total: -3 })}; stored ${report.sinks[0]?.findings[0]?.expected}`,
    );
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    expect(result.converged).toBe(true);
    const withRepair = renderReport(report, { format: "markdown", repair: result });
    expect(withRepair).toContain("### Interrupted actions settled");
    expect(withRepair).toMatch(
      /\| `store` \| 1 \| rewrite \| `[^`]+` \| completed \| settled \| 2 \|/,
    );
  });

  it("HTML and JSON carry the same", async () => {
    const { report, key, ledger, sink, clock } = await setUp();
    const result = await repair(report, { ledger, sinks: [sink], clock: clock.now });
    const html = renderReport(report, { format: "html", repair: result });
    expect(html).toContain("1 interrupted repair action:");
    expect(html).toContain(`<code>${key(5)}</code>`);
    expect(html).toContain("payload edited under the ledger&#39;s checksum");
    expect(html).toContain("<h3>Interrupted actions settled</h3>");
    const json = JSON.parse(renderReport(report, { format: "json", repair: result }));
    expect(json).toEqual(JSON.parse(JSON.stringify({ report, repair: result })));
    expect(json.report.sinks[0].findings[0]).toMatchObject({ mismatch: "payload-edited" });
  });

  it("a report or repair made before these fields existed still renders and repairs", async () => {
    const { report, ledger, sink, clock } = await setUp();
    const old = JSON.parse(JSON.stringify(report)) as ReconcileReport;
    for (const s of old.sinks as unknown as Record<string, unknown>[]) delete s.interrupted;
    for (const f of (old.sinks[0]?.findings ?? []) as unknown as Record<string, unknown>[]) {
      delete f.mismatch;
      delete f.storedChecksum;
    }
    expect(renderReport(old, { format: "markdown" })).toContain("| mismatched |");
    const result = await repair(old, { ledger, sinks: [sink], clock: clock.now });
    const { interrupted: _gone, ...oldResult } = result;
    expect(renderReport(old, { format: "html", repair: oldResult as never })).toContain("<html");
    // The repair still found the interrupted action in the log, not in the report.
    expect(result.interrupted).toMatchObject([{ status: "settled", found: "completed" }]);
  });

  it("refuses malformed interrupted lists and mismatch reasons with the path", async () => {
    const { report } = await setUp();
    const sink0 = report.sinks[0] as NonNullable<(typeof report.sinks)[0]>;
    const bad = (patch: Record<string, unknown>) =>
      catchError(() =>
        renderReport({ ...report, sinks: [{ ...sink0, ...patch }] } as never, { format: "json" }),
      );
    const notArray = bad({ interrupted: "x" });
    expect(notArray).toBeInstanceOf(InvalidArgumentError);
    expect((notArray as InvalidArgumentError).path).toBe("report.sinks[0].interrupted");
    const noIntent = bad({ interrupted: [{ action: "rewrite" }] });
    expect((noIntent as InvalidArgumentError).path).toBe("report.sinks[0].interrupted[0]");
    const reason = bad({ findings: [{ ...sink0.findings[0], mismatch: "vibes" }] });
    expect((reason as InvalidArgumentError).path).toBe("report.sinks[0].findings[0].mismatch");
  });
});
