/**
 * Writing your own ledger adapter: extend BaseLedger, implement the `_` methods (store
 * and fetch only; BaseLedger checks arguments, verifies envelopes and keeps the rules),
 * and prove it with the public conformance suite from `sinkproof/testing`.
 *
 * This one keeps its whole state in one JSON document and rewrites it, atomically
 * (write-temp + rename), on every change: durable, simple, and slow. It is a template,
 * not something to run in production. The test suite runs the conformance suite on it
 * (test/ledger/custom.test.ts); run this file to see it used.
 *
 * Run: npx tsx examples/custom-ledger.ts  (after `npm run build`; it imports the package)
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type AuditHead,
  type AuditRecord,
  type Claim,
  type ClaimResult,
  type Envelope,
  type LedgerCapabilities,
  type LedgerEntry,
  type LedgerOptions,
  type Receipt,
  type ReconcileCheckpoint,
  type SinkFreeze,
  seal,
} from "sinkproof";
import {
  type AppendOutcome,
  BaseLedger,
  type ClaimRequest,
  type EntryScan,
  type FreezeChange,
  type FreezeChanged,
  isFinalStatus,
  planAppend,
  type ReceiptsCompacted,
} from "sinkproof/ledger";

interface State {
  entries: LedgerEntry[];
  sequences: Record<string, number>;
  receipts: Receipt[];
  watermarks: Record<string, number>;
  /** Released claims stay (with `released: true`): they keep the key's last fencing token. */
  claims: Array<Claim & { released?: boolean }>;
  freezes: SinkFreeze[];
  audit: AuditRecord[];
  /** Reconciliation checkpoints by sink (optional: files written before they existed). */
  checkpoints?: Record<string, ReconcileCheckpoint>;
}

export class JsonFileLedger extends BaseLedger {
  readonly capabilities: LedgerCapabilities = {
    durability: "fsync",
    concurrency: "single-process",
    claims: "durable",
    clock: "injected",
  };
  readonly file: string;
  #state: State;

