/**
 * Upcasting: walking an envelope's payload from its schema version up to the one wanted,
 * one version at a time (through the version's upcaster, or as-is where a backward
 * compatible version declares none), and sealing the result as a new envelope.
 *
 * Owns: the upcast chain and the id of an upcast envelope. Promises: the envelope given
 * is never changed (sealed envelopes never change); the result has its own id (the same
 * for the same upcast), the target version, its own checksum of the same algorithm, and
 * `parents` naming the original; every failure is a `SchemaRegistryError` with its code
 * (`unknown_schema`, `downcast`, `upcast_gap`, `upcast_failed`, `upcast_invalid`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import { algorithmOf } from "../checksum/checksum.js";
import { checkEnvelope } from "../envelope/check.js";
import type { Envelope } from "../envelope/schema.js";
import { seal } from "../envelope/seal.js";
import { payloadLimits } from "../envelope/verify.js";
import { SchemaRegistryError } from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { jsonCopy, parse } from "./parse.js";
import type {
  RegisteredSchema,
  RegistryTypes,
  TypeState,
  UpcastResult,
  UpcastStep,
} from "./types.js";

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/**
 * The id of `original` upcast to `version`: the original's time part, then 80 bits of
 * SHA-256(original id, version). The same upcast always gets the same id (a sink that
 * stores by id sees one row however often it is delivered), and it sorts with the original.
 */
function upcastId(original: string, version: number): string {
  const digest = createHash("sha256").update(`${original}\n${version}`).digest();
  let bits = 0n;
  for (let i = 0; i < 10; i++) bits = (bits << 8n) | BigInt(digest[i] as number);
  let random = "";
  for (let i = 0; i < 16; i++) {
    random = CROCKFORD.charAt(Number(bits & 31n)) + random;
    bits >>= 5n;
  }
  return original.slice(0, 10) + random;
}

/**
 * Brings `envelope` to `toVersion` (default: the latest registered in `types`); see
 * `SchemaRegistry.upcast`.
 */
export function upcastEnvelope(
  types: RegistryTypes,
  envelope: Envelope,
  toVersion: number | undefined,
): UpcastResult {
  // Only an intact envelope is upcast: a damaged one would become a valid-looking new one.
  checkEnvelope(envelope, payloadLimits(undefined));
  const type = envelope.schema.name;
  const from = envelope.schema.version;
  const state = types.state(type);
  if (state === undefined || types.lookup(type, from) === undefined) {
    throw new SchemaRegistryError(
      "unknown_schema",
      `No schema "${type}" version ${from} is registered`,
      { key: envelope.key, path: "$.schema" },
    );
  }
  const to = targetVersion(state, envelope, type, from, toVersion);
  if (to === from) return Object.freeze({ envelope, original: envelope, steps: Object.freeze([]) });
  const { value, steps } = walk(state, envelope, type, from, to);
  const time = Date.parse(envelope.time);
  const upcasted = seal(
    {
      producer: envelope.producer,
      stream: envelope.stream,
      seq: envelope.seq,
      type: envelope.type,
      schema: { name: type, version: to },
      payload: value,
      key: envelope.key,
      trace: envelope.trace,
      parents: [envelope.id],
    },
    {
      clock: () => time,
      ids: () => upcastId(envelope.id, to),
      algorithm: algorithmOf(envelope.checksum),
    },
  ) as Envelope;
  return Object.freeze({ envelope: upcasted, original: envelope, steps: Object.freeze(steps) });
}

/** The checked target version: registered, and not below the envelope's. */
function targetVersion(
  state: TypeState,
  envelope: Envelope,
  type: string,
  from: number,
  toVersion: number | undefined,
): number {
  const to = toVersion ?? state.versions.length;
  if (typeof to !== "number" || !Number.isInteger(to) || to < 1) {
    invalidArgument("toVersion", `must be a positive integer, got ${describe(to)}`);
  }
  if (to < from) {
    throw new SchemaRegistryError(
      "downcast",
      `Cannot bring "${type}" version ${from} down to version ${to}: upcasters only go up`,
      { key: envelope.key, path: "$.schema.version" },
    );
  }
  if (to > state.versions.length) {
    throw new SchemaRegistryError(
      "upcast_gap",
      `Cannot upcast "${type}" from version ${from} to ${to}: versions ${state.versions.length + 1} to ${to} are not registered`,
      { key: envelope.key, path: "$.schema.version" },
    );
  }
  return to;
}

/** The payload walked from `from` up to `to`, each step's result read by its version's schema. */
function walk(
  state: TypeState,
  envelope: Envelope,
  type: string,
  from: number,
  to: number,
): { value: unknown; steps: UpcastStep[] } {
  const steps: UpcastStep[] = [];
  let value: unknown = envelope.payload;
  for (let v = from + 1; v <= to; v++) {
    const step = state.upcasters.get(v);
    const target = state.versions[v - 1] as RegisteredSchema;
    if (step === undefined) {
      const mode = target.compatibility;
      if (!(mode.startsWith("BACKWARD") || mode.startsWith("FULL"))) {
        throw new SchemaRegistryError(
          "upcast_gap",
          `Cannot upcast "${type}" from version ${v - 1} to ${v}: version ${v} declares no upcaster and was registered as ${mode}, so it is not known to read version ${v - 1} data`,
          { key: envelope.key, path: "$.schema.version" },
        );
      }
    } else {
      try {
        value = step(jsonCopy(value, "payload"), { name: type, from: v - 1, to: v, envelope });
      } catch (error) {
        throw new SchemaRegistryError(
          "upcast_failed",
          `The upcaster of "${type}" from version ${v - 1} to ${v} threw: ${error instanceof Error ? error.message : String(error)}`,
          { key: envelope.key, cause: error },
        );
      }
    }
    steps.push(Object.freeze({ from: v - 1, to: v, via: step === undefined ? "as-is" : "upcast" }));
    // Read by version v's schema, as data of version v is (defaults applied), so the
    // next upcaster gets a valid version v payload and the last result is validated.
    const result = parse(target.schema, value, ["payload"]);
    if (!result.success) {
      throw new SchemaRegistryError(
        "upcast_invalid",
        `The payload upcast from "${type}" version ${from} fails version ${v}: ${result.issues[0]?.path} ${result.issues[0]?.message}`,
        { key: envelope.key, path: result.issues[0]?.path },
        result.issues,
      );
    }
    value = result.data;
  }
  return { value, steps };
}
