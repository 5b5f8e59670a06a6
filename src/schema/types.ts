/**
 * The schema registry's types: what a registration gives, what the registry keeps of a
 * version, what `validate` and `upcast` return, and the `SchemaRegistry` interface itself;
 * also `TypeState`, the registry's record of one schema name (internal, not exported from
 * the package).
 *
 * Owns: the shapes only. Checking a registration is `prepare.ts`'s, upcasting
 * `upcast.ts`'s, and the registry that holds them together `registry.ts`'s, which
 * re-exports the public types from here.
 *
 * @module
 */

import type { z } from "zod";
import type { Envelope, JsonValue } from "../envelope/schema.js";
import type { ValidationIssue } from "../errors.js";
import type { Metrics } from "../observe/metrics.js";
import type { JsonSchema, SchemaChange } from "./compatibility.js";

/**
 * How a new version must relate to earlier ones, as in Confluent Schema Registry.
 * - `BACKWARD`: the new schema reads data written with the previous one (consumers
 *   upgrade first). The default.
 * - `FORWARD`: the previous schema reads data written with the new one (producers
 *   upgrade first).
 * - `FULL`: both.
 * - `*_TRANSITIVE`: the same, against every earlier version, not only the previous one.
 * - `NONE`: no check.
 */
export type CompatibilityMode =
  | "BACKWARD"
  | "BACKWARD_TRANSITIVE"
  | "FORWARD"
  | "FORWARD_TRANSITIVE"
  | "FULL"
  | "FULL_TRANSITIVE"
  | "NONE";

/** A zod 4 schema: what the registry converts to JSON Schema and validates with. */
export type PayloadSchema = z.ZodType;

/** What an upcaster is told besides the payload. */
export interface UpcastContext {
  /** The schema name: the envelope's `schema.name`. */
  readonly name: string;
  /** The version of the payload it receives. */
  readonly from: number;
  /** The version it must return. */
  readonly to: number;
  /**
   * The envelope being upcast (the original, at its own version); undefined when the
   * registry runs the upcaster on registered examples to check it.
   */
  readonly envelope: Envelope | undefined;
}

/** Turns a payload of the previous version into one of this version. */
export type Upcaster = (payload: JsonValue, context: UpcastContext) => unknown;

/** What {@link SchemaRegistry.register} takes. */
export interface SchemaRegistration {
  /**
   * The schema name: an envelope's `schema.name` (not its event `type`; several event
   * types may share one schema). 1-256 characters. Called `type` before 0.2.
   */
  readonly name: string;
  /** A positive integer: 1 for the first registration of a schema, then one more each time. */
  readonly version: number;
  /** The payload's zod 4 schema. */
  readonly schema: PayloadSchema;
  /**
   * Sample payloads of this version. Each must pass `schema`. They are the evidence for
   * compatibility by example (earlier versions' examples must pass a BACKWARD-compatible
   * new schema; a FORWARD-compatible new version's examples must pass the earlier
   * schemas) and for upcasters, which are run on the previous version's examples.
   */
  readonly examples?: readonly unknown[] | undefined;
  /** Converts a payload of `version - 1` to this version; see {@link Upcaster}. */
  readonly upcast?: Upcaster | undefined;
  /**
   * Marks the version deprecated: emitting it still works, but counts
   * `sinkproof.schema.deprecated` and warns once. A string says why or what to use.
   * @default false
   */
  readonly deprecated?: boolean | string | undefined;
  /**
   * The schema's compatibility mode from this version on.
   * @default the registry's `compatibility`, or the mode set by an earlier version
   */
  readonly compatibility?: CompatibilityMode | undefined;
}

/** One registered version, as the registry keeps it. */
export interface RegisteredSchema {
  /** The schema name: an envelope's `schema.name`. */
  readonly name: string;
  /** The version. */
  readonly version: number;
  /** The zod schema. */
  readonly schema: PayloadSchema;
  /** JSON Schema of what the schema accepts and produces. */
  readonly jsonSchema: {
    /** What it accepts (`z.toJSONSchema(schema, { io: "input" })`): the reader side. */
    readonly input: JsonSchema;
    /** What it produces (`io: "output"`): the writer side. */
    readonly output: JsonSchema;
  };
  /** The examples, deep-frozen. */
  readonly examples: readonly JsonValue[];
  /** Deprecation note, or undefined when the version is current. */
  readonly deprecated: string | undefined;
  /** The mode this version was checked under. */
  readonly compatibility: CompatibilityMode;
  /** True when the version declares an upcaster from the previous one. */
  readonly hasUpcast: boolean;
}

