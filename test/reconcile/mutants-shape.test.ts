/**
 * Shape checks of a report and a repair result handed back to `renderReport` (and
 * `repair`): every field read later is checked, and a bad one is an `InvalidArgumentError`
 * whose path names it and whose message says what it must be. Pins src/reconcile/shape.ts.
 */
import { describe, expect, it } from "vitest";
import { InvalidArgumentError, renderReport } from "../../src/index.js";
import { catchError } from "../helpers.js";

type Json = Record<string, unknown>;

const COUNTS = {
  matched: 3,
  "missing-late": 0,
  "missing-lost": 1,
  duplicate: 0,
  mismatched: 1,
  unexpected: 0,
};

const FINDING = {
  kind: "mismatched",
  sink: "store",
  key: "k-1",
  position: 2,
  expected: "sha256:aa",
  observed: "sha256:bb",
  mismatch: "payload",
  paths: ["$.total", "$.items[0].qty"],
  differences: [{ path: "$.total", expected: "10", observed: "11" }],
};

const INTERRUPTED = {
  intent: 4,
  time: "2026-01-01T00:00:05.000Z",
  actor: "ops",
  action: "replay",
  key: "k-1",
  position: 2,
};

function sink(patch: Json = {}): Json {
  return {
    name: "store",
    basis: "observed",
    counts: { ...COUNTS },
    findings: [{ ...FINDING }],
    window: { position: 1, behindEntries: 4, behindMs: 3000 },
    interrupted: [{ ...INTERRUPTED }],
    ...patch,
  };
}

function report(sinkPatch: Json = {}, patch: Json = {}): Json {
  return {
    generatedAt: "2026-01-01T00:01:00.000Z",
    consistent: false,
    range: { from: 0, to: 4, entries: 5 },
    sinks: [sink(sinkPatch)],
    durationMs: 12,
    ...patch,
  };
}

function withFinding(patch: Json): Json {
  return report({ findings: [{ ...FINDING, ...patch }] });
}

function withInterrupted(patch: Json): Json {
  return report({ interrupted: [{ ...INTERRUPTED, ...patch }] });
}

function without(value: Json, field: string): Json {
  const copy = { ...value };
  delete copy[field];
  return copy;
}

const ACTION = {
  sink: "store",
  key: "k-1",
  action: "replay",
  status: "verified",
  reason: "lost",
};
const SETTLED = {
  sink: "store",
  action: "replay",
  found: "done",
  status: "verified",
  reason: "interrupted",
};
const UNRESOLVED = { sink: "store", key: "k-2", reason: "still mismatched" };

function repairResult(patch: Json = {}): Json {
  return {
    dryRun: false,
    startedAt: "2026-01-01T00:02:00.000Z",
    actions: [{ ...ACTION }],
    sinks: [{ name: "store", replayed: 1 }],
    converged: false,
    unresolved: [{ ...UNRESOLVED }],
    interrupted: [{ ...SETTLED }],
    remaining: false,
    durationMs: 3,
    ...patch,
  };
}

/** Renders as JSON; the JSON output is the checked copy, so it shows what was accepted. */
function render(given: unknown, repair?: unknown): { report: unknown; repair?: unknown } {
  const options = repair === undefined ? { format: "json" } : { format: "json", repair };
  return JSON.parse(renderReport(given as never, options as never)) as {
    report: unknown;
    repair?: unknown;
  };
}

function expectAccepted(given: Json): void {
  expect(render(given).report).toEqual(JSON.parse(JSON.stringify(given)));
}

function expectRejected(fn: () => unknown, path: string, message: string): void {
  const error = catchError(fn);
  expect(error, path).toBeInstanceOf(InvalidArgumentError);
  expect(error.code).toBe("invalid_argument");
  expect(error.path).toBe(path);
  expect(error.message).toBe(message);
}

function rejectsReport(given: unknown, path: string, rule: string): void {
  expectRejected(() => render(given), path, `${path} ${rule}`);
}

function rejectsRepair(given: unknown, path: string, rule: string): void {
  expectRejected(() => render(report(), given), path, `${path} ${rule}`);
}

const F = "report.sinks[0].findings[0]";
const I = "report.sinks[0].interrupted[0]";

