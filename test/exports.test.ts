/**
 * The public surface, pinned: every name each entry point exports (values and types
 * apart), so that the surface cannot grow, shrink or move by accident. A change here is a
 * change of the package's API: say so in CHANGELOG.md. Also: no name is exported by two
 * entry points, and the helpers kept for sibling modules reach none of them.
 */
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Each subpath of package.json `exports` and its source entry point. */
const ENTRY_POINTS = {
  sinkproof: "src/index.ts",
  "sinkproof/ledger": "src/ledger/index.ts",
  "sinkproof/digest": "src/digest/index.ts",
  "sinkproof/testing": "src/testing/index.ts",
  "sinkproof/otel": "src/otel/index.ts",
  "sinkproof/sqlite": "src/ledger/sqlite/index.ts",
  "sinkproof/postgres": "src/ledger/postgres/index.ts",
  "sinkproof/sinks/jsonl": "src/sinks/jsonl/index.ts",
  "sinkproof/sinks/postgres": "src/sinks/postgres/index.ts",
} as const;

const EXPECTED: Record<keyof typeof ENTRY_POINTS, { values: string[]; types: string[] }> = {
  sinkproof: {
    values: [
      "CanonicalizationError",
      "CloudEventError",
      "CorruptionError",
      "DEFAULT_LAG_TOLERANCE_MS",
      "DEFAULT_MAX_BYTES",
      "DEFAULT_MAX_DEPTH",
      "DEFAULT_MAX_FINDINGS",
      "DEFAULT_STREAM",
      "DeliveryError",
      "ENVELOPE_LIMITS",
      "EnvelopeValidationError",
      "FINAL_RECEIPT_STATUSES",
      "FINDING_KINDS",
      "FileLedger",
      "IdError",
      "IdempotencyConflictError",
      "IntegrityError",
      "InvalidArgumentError",
      "KEY_PREFIX",
      "LISTED_FINDING_KINDS",
      "LedgerError",
      "LedgerLockedError",
      "MAX_BYTES_LIMIT",
      "MAX_DEPTH_LIMIT",
      "MISMATCH_REASONS",
      "MemoryLedger",
      "PayloadValidationError",
      "RECEIPT_STATUSES",
      "SchemaCompatibilityError",
      "SchemaRegistryError",
      "SinkError",
      "SinkproofError",
      "WINDOW_HISTORY_LIMIT",
      "assertIntact",
      "canonicalize",
      "checksum",
      "checksumOf",
      "checksumsEqual",
      "createIdFactory",
      "createMemoryMetrics",
      "createMonitor",
      "createPipeline",
      "createProducer",
      "createSchemaRegistry",
      "createSealer",
      "defineConfig",
      "envelopeSchema",
      "fromCloudEvent",
      "guardSink",
      "idTime",
      "idempotencyKey",
      "isChecksum",
      "isId",
      "isRetryable",
      "isSinkproofError",
      "isTransientLedgerError",
      "metricId",
      "noopMetrics",
      "parseCloudEvent",
      "parseEnvelope",
      "permanent",
      "reconcile",
      "renderReport",
      "repair",
      "seal",
      "sequenceKey",
      "signReceipt",
      "toCloudEvent",
      "verify",
      "verifyReceipt",
      "verifySinkPayloads",
    ],
    types: [
      "AppendResult",
      "AppendedEntry",
      "AuditHead",
      "AuditInput",
      "AuditPhase",
      "AuditProblem",
      "AuditRecord",
      "AuditSubject",
      "AuditVerification",
      "BacklogLimit",
      "BaselineMetric",
      "BaselineOptions",
      "BaselineState",
      "BucketDigest",
      "CanonicalizationErrorCode",
      "CanonicalizeOptions",
      "ChangeDirection",
      "CheckpointReport",
      "Checksum",
      "ChecksumAlgorithm",
      "ChecksumOfOptions",
      "ChecksumOptions",
      "Claim",
      "ClaimOptions",
      "ClaimResult",
      "ClaimWait",
      "CloudEvent",
      "CompactReceiptsInput",
      "CompatibilityMode",
      "ConsistencyWindow",
      "DeliverOptions",
      "DeliveryErrorCode",
      "DigestScope",
      "DigestSplit",
      "DigestStats",
      "DrainOptions",
      "DrainProgress",
      "Drained",
      "DuplicateFinding",
      "EmitItem",
      "EmitOptions",
      "Envelope",
      "EnvelopeDraft",
      "FileLedgerOptions",
      "FileLedgerRecovery",
      "Finding",
      "FindingCounts",
      "FindingFor",
      "FindingKind",
      "FindingOf",
      "FreezeInput",
      "FreezePolicy",
      "FromCloudEventOptions",
      "GuardFreezeOptions",
      "GuardSinkOptions",
      "GuardTimers",
      "GuardUnfreezeOptions",
      "HashRange",
      "HistoryError",
      "HistoryOptions",
      "IdFactory",
      "IdFactoryOptions",
      "IdleOptions",
      "InterruptedAction",
      "InterruptedSettlement",
      "JsonOf",
      "JsonSchema",
      "JsonValue",
      "KeyPart",
      "Ledger",
      "LedgerCapabilities",
      "LedgerEntry",
      "LedgerErrorCode",
      "LedgerOptions",
      "Limits",
      "ListedFindingKind",
      "MemoryMetrics",
      "MetricLabels",
      "Metrics",
      "MetricsSnapshot",
      "MismatchReason",
      "MismatchedFinding",
      "MissingLateFinding",
      "MissingLostFinding",
      "Monitor",
      "MonitorAlert",
      "MonitorAlertKind",
      "MonitorError",
      "MonitorOptions",
      "MonitorPass",
      "MonitorSinkStatus",
      "MonitorStatus",
      "Observation",
      "ObserveRange",
      "ParseEnvelopeOptions",
      "PayloadDifference",
      "PayloadProblem",
      "PayloadSample",
      "PayloadSchema",
      "PayloadValidator",
      "PayloadVerification",
      "Pipeline",
      "PipelineOptions",
      "PositionRange",
      "Producer",
      "ProducerOptions",
      "PublishItem",
      "Published",
      "PublishedMany",
      "PutCheckpointOptions",
      "PutReceiptStatus",
      "ReadySink",
      "Receipt",
      "ReceiptCompaction",
      "ReceiptError",
      "ReceiptKeys",
      "ReceiptSignature",
      "ReceiptSigningKey",
      "ReceiptStatus",
      "ReconcileCheckpoint",
      "ReconcileOptions",
      "ReconcileProgress",
      "ReconcileReport",
      "ReconcileSink",
      "RegisteredSchema",
      "RenderOptions",
      "RepairAction",
      "RepairActionKind",
      "RepairError",
      "RepairOptions",
      "RepairOutcome",
      "RepairResult",
      "ReportRange",
      "RetryOptions",
      "RetryPolicy",
      "SafeParseResult",
      "SafeParseSchema",
      "ScanQuery",
      "SchemaChange",
      "SchemaChangeKind",
      "SchemaChangeLike",
      "SchemaError",
      "SchemaIssue",
      "SchemaRef",
      "SchemaRegistration",
      "SchemaRegistry",
      "SchemaRegistryErrorCode",
      "SchemaRegistryOptions",
      "SchemaValidation",
      "SealOptions",
      "Sealer",
      "SequenceReservation",
      "SinkBacklog",
      "SinkBatchContext",
      "SinkBatchFailure",
      "SinkBatchOutcome",
      "SinkBatchResult",
      "SinkBatchWriter",
      "SinkDigest",
      "SinkErrorCode",
      "SinkFailure",
      "SinkFreeze",
      "SinkGuard",
      "SinkMeasure",
      "SinkOutcome",
      "SinkReadFailure",
      "SinkRepair",
      "SinkReport",
      "SinkStatus",
      "SinkValidator",
      "SinkWriteContext",
      "SinkWriteResult",
      "SinkWriter",
      "SinkproofConfig",
      "SinkproofErrorCode",
      "SinkproofErrorContext",
      "ThrottleOptions",
      "ToCloudEventOptions",
      "TornTail",
      "Trace",
      "UnexpectedFinding",
      "UnfreezeInput",
      "Unresolved",
      "UpcastContext",
      "UpcastResult",
      "UpcastStep",
      "Upcaster",
      "ValidationIssue",
      "VerifyOptions",
      "VerifyResult",
      "VerifySinkPayloadsOptions",
      "WindowHistoryQuery",
      "WindowSample",
    ],
  },
  "sinkproof/ledger": {
    values: [
      "BaseLedger",
      "GENESIS_HASH",
      "auditHash",
      "entryHash",
      "isFinalStatus",
      "planAppend",
      "verifyAuditChain",
    ],
    types: [
      "AppendClash",
      "AppendOutcome",
      "AppendPlan",
      "ClaimRequest",
      "EntryScan",
      "FreezeChange",
      "FreezeChanged",
      "ReceiptsCompacted",
      "StoragePart",
      "StorageSite",
      "StoredColumns",
      "StoredEntry",
    ],
  },
  "sinkproof/digest": {
    values: ["HASH_SPACE", "digestIndex", "formatDigest", "rowHash"],
    types: ["RowHash"],
  },
  "sinkproof/testing": {
    values: [
      "createFaultyLedger",
      "createManualClock",
      "createMemorySink",
      "createSeededRandom",
      "ledgerAppendBatchCases",
      "ledgerAppendCases",
      "ledgerAuditCases",
      "ledgerAuditPhaseCases",
      "ledgerBatchCases",
      "ledgerCheckpointCases",
      "ledgerClaimCases",
      "ledgerClosedCases",
      "ledgerConformance",
      "ledgerDigestCases",
      "ledgerFencingCases",
      "ledgerFreezeCases",
      "ledgerReadCases",
      "ledgerReceiptCases",
      "ledgerRestartCases",
      "ledgerRetentionCases",
      "ledgerSequenceCases",
      "ledgerTakeoverCases",
      "ledgerWatermarkCases",
      "ledgerWindowCases",
      "simulate",
      "sinkConformance",
    ],
    types: [
      "ConformanceContext",
      "ConformanceGroup",
      "ConformanceRunner",
      "ConformanceTest",
      "ConformanceTools",
      "FaultyLedger",
      "FaultyLedgerOptions",
      "FaultyLedgerStats",
      "LedgerCall",
      "LedgerConformanceOptions",
      "LedgerMethod",
      "LedgerScan",
      "ManualClock",
      "MemorySink",
      "MemorySinkFaults",
      "MemorySinkOptions",
      "MemorySinkRow",
      "MemorySinkStats",
      "MemorySinkTamper",
      "ShrunkRun",
      "SimClockJumpFault",
      "SimCounts",
      "SimCrashFault",
      "SimFault",
      "SimFaultAt",
      "SimFaultKind",
      "SimFaults",
      "SimLedgerContext",
      "SimLedgerRestartFault",
      "SimOperationFault",
      "SimOutageFault",
      "SimPauseFault",
      "SimSink",
      "SimSinkContext",
      "SimSinkFactory",
      "SimStats",
      "SimViolation",
      "SimViolationKind",
      "SimulateOptions",
      "SimulationResult",
      "SinkConformanceOptions",
      "WriteWindow",
    ],
  },
  "sinkproof/otel": {
    values: ["createOtelMetrics"],
    types: [],
  },
  "sinkproof/sqlite": {
    values: ["SQLITE_SCHEMA_VERSION", "SqliteLedger"],
    types: ["SqliteLedgerOptions"],
  },
  "sinkproof/postgres": {
    values: ["POSTGRES_SCHEMA_VERSION", "PostgresLedger"],
    types: [
      "PgPool",
      "PgPoolClient",
      "PgQueryConfig",
      "PgQueryResult",
      "PgQueryable",
      "PostgresLedgerOptions",
    ],
  },
  "sinkproof/sinks/jsonl": {
    values: ["jsonlSink"],
    types: ["JsonlRecovery", "JsonlSink", "JsonlSinkOptions"],
  },
  "sinkproof/sinks/postgres": {
    values: ["postgresTableSink"],
    types: ["PostgresTableSink", "PostgresTableSinkOptions"],
  },
};