/** What {@link SchemaRegistry.validate} returns: the parsed payload, or every issue. */
export type SchemaValidation =
  | {
      /** The payload is valid. */
      readonly success: true;
      /** The parsed payload. */
      readonly data: unknown;
    }
  | {
      /** The payload is invalid. */
      readonly success: false;
      /** Every issue: path, code, message. */
      readonly issues: readonly ValidationIssue[];
    };

/** One step of an upcast chain. */
export interface UpcastStep {
  /** The version it started from. */
  readonly from: number;
  /** The version it reached. */
  readonly to: number;
  /** `upcast`: the declared upcaster ran; `as-is`: the version reads the previous one's data unchanged. */
  readonly via: "upcast" | "as-is";
}

/** What {@link SchemaRegistry.upcast} returns. */
export interface UpcastResult {
  /**
   * The envelope at the target version: a new id, the target schema version, the
   * upcast payload and its own checksum (same algorithm); producer, stream, seq, type,
   * key, time and trace of the original; `parents` is the original's id. When no step
   * was needed, the original envelope itself.
   */
  readonly envelope: Envelope;
  /** The envelope it was made from. */
  readonly original: Envelope;
  /** The steps taken, in order; empty when the envelope already was at the target. */
  readonly steps: readonly UpcastStep[];
}

/** Options of {@link createSchemaRegistry}. */
export interface SchemaRegistryOptions {
  /**
   * The default compatibility mode of every schema.
   * @default "BACKWARD"
   */
  readonly compatibility?: CompatibilityMode | undefined;
  /** Where `sinkproof.schema.deprecated` is counted. */
  readonly metrics?: Metrics | undefined;
  /**
   * Called once per deprecated (schema name, version) the first time it is emitted.
   * @default a Node.js `DeprecationWarning` (code `SINKPROOF_DEPRECATED_SCHEMA`)
   */
  readonly warn?: ((message: string) => void) | undefined;
}

/** A registry of payload schemas; see {@link createSchemaRegistry}. */
export interface SchemaRegistry {
  /**
   * Registers a version after checking it against earlier ones under the schema's
   * compatibility mode. Throws {@link SchemaCompatibilityError} (nothing registered) when
   * it breaks them, `InvalidArgumentError` for a malformed registration.
   */
  register(registration: SchemaRegistration): RegisteredSchema;
  /**
   * The breaking changes `register` would find, without registering: empty when the
   * registration would be accepted.
   */
  check(registration: SchemaRegistration): readonly SchemaChange[];
  /** One registered version, or undefined. */
  get(name: string, version: number): RegisteredSchema | undefined;
  /** The highest registered version of a schema, or undefined when it has none. */
  latest(name: string): number | undefined;
  /** The registered versions of a schema, in order. */
  versions(name: string): readonly number[];
  /** Every registered schema name. */
  names(): readonly string[];
  /** The compatibility mode of a schema. */
  compatibility(name: string): CompatibilityMode;
  /**
   * Validates a payload against a version: the parsed value (defaults applied, unknown
   * keys stripped as the schema says), or every issue with its path (`$.items[0].sku`),
   * code and message. An unknown schema or version is an issue too (code `unknown_schema`).
   */
  validate(name: string, version: number, payload: unknown): SchemaValidation;
  /**
   * Brings an envelope's payload to `toVersion` (default: the latest) by chaining the
   * upcasters of the versions in between, and validates the result against the target
   * schema. Throws {@link SchemaRegistryError}: `unknown_schema`, `upcast_gap` (a missing
   * step, named), `downcast` (target below the envelope's version), `upcast_failed` (an
   * upcaster threw) or `upcast_invalid` (the result fails the target schema).
   */
  upcast(envelope: Envelope, toVersion?: number): UpcastResult;
  /**
   * Counts and warns (once per version) when `schema` is deprecated; used by the
   * producer at emit time. Returns the deprecation note, or undefined.
   */
  noteEmitted(name: string, version: number): string | undefined;
}

/** One schema name's versions, upcasters and current mode, as the registry keeps them. */
export interface TypeState {
  /** Every registered version, in order: version `v` at index `v - 1`. */
  readonly versions: RegisteredSchema[];
  /** The upcaster of each version that declares one, by that version. */
  readonly upcasters: Map<number, Upcaster>;
  /** The mode set by the latest version. */
  mode: CompatibilityMode;
}

/** What checking a registration and upcasting read of a registry's state. */
export interface RegistryTypes {
  /** The state of a schema name, or undefined when none of its versions is registered. */
  state(name: string): TypeState | undefined;
  /** One registered version, or undefined (also for a name or version that is no string or number). */
  lookup(name: string, version: number): RegisteredSchema | undefined;
}