describe("checkReportShape: the report itself", () => {
  it("accepts a well-formed report and renders the checked copy", () => {
    expectAccepted(report());
    // Optional fields may be absent or null.
    expectAccepted(
      report({
        findings: [
          { kind: "missing-lost", sink: "store", key: "k-9" },
          {
            kind: "unexpected",
            sink: "store",
            key: "k-8",
            expected: null,
            observed: null,
            receipt: null,
            storedChecksum: null,
          },
        ],
        interrupted: [{ intent: 0, time: "t", actor: "a", action: "remove" }],
        frozen: null,
        error: { code: "sink_read_failed", message: "down" },
      }),
    );
    // Reports made before interrupted actions were tracked have none.
    expectAccepted(report({ interrupted: undefined }));
  });

  it("rejects what is not a report object, naming `report`", () => {
    rejectsReport(null, "report", "must be a report made by reconcile(), got null");
    rejectsReport([], "report", "must be a report made by reconcile(), got array");
    rejectsReport("r", "report", "must be a report made by reconcile(), got string");
  });

  it("reads the report once as JSON: what it serialises to must be an object", () => {
    rejectsReport({ toJSON: () => [1] }, "report", "must be an object, got array");
    rejectsReport({ toJSON: () => 7 }, "report", "must be an object, got number");
    // What is checked is the JSON copy: a toJSON giving a good report is read as that report.
    expect(render({ toJSON: () => report() }).report).toEqual(report());
  });

  it("a revoked Proxy is an object that cannot be read, not a non-object", () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const error = catchError(() => render(proxy));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.path).toBe("report");
    expect(error.message).toMatch(/^report could not be read: /);
    expect(error.message).not.toContain("must be a report");
  });

  it("checks the range: three integers ≥ 0", () => {
    const rule = "must be { from, to, entries } (integers ≥ 0)";
    rejectsReport(report({}, { range: null }), "report.range", rule);
    rejectsReport(report({}, { range: { from: 0, to: 4 } }), "report.range", rule);
    rejectsReport(report({}, { range: { from: -1, to: 4, entries: 5 } }), "report.range", rule);
    rejectsReport(report({}, { range: { from: 0.5, to: 4, entries: 5 } }), "report.range", rule);
    rejectsReport(report({}, { range: { from: 0, to: "4", entries: 5 } }), "report.range", rule);
    rejectsReport(
      report({}, { range: { from: 0, to: 2 ** 53, entries: 5 } }),
      "report.range",
      rule,
    );
    expectAccepted(report({}, { range: { from: 0, to: 0, entries: 0 } }));
  });

  it("sinks must be an array", () => {
    rejectsReport(report({}, { sinks: "x" }), "report.sinks", "must be an array, got string");
    rejectsReport(report({}, { sinks: {} }), "report.sinks", "must be an array, got object");
    expectAccepted(report({}, { sinks: [] }));
  });
});

