/**
 * Every format's whole output, byte for byte, for the reports of render-scenario.ts: the
 * five-sink scenario with its repair (all of it, and the top two findings without the
 * repair), a consistent report, and a report with an interrupted action and its
 * settlement. render.test.ts says what each output must contain; these files pin the rest
 * (every label, class, bar width and separator), so a change to any of them is seen and
 * reviewed. The times that depend on the machine (`durationMs`) are set to fixed values
 * first; everything else in the scenarios is seeded or on a manual clock. After a wanted
 * change to the output, `npx vitest run --config test/vitest.config.ts -u
 * test/reconcile/render-golden.test.ts` writes the files again: read their diff before
 * committing it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  type ReconcileReport,
  type RepairResult,
  reconcile,
  renderReport,
  repair,
} from "../../src/index.js";
import { interruptedScenario, scenario } from "./render-scenario.js";
import { build } from "./scenario.js";

/** The report with its machine-dependent times fixed. */
function fixedReport(report: ReconcileReport): ReconcileReport {
  return {
    ...report,
    durationMs: 1234.5,
    sinks: report.sinks.map((sink, i) => ({ ...sink, durationMs: 10 * (i + 1) + 0.25 })),
  };
}

function fixedRepair(result: RepairResult): RepairResult {
  return {
    ...result,
    durationMs: 2345.75,
    verification: result.verification === undefined ? undefined : fixedReport(result.verification),
  };
}

const FORMATS = [
  ["markdown", "md"],
  ["html", "html"],
  ["json", "json"],
] as const;

let full: { report: ReconcileReport; repaired: RepairResult };
let interrupted: { report: ReconcileReport; repaired: RepairResult };
let consistent: ReconcileReport;

beforeAll(async () => {
  const five = await scenario();
  full = { report: fixedReport(five.report), repaired: fixedRepair(five.repaired) };
  const s = await interruptedScenario();
  const repaired = await repair(s.report, {
    ledger: s.ledger,
    sinks: [s.sink],
    clock: s.clock.now,
    actor: "nightly",
  });
  interrupted = { report: fixedReport(s.report), repaired: fixedRepair(repaired) };
  const clean = await build(5);
  await clean.sink.guard?.deliverAll(clean.envelopes);
  consistent = fixedReport(
    await reconcile({ ledger: clean.ledger, sinks: [clean.sink], clock: clean.clock.now }),
  );
});

describe("the scenarios render the same every time", () => {
  it("a second run of the five-sink scenario renders the same bytes", async () => {
    const again = await scenario();
    for (const [format] of FORMATS) {
      expect(
        renderReport(fixedReport(again.report), { format, repair: fixedRepair(again.repaired) }),
      ).toBe(renderReport(full.report, { format, repair: full.repaired }));
    }
  });
});

describe("an unreadable sink", () => {
  it("vouches for no entry: its window starts before the range, and is drawn as unknown", () => {
    const broken = full.report.sinks.find((s) => s.name === "broken");
    expect(broken?.error?.code).toBe("sink_read_failed");
    expect(broken?.window).toEqual({ position: 0, behindEntries: 201, behindMs: 0 });
    const md = renderReport(full.report, { format: "markdown" });
    const row = md.split("\n").find((line) => line.startsWith("| `broken` |"));
    expect(row).toBe(
      "| `broken` | observed | unreadable | 0 | 0 | 0 | 0 | 0 | 0 | 0 | unknown: the sink could not be read |",
    );
  });
});

describe.each(FORMATS)("%s, byte for byte", (format, ext) => {
  it("the five sinks with their repair", async () => {
    await expect(renderReport(full.report, { format, repair: full.repaired })).toMatchFileSnapshot(
      `golden/five-sinks-repaired.${ext}`,
    );
  });

  it("the five sinks, the top two findings, no repair, another title", async () => {
    await expect(
      renderReport(full.report, { format, topFindings: 2, title: "Nightly <check> | *orders*" }),
    ).toMatchFileSnapshot(`golden/five-sinks-top2.${ext}`);
  });

  it("a consistent report", async () => {
    await expect(renderReport(consistent, { format })).toMatchFileSnapshot(
      `golden/consistent.${ext}`,
    );
  });

  it("an interrupted action and its settlement", async () => {
    await expect(
      renderReport(interrupted.report, { format, repair: interrupted.repaired }),
    ).toMatchFileSnapshot(`golden/interrupted.${ext}`);
  });
});
