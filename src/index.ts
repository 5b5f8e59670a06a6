/**
 * sinkproof: prove that every downstream sink holds exactly what a producer emitted.
 *
 * This entry point holds what a pipeline author needs: the foundation (canonical form,
 * checksums, ids, idempotency keys, sealed envelopes, the error hierarchy), the `Ledger`
 * interface and the ready-made ledgers (`MemoryLedger`, `FileLedger`), delivery,
 * reconciliation and repair, the schema registry, metrics and CloudEvents interop.
 * Writing a ledger adapter (`BaseLedger`, `planAppend`, the stored forms, the audit
 * chain's primitives) is `sinkproof/ledger`; the digest-mode helpers for a sink
 * (`rowHash`, `formatDigest`, `digestIndex`) are `sinkproof/digest`; testing tools are
 * `sinkproof/testing`; the SQL ledgers `sinkproof/sqlite` and `sinkproof/postgres`; the
 * OpenTelemetry bridge `sinkproof/otel`.
 *
 * @packageDocumentation
 */

export {
  type CanonicalizeOptions,
  canonicalize,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_DEPTH,
  type Limits,
  MAX_BYTES_LIMIT,
  MAX_DEPTH_LIMIT,
} from "./canonical/canonicalize.js";
export {
  type Checksum,
  type ChecksumAlgorithm,
  type ChecksumOfOptions,
  type ChecksumOptions,
  checksum,
  checksumOf,
  checksumsEqual,
  isChecksum,
} from "./checksum/checksum.js";
export { defineConfig, type SinkproofConfig } from "./cli/config.js";
export {
  type ClaimWait,
  type DeliverOptions,
  type GuardFreezeOptions,
  type GuardSinkOptions,
  type GuardTimers,
  type GuardUnfreezeOptions,
  guardSink,
  type SinkBatchContext,
  type SinkBatchFailure,
  type SinkBatchResult,
  type SinkBatchWriter,
  type SinkFailure,
  type SinkGuard,
  type SinkMeasure,
  type SinkStatus,
  type SinkValidator,
  type SinkWriteContext,
  type SinkWriteResult,
  type SinkWriter,
} from "./delivery/guard.js";
export {
  type BacklogLimit,
  createPipeline,
  type Drained,
  type DrainOptions,
  type DrainProgress,
  type IdleOptions,
  type Pipeline,
  type PipelineOptions,
  type Published,
  type PublishedMany,
  type PublishItem,
  type SinkBacklog,
  type SinkBatchOutcome,
  type SinkOutcome,
  type ThrottleOptions,
} from "./delivery/pipeline.js";
export {
  createProducer,
  type EmitItem,
  type EmitOptions,
  type PayloadValidator,
  type Producer,
  type ProducerOptions,
} from "./delivery/producer.js";
export {
  isRetryable,
  permanent,
  type RetryOptions,
  type RetryPolicy,
} from "./delivery/retry.js";
export {
  type ReceiptKeys,
  type ReceiptSigningKey,
  signReceipt,
  verifyReceipt,
} from "./delivery/signing.js";
export type {
  SafeParseResult,
  SafeParseSchema,
  SchemaError,
  SchemaIssue,
} from "./delivery/validation.js";
export {
  type CloudEvent,
  type FromCloudEventOptions,
  fromCloudEvent,
  parseCloudEvent,
  type ToCloudEventOptions,
  toCloudEvent,
} from "./envelope/cloudevents.js";
export {
  createIdFactory,
  type IdFactory,
  type IdFactoryOptions,
  idTime,
  isId,
} from "./envelope/ids.js";
export { idempotencyKey, KEY_PREFIX, type KeyPart, sequenceKey } from "./envelope/keys.js";
export { type ParseEnvelopeOptions, parseEnvelope } from "./envelope/parse.js";
export {
  DEFAULT_STREAM,
  ENVELOPE_LIMITS,
  type Envelope,
  envelopeSchema,
  type JsonOf,
  type JsonValue,
  type SchemaRef,
  type Trace,
} from "./envelope/schema.js";
export {
  createSealer,
  type EnvelopeDraft,
  type Sealer,
  type SealOptions,
  seal,
} from "./envelope/seal.js";
export { assertIntact, type VerifyOptions, type VerifyResult, verify } from "./envelope/verify.js";
export {
  CanonicalizationError,
  type CanonicalizationErrorCode,
  CloudEventError,
  CorruptionError,
  DeliveryError,
  type DeliveryErrorCode,
  EnvelopeValidationError,
  IdError,
  IdempotencyConflictError,
  IntegrityError,
  InvalidArgumentError,
  isSinkproofError,
  isTransientLedgerError,
  LedgerError,
  type LedgerErrorCode,
  LedgerLockedError,
  PayloadValidationError,
  type SchemaChangeLike,
  SchemaCompatibilityError,
  SchemaRegistryError,
  type SchemaRegistryErrorCode,
  SinkError,
  type SinkErrorCode,
  SinkproofError,
  type SinkproofErrorCode,
  type SinkproofErrorContext,
  type ValidationIssue,
} from "./errors.js";
export type { LedgerOptions } from "./ledger/base.js";
export {
  FileLedger,
  type FileLedgerOptions,
  type FileLedgerRecovery,
  type TornTail,
} from "./ledger/file/file-ledger.js";
export { MemoryLedger } from "./ledger/memory.js";
export type {
  AppendedEntry,
  AppendResult,
  AuditHead,
  AuditInput,
  AuditPhase,
  AuditProblem,
  AuditRecord,
  AuditSubject,
  AuditVerification,
  Claim,
  ClaimOptions,
  ClaimResult,
  CompactReceiptsInput,
  DigestScope,
  FreezeInput,
  Ledger,
  LedgerCapabilities,
  LedgerEntry,
  PositionRange,
  PutCheckpointOptions,
  PutReceiptStatus,
  Receipt,
  ReceiptCompaction,
  ReceiptError,
  ReceiptSignature,
  ReceiptStatus,
  ReconcileCheckpoint,
  ScanQuery,
  SequenceReservation,
  SinkFreeze,
  UnfreezeInput,
  WindowHistoryQuery,
  WindowSample,
} from "./ledger/types.js";
export {
  FINAL_RECEIPT_STATUSES,
  RECEIPT_STATUSES,
  WINDOW_HISTORY_LIMIT,
} from "./ledger/types.js";
export {
  createMemoryMetrics,
  type MemoryMetrics,
  type MetricLabels,
  type Metrics,
  type MetricsSnapshot,
  metricId,
  noopMetrics,
} from "./observe/metrics.js";
export { createMonitor } from "./reconcile/monitor.js";
export type {
  BaselineMetric,
  BaselineOptions,
  BaselineState,
  Monitor,
  MonitorAlert,
  MonitorAlertKind,
  MonitorError,
  MonitorOptions,
  MonitorPass,
  MonitorSinkStatus,
  MonitorStatus,
} from "./reconcile/monitor-types.js";
export {
  DEFAULT_LAG_TOLERANCE_MS,
  DEFAULT_MAX_FINDINGS,
  reconcile,
} from "./reconcile/reconcile.js";
export { type RenderOptions, renderReport } from "./reconcile/render.js";
export {
  type RepairAction,
  type RepairActionKind,
  type RepairError,
  type RepairOptions,
  type RepairOutcome,
  type RepairResult,
  repair,
  type SinkRepair,
  type Unresolved,
} from "./reconcile/repair.js";
export type { InterruptedSettlement } from "./reconcile/settle.js";
export type {
  BucketDigest,
  CheckpointReport,
  ConsistencyWindow,
  DigestSplit,
  DigestStats,
  DuplicateFinding,
  Finding,
  FindingCounts,
  FindingFor,
  FindingKind,
  FindingOf,
  FreezePolicy,
  HashRange,
  HistoryError,
  HistoryOptions,
  InterruptedAction,
  ListedFindingKind,
  MismatchedFinding,
  MismatchReason,
  MissingLateFinding,
  MissingLostFinding,
  Observation,
  ObserveRange,
  PayloadDifference,
  ReconcileOptions,
  ReconcileProgress,
  ReconcileReport,
  ReconcileSink,
  ReportRange,
  SinkDigest,
  SinkReadFailure,
  SinkReport,
  UnexpectedFinding,
} from "./reconcile/types.js";
export {
  FINDING_KINDS,
  LISTED_FINDING_KINDS,
  MISMATCH_REASONS,
} from "./reconcile/types.js";
export {
  type PayloadProblem,
  type PayloadSample,
  type PayloadVerification,
  type VerifySinkPayloadsOptions,
  verifySinkPayloads,
} from "./reconcile/verify-payloads.js";
export type {
  ChangeDirection,
  JsonSchema,
  SchemaChange,
  SchemaChangeKind,
} from "./schema/compatibility.js";
export {
  type CompatibilityMode,
  createSchemaRegistry,
  type PayloadSchema,
  type RegisteredSchema,
  type SchemaRegistration,
  type SchemaRegistry,
  type SchemaRegistryOptions,
  type SchemaValidation,
  type UpcastContext,
  type Upcaster,
  type UpcastResult,
  type UpcastStep,
} from "./schema/registry.js";
export type { ReadySink, ReadySinkOptions } from "./sinks/types.js";