describe("checkReportShape: each sink", () => {
  const rule = "must be a sink report { name, basis, counts, findings, window, ... }";

  it("a sink must be an object with a string name", () => {
    rejectsReport(report({}, { sinks: [null] }), "report.sinks[0]", rule);
    rejectsReport(report({ name: 5 }), "report.sinks[0]", rule);
    rejectsReport(
      report({}, { sinks: [sink(), without(sink(), "name")] }),
      "report.sinks[1]",
      rule,
    );
  });

  it("counts must give every kind, in FINDING_KINDS order in the message, as integers ≥ 0", () => {
    const countsRule =
      "must count every kind (matched, missing-late, missing-lost, duplicate, mismatched, unexpected) with integers ≥ 0";
    const at = "report.sinks[0].counts";
    rejectsReport(report({ counts: null }), at, countsRule);
    rejectsReport(report({ counts: [] }), at, countsRule);
    rejectsReport(report({ counts: {} }), at, countsRule);
    // One kind missing, or one bad count among good ones.
    rejectsReport(report({ counts: without(COUNTS, "unexpected") }), at, countsRule);
    rejectsReport(report({ counts: { ...COUNTS, duplicate: -1 } }), at, countsRule);
    rejectsReport(report({ counts: { ...COUNTS, matched: 1.5 } }), at, countsRule);
    rejectsReport(report({ counts: { ...COUNTS, "missing-late": "2" } }), at, countsRule);
    expectAccepted(report({ counts: { ...COUNTS, matched: 0 } }));
  });

  it("the window must be { position, behindEntries, behindMs }", () => {
    const at = "report.sinks[0].window";
    const windowRule = "must be { position, behindEntries, behindMs }";
    const good = { position: 1, behindEntries: 4, behindMs: 3000 };
    rejectsReport(report({ window: null }), at, windowRule);
    rejectsReport(report({ window: [] }), at, windowRule);
    rejectsReport(report({ window: { ...good, position: -1 } }), at, windowRule);
    rejectsReport(report({ window: without(good, "position") }), at, windowRule);
    rejectsReport(report({ window: { ...good, behindEntries: 0.5 } }), at, windowRule);
    rejectsReport(report({ window: without(good, "behindEntries") }), at, windowRule);
    rejectsReport(report({ window: { ...good, behindMs: "3000" } }), at, windowRule);
    rejectsReport(report({ window: without(good, "behindMs") }), at, windowRule);
    // behindMs is any number (a duration, not a count).
    expectAccepted(report({ window: { ...good, behindMs: 0.25 } }));
    expectAccepted(report({ window: { ...good, behindMs: -1 } }));
  });

  it("findings must be an array", () => {
    rejectsReport(
      report({ findings: "none" }),
      "report.sinks[0].findings",
      "must be an array, got string",
    );
    rejectsReport(
      report({ findings: undefined }),
      "report.sinks[0].findings",
      "must be an array, got undefined",
    );
  });

  it("error, when present, must be an object with a string message", () => {
    const at = "report.sinks[0].error";
    const errorRule = "must be { code, message, path? }";
    rejectsReport(report({ error: "boom" }), at, errorRule);
    rejectsReport(report({ error: null }), at, errorRule);
    rejectsReport(report({ error: { code: "sink_read_failed" } }), at, errorRule);
    rejectsReport(report({ error: { code: "x", message: 5 } }), at, errorRule);
    expectAccepted(report({ error: { code: "x", message: "down", path: "$[0]" } }));
  });

  it("frozen, when present, must be a string", () => {
    rejectsReport(report({ frozen: 5 }), "report.sinks[0].frozen", "must be a string, got number");
    rejectsReport(report({ frozen: {} }), "report.sinks[0].frozen", "must be a string, got object");
    expectAccepted(report({ frozen: "2026-01-01T00:00:00.000Z" }));
  });
});