/** Functions exported by a module for its siblings only: no entry point may export them. */
const INTERNAL = [
  "assertEnvelopeFields",
  "checkFreezePolicy",
  "checkHashRange",
  "checkSink",
  "freezeTrace",
  "isSafeParseSchema",
  "schemaIssues",
  "splitWidth",
  "writeOne",
];

/** The names each entry point exports, values and types apart, as the compiler sees them. */
function surface(): Record<string, { values: string[]; types: string[] }> {
  const files = Object.values(ENTRY_POINTS).map((file) => `${root}${file}`);
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    types: ["node"],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const result: Record<string, { values: string[]; types: string[] }> = {};
  for (const [name, file] of Object.entries(ENTRY_POINTS)) {
    const source = program.getSourceFile(`${root}${file}`);
    const module = source === undefined ? undefined : checker.getSymbolAtLocation(source);
    if (module === undefined) throw new Error(`${file}: not a module`);
    const values: string[] = [];
    const types: string[] = [];
    for (const symbol of checker.getExportsOfModule(module)) {
      const target =
        symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const typeOnly = symbol.declarations?.some((d) => ts.isTypeOnlyImportOrExportDeclaration(d));
      (target.flags & ts.SymbolFlags.Value && !typeOnly ? values : types).push(symbol.name);
    }
    result[name] = { values: values.sort(), types: types.sort() };
  }
  return result;
}