  constructor(file: string, options: LedgerOptions = {}) {
    super(options);
    this.file = file;
    try {
      this.#state = JSON.parse(readFileSync(file, "utf8")) as State;
    } catch {
      this.#state = {
        entries: [],
        sequences: {},
        receipts: [],
        watermarks: {},
        claims: [],
        freezes: [],
        audit: [],
      };
    }
  }

  /** Every change: write the whole document to a temp file, then rename it over the old one. */
  #save(): void {
    const temp = `${this.file}.${randomUUID()}.tmp`;
    writeFileSync(temp, JSON.stringify(this.#state), { flush: true });
    renameSync(temp, this.file);
  }

  protected async _append(
    envelopes: readonly Envelope[],
    appendedAt: string,
  ): Promise<AppendOutcome> {
    const { entries } = this.#state;
    // planAppend decides existing / new / clash from two lookups.
    const plan = planAppend(
      envelopes,
      (key) => entries.find((e) => e.envelope.key === key),
      (id) => entries.find((e) => e.envelope.id === id),
    );
    if (!plan.ok) return plan;
    const results = envelopes.map((_, index) => {
      const existing = plan.existing.get(index);
      if (existing !== undefined) return { entry: existing, status: "existing" as const };
      const entry = {
        position: entries.length + 1,
        appendedAt,
        envelope: envelopes[index] as Envelope,
      };
      entries.push(entry);
      return { entry, status: "appended" as const };
    });
    this.#save();
    return { ok: true, results };
  }

  protected async _getByKey(key: string) {
    return this.#state.entries.find((e) => e.envelope.key === key);
  }

  protected async _getById(id: string) {
    return this.#state.entries.find((e) => e.envelope.id === id);
  }

  protected async *_scan(scan: EntryScan) {
    let left = scan.limit;
    for (const entry of this.#state.entries.slice(scan.from - 1, scan.to)) {
      if (left === 0) return;
      if (scan.producer !== undefined && entry.envelope.producer !== scan.producer) continue;
      if (scan.stream !== undefined && entry.envelope.stream !== scan.stream) continue;
      left--;
      yield entry;
    }
  }

  protected async _head() {
    return this.#state.entries.length;
  }

  protected async _reserveSequence(producer: string, count: number) {
    const first = this.#state.sequences[producer] ?? 0;
    this.#state.sequences[producer] = first + count;
    this.#save();
    return first;
  }

  protected async _putReceipt(receipt: Receipt) {
    // The fence: a final receipt with a fencing token is stored only under the key's claim
    // held now with that token (not taken over, not released).
    const latest = this.#state.claims.find((c) => c.sink === receipt.sink && c.key === receipt.key);
    if (
      isFinalStatus(receipt.status) &&
      receipt.fencingToken !== undefined &&
      (latest === undefined || latest.released || latest.fencingToken !== receipt.fencingToken)
    ) {
      return false;
    }
    this.#state.receipts.push(receipt);
    this.#save();
    return true;
  }

  protected async _getReceipts(sink: string, key: string) {
    return this.#state.receipts.filter((r) => r.sink === sink && r.key === key);
  }

  protected async *_scanReceipts(sink: string, from: number, to: number) {
    const mine = this.#state.receipts.filter(
      (r) => r.sink === sink && r.position >= from && r.position <= to,
    );
    // A stable sort keeps the put order within a position.
    yield* mine.sort((a, b) => a.position - b.position);
  }

  protected async _getWatermark(sink: string) {
    return this.#state.watermarks[sink] ?? 0;
  }

  protected async _advanceWatermark(sink: string, position: number) {
    const next = Math.max(this.#state.watermarks[sink] ?? 0, position);
    this.#state.watermarks[sink] = next;
    this.#save();
    return next;
  }

  protected async _claim(request: ClaimRequest): Promise<ClaimResult> {
    // No await between reading and writing: each `_` method must be atomic, and another
    // call could run at an await (a receipt put, say, between the check and the claim).
    const done = this.#state.receipts
      .filter((r) => r.sink === request.sink && r.key === request.key && isFinalStatus(r.status))
      .at(-1);
    if (done !== undefined && !request.ignoreDone) return { status: "done", receipt: done };
    const claims = this.#state.claims;
    const index = claims.findIndex((c) => c.sink === request.sink && c.key === request.key);
    const current = claims[index];
    if (
      current !== undefined &&
      current.released !== true &&
      current.expiresAt > request.now &&
      current.owner !== request.takeOverFrom
    ) {
      return { status: "held", owner: current.owner, expiresAt: current.expiresAt };
    }
    const claim = {
      sink: request.sink,
      key: request.key,
      owner: request.owner,
      token: request.token,
      // Above every token this key had: the claim rows are never deleted.
      fencingToken: (current?.fencingToken ?? 0) + 1,
      expiresAt: request.expiresAt,
    };
    if (index >= 0) claims[index] = claim;
    else claims.push(claim);
    this.#save();
    return { status: "acquired", claim };
  }

  protected async _renewClaim(claim: Claim, expiresAt: number) {
    const claims = this.#state.claims;
    const index = claims.findIndex((c) => c.sink === claim.sink && c.key === claim.key);
    const current = claims[index];
    if (current === undefined || current.token !== claim.token || current.released === true)
      return false;
    claims[index] = { ...current, expiresAt };
    this.#save();
    return true;
  }

  protected async _releaseClaim(claim: Claim) {
    const claims = this.#state.claims;
    const index = claims.findIndex(
      (c) => c.sink === claim.sink && c.key === claim.key && c.token === claim.token,
    );
    const current = claims[index];
    if (current === undefined || current.released === true) return false;
    claims[index] = { ...current, released: true };
    this.#save();
    return true;
  }

  protected async _changeFreeze(
    change: FreezeChange,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<FreezeChanged> {
    const { freezes, audit } = this.#state;
    const before = freezes.find((f) => f.sink === change.sink && f.origin === change.origin);
    if ((before === undefined) === (change.freeze === undefined))
      return { before, record: undefined };
    const last = audit.at(-1);
    const record = make(last === undefined ? undefined : { index: last.index, hash: last.hash });
    audit.push(record);
    this.#state.freezes = freezes.filter((f) => f !== before);
    if (change.freeze !== undefined)
      this.#state.freezes.push({ ...change.freeze, audit: record.index });
    this.#save(); // the freeze and its audit record: one write, both or neither
    return { before, record };
  }

  /** Reconciliation checkpoints: one small record per sink, replaced by each put. */
  protected override async _getCheckpoint(sink: string): Promise<ReconcileCheckpoint | undefined> {
    return this.#state.checkpoints?.[sink];
  }

  protected override async _putCheckpoint(checkpoint: ReconcileCheckpoint): Promise<void> {
    this.#state.checkpoints = { ...this.#state.checkpoints, [checkpoint.sink]: checkpoint };
    this.#save();
  }

  /** Retention: under `through`, each key of `sink` keeps only its last final receipt. */
  protected override async _compactReceipts(
    sink: string,
    through: number,
    make: (previous: AuditHead | undefined) => AuditRecord,
  ): Promise<ReceiptsCompacted> {
    const { receipts, audit } = this.#state;
    const keep = new Map<string, Receipt>(); // key -> its last final receipt
    for (const r of receipts) {
      if (r.sink === sink && r.position <= through && isFinalStatus(r.status)) keep.set(r.key, r);
    }
    this.#state.receipts = receipts.filter(
      (r) => r.sink !== sink || r.position > through || !keep.has(r.key) || keep.get(r.key) === r,
    );
    const last = audit.at(-1);
    const record = make(last === undefined ? undefined : { index: last.index, hash: last.hash });
    audit.push(record);
    this.#save(); // the receipts and the audit record: one write, both or neither
    return { removed: receipts.length - this.#state.receipts.length, record };
  }

  protected async _getFreezes(sink: string | undefined) {
    return this.#state.freezes
      .filter((f) => sink === undefined || f.sink === sink)
      .sort((a, b) => (a.sink === b.sink ? a.audit - b.audit : a.sink < b.sink ? -1 : 1));
  }

  protected async _appendAudit(make: (previous: AuditHead | undefined) => AuditRecord) {
    const last = this.#state.audit.at(-1);
    const record = make(last === undefined ? undefined : { index: last.index, hash: last.hash });
    this.#state.audit.push(record);
    this.#save();
    return record;
  }

  protected async *_scanAudit() {
    yield* this.#state.audit.slice();
  }

  protected async _close() {}
}

// Used directly when run as a script (the test suite imports the class instead).
if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? "")).href) {
  const dir = mkdtempSync(join(tmpdir(), "sinkproof-custom-"));
  try {
    const file = join(dir, "ledger.json");
    const ledger = new JsonFileLedger(file);
    const envelope = seal({
      producer: "p",
      seq: 0,
      type: "t",
      schema: { name: "t", version: 1 },
      payload: { hello: "world" },
    });
    await ledger.append([envelope]);
    await ledger.close();
    const reopened = new JsonFileLedger(file);
    const head = await reopened.head();
    const entry = await reopened.get(envelope.key);
    console.log("after reopen:", head, "entry;", entry?.envelope.payload);
    // What was appended is there after the restart, verified by the core on the way out.
    assert.equal(head, 1);
    assert.deepEqual(entry?.envelope, envelope);
    await reopened.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