describe("checkReportShape: each finding", () => {
  const rule = "must be a finding { kind, sink, key, ... }";

  it("needs an object with a listed kind and a string key", () => {
    rejectsReport(report({ findings: [null] }), F, rule);
    rejectsReport(report({ findings: [[]] }), F, rule);
    rejectsReport(withFinding({ kind: "matched" }), F, rule);
    rejectsReport(withFinding({ kind: "lost" }), F, rule);
    rejectsReport(withFinding({ key: 7 }), F, rule);
    rejectsReport(report({ findings: [without(FINDING, "key")] }), F, rule);
    rejectsReport(
      report({ findings: [{ ...FINDING }, { ...FINDING, key: null }] }),
      "report.sinks[0].findings[1]",
      rule,
    );
    for (const kind of ["missing-late", "missing-lost", "duplicate", "mismatched", "unexpected"]) {
      expectAccepted(withFinding({ kind }));
    }
  });

  it("position and count, when present, are integers ≥ 0; ageMs is a number", () => {
    rejectsReport(withFinding({ position: -1 }), `${F}.position`, "must be an integer ≥ 0");
    rejectsReport(withFinding({ position: "2" }), `${F}.position`, "must be an integer ≥ 0");
    rejectsReport(withFinding({ count: 1.5 }), `${F}.count`, "must be an integer ≥ 0");
    rejectsReport(withFinding({ count: null }), `${F}.count`, "must be an integer ≥ 0");
    rejectsReport(withFinding({ ageMs: "5" }), `${F}.ageMs`, "must be a number");
    rejectsReport(withFinding({ ageMs: null }), `${F}.ageMs`, "must be a number");
    expectAccepted(withFinding({ position: 0, count: 3, ageMs: 12.5 }));
  });

  it("expected, observed, receipt and storedChecksum are strings, null or absent", () => {
    for (const field of ["expected", "observed", "receipt", "storedChecksum"]) {
      rejectsReport(withFinding({ [field]: 5 }), `${F}.${field}`, "must be a string, got number");
      rejectsReport(withFinding({ [field]: [] }), `${F}.${field}`, "must be a string, got array");
      rejectsReport(
        withFinding({ [field]: false }),
        `${F}.${field}`,
        "must be a string, got boolean",
      );
      expectAccepted(withFinding({ [field]: null }));
      expectAccepted(withFinding({ [field]: "sha256:cc" }));
      expectAccepted(report({ findings: [without(FINDING, field)] }));
    }
  });

  it("mismatch, when present, is one of the mismatch reasons", () => {
    const reasons = "checksum, payload, value, payload-edited, checksum-edited, self-inconsistent";
    rejectsReport(
      withFinding({ mismatch: "bogus" }),
      `${F}.mismatch`,
      `must be one of ${reasons}, got string`,
    );
    rejectsReport(
      withFinding({ mismatch: null }),
      `${F}.mismatch`,
      `must be one of ${reasons}, got null`,
    );
    for (const mismatch of reasons.split(", ")) expectAccepted(withFinding({ mismatch }));
  });

  it("paths, when present, is an array of strings", () => {
    const pathsRule = "must be an array of strings";
    rejectsReport(withFinding({ paths: "$.total" }), `${F}.paths`, pathsRule);
    rejectsReport(withFinding({ paths: ["$.total", 3] }), `${F}.paths`, pathsRule);
    expectAccepted(withFinding({ paths: [] }));
    expectAccepted(withFinding({ paths: ["$.a", "$.b"] }));
  });

  it("differences, when present, is an array of { path, expected, observed } strings", () => {
    const at = `${F}.differences`;
    const differencesRule = "must be an array of { path, expected, observed } (strings)";
    const good = { path: "$.total", expected: "10", observed: "11" };
    rejectsReport(withFinding({ differences: "x" }), at, differencesRule);
    rejectsReport(withFinding({ differences: {} }), at, differencesRule);
    rejectsReport(withFinding({ differences: [null] }), at, differencesRule);
    rejectsReport(withFinding({ differences: [good, []] }), at, differencesRule);
    rejectsReport(withFinding({ differences: [good, "d"] }), at, differencesRule);
    for (const field of ["path", "expected", "observed"]) {
      rejectsReport(withFinding({ differences: [without(good, field)] }), at, differencesRule);
      rejectsReport(
        withFinding({ differences: [good, { ...good, [field]: 1 }] }),
        at,
        differencesRule,
      );
    }
    expectAccepted(withFinding({ differences: [] }));
    expectAccepted(withFinding({ differences: [good, { ...good, path: "$.id" }] }));
  });
});

describe("checkReportShape: interrupted actions", () => {
  const rule = "must be an interrupted action { intent, time, actor, action, key?, ... }";

  it("when present, is an array", () => {
    rejectsReport(
      report({ interrupted: "x" }),
      "report.sinks[0].interrupted",
      "must be an array, got string",
    );
    rejectsReport(
      report({ interrupted: null }),
      "report.sinks[0].interrupted",
      "must be an array, got null",
    );
  });

  it("each needs an integer intent and string time, actor and action", () => {
    rejectsReport(report({ interrupted: [null] }), I, rule);
    rejectsReport(report({ interrupted: [[]] }), I, rule);
    rejectsReport(withInterrupted({ intent: -1 }), I, rule);
    rejectsReport(withInterrupted({ intent: "4" }), I, rule);
    for (const field of ["intent", "time", "actor", "action"]) {
      rejectsReport(report({ interrupted: [without(INTERRUPTED, field)] }), I, rule);
    }
    for (const field of ["time", "actor", "action"]) {
      rejectsReport(withInterrupted({ [field]: 1 }), I, rule);
    }
    rejectsReport(
      report({ interrupted: [{ ...INTERRUPTED }, { ...INTERRUPTED, actor: null }] }),
      "report.sinks[0].interrupted[1]",
      rule,
    );
  });

  it("key is a string when given; position an integer ≥ 0 when given", () => {
    rejectsReport(withInterrupted({ key: 9 }), `${I}.key`, "must be a string, got number");
    rejectsReport(withInterrupted({ position: -1 }), `${I}.position`, "must be an integer ≥ 0");
    rejectsReport(withInterrupted({ position: 1.5 }), `${I}.position`, "must be an integer ≥ 0");
    rejectsReport(withInterrupted({ position: null }), `${I}.position`, "must be an integer ≥ 0");
    expectAccepted(withInterrupted({ key: null }));
    expectAccepted(report({ interrupted: [without(INTERRUPTED, "key")] }));
    expectAccepted(report({ interrupted: [without(INTERRUPTED, "position")] }));
    expectAccepted(withInterrupted({ position: 0 }));
  });
});