describe("the public surface", () => {
  const actual = surface();

  for (const name of Object.keys(ENTRY_POINTS) as (keyof typeof ENTRY_POINTS)[]) {
    it(`${name} exports exactly its pinned names`, () => {
      expect(actual[name]).toEqual(EXPECTED[name]);
    });
  }

  it("no name is exported by two entry points", () => {
    const seen = new Map<string, string>();
    const twice: string[] = [];
    for (const [entry, { values, types }] of Object.entries(actual)) {
      for (const n of [...values, ...types]) {
        const first = seen.get(n);
        if (first !== undefined) twice.push(`${n}: ${first} and ${entry}`);
        else seen.set(n, entry);
      }
    }
    expect(twice).toEqual([]);
  });

  it("helpers kept for sibling modules are exported by no entry point", () => {
    const all = Object.values(actual).flatMap(({ values, types }) => [...values, ...types]);
    expect(INTERNAL.filter((n) => all.includes(n))).toEqual([]);
  });

  it("each entry point is a subpath of package.json exports, and typedoc documents it", async () => {
    const { default: pkg } = await import("../package.json", { with: { type: "json" } });
    const { default: typedoc } = await import("../typedoc.json", { with: { type: "json" } });
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== "./package.json");
    expect(subpaths.sort()).toEqual(
      Object.keys(ENTRY_POINTS)
        .map((n) => (n === "sinkproof" ? "." : `./${n.slice("sinkproof/".length)}`))
        .sort(),
    );
    expect([...typedoc.entryPoints].sort()).toEqual(Object.values(ENTRY_POINTS).sort());
  });
});