describe("checkRepairShape (options.repair of renderReport)", () => {
  it("accepts a well-formed repair result and renders the checked copy", () => {
    const given = repairResult();
    expect(render(report(), given).repair).toEqual(given);
    // Results made before interrupted actions were settled have no list: read as none.
    const older = without(repairResult(), "interrupted");
    expect(render(report(), older).repair).toEqual(older);
    const empty = repairResult({ actions: [], sinks: [], unresolved: [], interrupted: [] });
    expect(render(report(), empty).repair).toEqual(empty);
  });

  it("rejects what is not an object, naming options.repair", () => {
    rejectsRepair(null, "options.repair", "must be a result of repair(), got null");
    rejectsRepair([], "options.repair", "must be a result of repair(), got array");
    rejectsRepair(3, "options.repair", "must be a result of repair(), got number");
    rejectsRepair({ toJSON: () => "r" }, "options.repair", "must be an object, got string");
  });

  it("every list must be an array (interrupted may be absent)", () => {
    for (const list of ["actions", "sinks", "unresolved"]) {
      rejectsRepair(
        without(repairResult(), list),
        `options.repair.${list}`,
        "must be an array, got undefined",
      );
    }
    for (const list of ["actions", "sinks", "unresolved", "interrupted"]) {
      rejectsRepair(
        repairResult({ [list]: "x" }),
        `options.repair.${list}`,
        "must be an array, got string",
      );
      rejectsRepair(
        repairResult({ [list]: null }),
        `options.repair.${list}`,
        "must be an array, got null",
      );
      rejectsRepair(
        repairResult({ [list]: [null] }),
        `options.repair.${list}[0]`,
        "must be an object, got null",
      );
      rejectsRepair(
        repairResult({ [list]: [[]] }),
        `options.repair.${list}[0]`,
        "must be an object, got array",
      );
    }
  });

  it("each item's string fields, per list, checked in order", () => {
    const fields: Array<[string, Json, string[]]> = [
      ["actions", ACTION, ["sink", "key", "action", "status", "reason"]],
      ["sinks", { name: "store" }, ["name"]],
      ["unresolved", UNRESOLVED, ["sink", "key", "reason"]],
      ["interrupted", SETTLED, ["sink", "action", "found", "status", "reason"]],
    ];
    for (const [list, good, strings] of fields) {
      for (const field of strings) {
        rejectsRepair(
          repairResult({ [list]: [without(good, field)] }),
          `options.repair.${list}[0].${field}`,
          "must be a string, got undefined",
        );
        rejectsRepair(
          repairResult({ [list]: [good, { ...good, [field]: 5 }] }),
          `options.repair.${list}[1].${field}`,
          "must be a string, got number",
        );
      }
      // An empty item names the first field of its list.
      rejectsRepair(
        repairResult({ [list]: [{}] }),
        `options.repair.${list}[0].${strings[0]}`,
        "must be a string, got undefined",
      );
    }
    // Fields of other lists are not required: an interrupted settlement has no key, an
    // unresolved key no action or status.
    expect(render(report(), repairResult({ interrupted: [SETTLED] })).repair).toEqual(
      repairResult(),
    );
    expect(render(report(), repairResult({ unresolved: [UNRESOLVED] })).repair).toEqual(
      repairResult(),
    );
    expect(render(report(), repairResult({ sinks: [{ name: "s" }] })).repair).toEqual(
      repairResult({ sinks: [{ name: "s" }] }),
    );
  });
});
