/**
 * `createSchemaRegistry`: versioned payload schemas per schema name, compatibility checked
 * at registration, validation at emit time, and upcasters that bring old payloads to a
 * newer version.
 *
 * Owns: which versions of a schema exist and how they relate. Promises:
 * - versions of one schema are registered in order, 1, 2, 3, …; a registration that
 *   breaks the schema's compatibility mode throws a {@link SchemaCompatibilityError}
 *   listing every breaking change, and registers nothing;
 * - `validate` never throws on a payload: it returns the parsed value or every issue;
 * - `upcast` never changes the envelope it is given (sealed envelopes never change): it
 *   returns a new envelope at the target version, with its own id and checksum, whose
 *   `parents` name the original.
 *
 * The registry's `type` is the envelope's `schema.name`; several event types may share
 * one schema.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { z } from "zod";
import { canonicalize } from "../canonical/canonicalize.js";
import { algorithmOf } from "../checksum/checksum.js";
import { checkEnvelope } from "../envelope/check.js";
import { zodIssues } from "../envelope/issues.js";
import { ENVELOPE_LIMITS, type Envelope, isCleanText, type JsonValue } from "../envelope/schema.js";
import { seal } from "../envelope/seal.js";
import { payloadLimits } from "../envelope/verify.js";
import {
  isSinkproofError,
  SchemaCompatibilityError,
  SchemaRegistryError,
  type ValidationIssue,
} from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { deepFreeze } from "../internal/freeze.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { logger } from "../observe/debug.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import {
  type ChangeDirection,
  type JsonSchema,
  OPAQUE,
  readerChanges,
  type SchemaChange,
} from "./compatibility.js";

const log = logger("schema");

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

const MODES: ReadonlySet<string> = new Set([
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE",
  "NONE",
]);

/** A zod 4 schema: what the registry converts to JSON Schema and validates with. */
export type PayloadSchema = z.ZodType;

/** What an upcaster is told besides the payload. */
export interface UpcastContext {
  /** The schema name. */
  readonly type: string;
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
  /** The schema name: an envelope's `schema.name`. 1-256 characters. */
  readonly type: string;
  /** A positive integer: 1 for the first registration of a type, then one more each time. */
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
   * The type's compatibility mode from this version on.
   * @default the registry's `compatibility`, or the mode set by an earlier version
   */
  readonly compatibility?: CompatibilityMode | undefined;
}

/** One registered version, as the registry keeps it. */
export interface RegisteredSchema {
  /** The schema name. */
  readonly type: string;
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
   * The default compatibility mode of every type.
   * @default "BACKWARD"
   */
  readonly compatibility?: CompatibilityMode | undefined;
  /** Where `sinkproof.schema.deprecated` is counted. */
  readonly metrics?: Metrics | undefined;
  /**
   * Called once per deprecated (type, version) the first time it is emitted.
   * @default a Node.js `DeprecationWarning` (code `SINKPROOF_DEPRECATED_SCHEMA`)
   */
  readonly warn?: ((message: string) => void) | undefined;
}

/** A registry of payload schemas; see {@link createSchemaRegistry}. */
export interface SchemaRegistry {
  /**
   * Registers a version after checking it against earlier ones under the type's
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
  get(type: string, version: number): RegisteredSchema | undefined;
  /** The highest registered version of a type, or undefined when it has none. */
  latest(type: string): number | undefined;
  /** The registered versions of a type, in order. */
  versions(type: string): readonly number[];
  /** Every registered type. */
  types(): readonly string[];
  /** The compatibility mode of a type. */
  compatibility(type: string): CompatibilityMode;
  /**
   * Validates a payload against a version: the parsed value (defaults applied, unknown
   * keys stripped as the schema says), or every issue with its path (`$.items[0].sku`),
   * code and message. An unknown type or version is an issue too (code `unknown_schema`).
   */
  validate(type: string, version: number, payload: unknown): SchemaValidation;
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
  noteEmitted(type: string, version: number): string | undefined;
}

interface TypeState {
  readonly versions: RegisteredSchema[];
  readonly upcasters: Map<number, Upcaster>;
  mode: CompatibilityMode;
}

function isZodSchema(value: unknown): value is PayloadSchema {
  return (
    typeof value === "object" &&
    value !== null &&
    "_zod" in value &&
    typeof (value as { safeParse?: unknown }).safeParse === "function"
  );
}

function toJsonSchema(schema: PayloadSchema, io: "input" | "output"): JsonSchema {
  try {
    return z.toJSONSchema(schema, {
      io,
      unrepresentable: "any",
      // A node zod cannot describe (a date, a transform's output, a bigint, a custom
      // check) becomes `{}`, which would read as "any value": tag it instead.
      override: (ctx) => {
        const kind = (ctx.zodSchema as { _zod?: { def?: { type?: unknown } } })._zod?.def?.type;
        if (Object.keys(ctx.jsonSchema).length === 0 && kind !== "any" && kind !== "unknown") {
          (ctx.jsonSchema as Record<string, unknown>)[OPAQUE] = String(kind);
        }
      },
    }) as JsonSchema;
  } catch (error) {
    return invalidArgument(
      "registration.schema",
      `cannot be described as JSON Schema (${error instanceof Error ? error.message : String(error)})`,
      error,
    );
  }
}

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

/** `safeParse` that never throws: a throwing schema (async refinement, stack overflow) is an issue. */
function parse(
  schema: PayloadSchema,
  value: unknown,
  base: readonly PropertyKey[],
): SchemaValidation {
  try {
    const result = schema.safeParse(value);
    if (result.success) return { success: true, data: result.data };
    return { success: false, issues: zodIssues(result.error.issues, base) };
  } catch (error) {
    return {
      success: false,
      issues: [
        {
          path: base.length === 0 ? "$" : `$.${base.map(String).join(".")}`,
          code: "schema_threw",
          message: `the schema threw: ${error instanceof Error ? error.message : String(error)}`,
        },
      ],
    };
  }
}

/** Copies a JSON value (examples, upcaster input) so nothing the caller holds is shared. */
function jsonCopy(value: unknown, where: string): JsonValue {
  try {
    return JSON.parse(canonicalize(value)) as JsonValue;
  } catch (error) {
    return invalidArgument(where, "must be a JSON value", error);
  }
}

const REGISTRATION_KEYS = optionKeys<SchemaRegistration>()(
  "type",
  "version",
  "schema",
  "examples",
  "upcast",
  "deprecated",
  "compatibility",
);
const REGISTRY_KEYS = optionKeys<SchemaRegistryOptions>()("compatibility", "metrics", "warn");

/**
 * Creates a schema registry.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { createSchemaRegistry } from "sinkproof";
 *
 * const registry = createSchemaRegistry(); // BACKWARD by default
 * registry.register({
 *   type: "order", version: 1,
 *   schema: z.object({ orderId: z.string(), total: z.number() }),
 *   examples: [{ orderId: "o-1", total: 42 }],
 * });
 * registry.register({
 *   type: "order", version: 2,
 *   schema: z.object({ orderId: z.string(), total: z.number(), currency: z.string().default("EUR") }),
 * }); // adding a field with a default is backward compatible
 * registry.validate("order", 2, { orderId: "o-2", total: 5 });
 * // { success: true, data: { orderId: "o-2", total: 5, currency: "EUR" } }
 * ```
 */
export function createSchemaRegistry(registryOptions?: SchemaRegistryOptions): SchemaRegistry {
  const options = readOptions<SchemaRegistryOptions>(registryOptions, "options", REGISTRY_KEYS);
  const defaultMode = checkMode(options.compatibility ?? "BACKWARD", "options.compatibility");
  const metrics = safeMetrics(checkMetrics(options.metrics, "options.metrics"));
  const warn =
    options.warn ??
    ((message: string) =>
      process.emitWarning(message, {
        type: "DeprecationWarning",
        code: "SINKPROOF_DEPRECATED_SCHEMA",
      }));
  if (typeof warn !== "function") {
    invalidArgument("options.warn", `must be a function, got ${describe(warn)}`);
  }
  const types = new Map<string, TypeState>();
  const warned = new Set<string>();

  function checkMode(mode: unknown, where: string): CompatibilityMode {
    if (typeof mode !== "string" || !MODES.has(mode)) {
      invalidArgument(where, `must be one of ${[...MODES].join(", ")}, got ${describe(mode)}`);
    }
    return mode as CompatibilityMode;
  }

  function checkType(type: unknown, where: string): string {
    if (
      typeof type !== "string" ||
      type.length === 0 ||
      type.length > ENVELOPE_LIMITS.schemaName ||
      !isCleanText(type)
    ) {
      invalidArgument(
        where,
        `must be a schema name of 1-${ENVELOPE_LIMITS.schemaName} characters without control characters, noncharacters or lone surrogates, got ${describe(type)}`,
      );
    }
    return type;
  }

  interface Prepared {
    readonly entry: RegisteredSchema;
    readonly upcast: Upcaster | undefined;
    readonly state: TypeState | undefined;
  }

  function prepare(given: SchemaRegistration): Prepared {
    if (typeof given !== "object" || given === null) {
      invalidArgument("registration", `must be an object, got ${describe(given)}`);
    }
    const registration = readOptions<SchemaRegistration>(
      given,
      "registration",
      REGISTRATION_KEYS,
    ) as SchemaRegistration;
    const type = checkType(registration.type, "registration.type");
    const state = types.get(type);
    const expected = (state?.versions.length ?? 0) + 1;
    const version = registration.version;
    if (version !== expected) {
      invalidArgument(
        "registration.version",
        `must be ${expected}: versions of "${type}" are registered in order from 1, got ${typeof version === "number" ? version : describe(version)}`,
      );
    }
    if (!isZodSchema(registration.schema)) {
      invalidArgument(
        "registration.schema",
        `must be a zod 4 schema, got ${describe(registration.schema)}`,
      );
    }
    const upcast = registration.upcast;
    if (upcast !== undefined && typeof upcast !== "function") {
      invalidArgument("registration.upcast", `must be a function, got ${describe(upcast)}`);
    }
    if (upcast !== undefined && version === 1) {
      invalidArgument(
        "registration.upcast",
        "cannot be given for version 1: it has no previous version",
      );
    }
    const deprecated = registration.deprecated;
    if (
      deprecated !== undefined &&
      typeof deprecated !== "boolean" &&
      typeof deprecated !== "string"
    ) {
      invalidArgument(
        "registration.deprecated",
        `must be a boolean or a string, got ${describe(deprecated)}`,
      );
    }
    const mode =
      registration.compatibility === undefined
        ? (state?.mode ?? defaultMode)
        : checkMode(registration.compatibility, "registration.compatibility");
    const rawExamples = registration.examples ?? [];
    if (!Array.isArray(rawExamples)) {
      invalidArgument("registration.examples", `must be an array, got ${describe(rawExamples)}`);
    }
    const examples = rawExamples.map((example, i) => {
      const copy = jsonCopy(example, `registration.examples[${i}]`);
      const result = parse(registration.schema, copy, []);
      if (!result.success) {
        const first = result.issues[0];
        return invalidArgument(
          `registration.examples[${i}]`,
          `does not pass its own schema: ${first?.path} ${first?.message}`,
        );
      }
      // Kept as a producer would seal it: parsed (defaults filled in, unknown keys
      // stripped) and in JSON form. That is the data later versions must read.
      return deepFreeze(jsonCopy(result.data, `registration.examples[${i}]`));
    });
    const entry: RegisteredSchema = Object.freeze({
      type,
      version,
      schema: registration.schema,
      jsonSchema: Object.freeze({
        input: deepFreeze(toJsonSchema(registration.schema, "input")),
        output: deepFreeze(toJsonSchema(registration.schema, "output")),
      }),
      examples: Object.freeze(examples),
      deprecated:
        deprecated === true
          ? `version ${version} of "${type}" is deprecated`
          : typeof deprecated === "string" && deprecated.length > 0
            ? deprecated
            : undefined,
      compatibility: mode,
      hasUpcast: upcast !== undefined,
    });
    return { entry, upcast, state };
  }

  /**
   * Earlier versions' data read through the chain from `from` to the new version: the
   * upcasters where declared (`upcast` of the new version included), as-is elsewhere.
   */
  function chainExample(
    state: TypeState,
    example: JsonValue,
    from: number,
    newEntry: RegisteredSchema,
    newUpcast: Upcaster | undefined,
  ): { ok: true; value: unknown } | { ok: false; message: string } {
    let value: unknown = example;
    for (let v = from + 1; v <= newEntry.version; v++) {
      const step = v === newEntry.version ? newUpcast : state.upcasters.get(v);
      if (step !== undefined) {
        try {
          value = step(jsonCopy(value, "example") as JsonValue, {
            type: newEntry.type,
            from: v - 1,
            to: v,
            envelope: undefined,
          });
        } catch (error) {
          return {
            ok: false,
            message: `the upcaster to version ${v} threw: ${error instanceof Error ? error.message : String(error)}`,
          };
        }
      }
      // Each step's result is read by its version's schema (defaults applied), as data of
      // that version would be; the new version's own check is the caller's.
      if (v < newEntry.version) {
        const mid = state.versions[v - 1] as RegisteredSchema;
        const result = parse(mid.schema, value, []);
        if (!result.success) {
          return {
            ok: false,
            message: `it fails version ${v} on the way: ${result.issues[0]?.path} ${result.issues[0]?.message}`,
          };
        }
        value = result.data;
      }
    }
    return { ok: true, value };
  }

  function changesOf(prepared: Prepared): SchemaChange[] {
    const { entry, upcast, state } = prepared;
    if (state === undefined || entry.compatibility === "NONE") return [];
    const mode = entry.compatibility;
    const transitive = mode.endsWith("_TRANSITIVE");
    const backward = mode.startsWith("BACKWARD") || mode.startsWith("FULL");
    const forward = mode.startsWith("FORWARD") || mode.startsWith("FULL");
    const earlier = transitive ? state.versions : state.versions.slice(-1);
    const changes: SchemaChange[] = [];
    const example = (
      against: number,
      direction: ChangeDirection,
      index: number,
      result: SchemaValidation,
    ) => {
      if (result.success) return;
      for (const issue of result.issues) {
        changes.push({
          kind: "example-rejected",
          path: issue.path,
          message: `example ${index} of version ${direction === "backward" ? against : entry.version} fails version ${direction === "backward" ? entry.version : against}: ${issue.message}`,
          against,
          direction,
        });
      }
    };
    for (const old of earlier) {
      if (backward) {
        // Is there an upcaster between `old` and the new version? Then old data reaches
        // the new version through it, and only examples can show that it does.
        let throughUpcast = upcast !== undefined;
        for (let v = old.version + 1; v < entry.version; v++) {
          if (state.upcasters.has(v)) throughUpcast = true;
        }
        if (throughUpcast) {
          if (old.examples.length === 0) {
            changes.push({
              kind: "upcast-unverified",
              path: "$",
              message: `data of version ${old.version} reaches version ${entry.version} through an upcaster, and version ${old.version} has no examples to check it with`,
              against: old.version,
              direction: "backward",
            });
          }
          old.examples.forEach((ex, i) => {
            const chained = chainExample(state, ex, old.version, entry, upcast);
            if (!chained.ok) {
              changes.push({
                kind: "upcast-failed",
                path: "$",
                message: `example ${i} of version ${old.version}: ${chained.message}`,
                against: old.version,
                direction: "backward",
              });
              return;
            }
            example(old.version, "backward", i, parse(entry.schema, chained.value, []));
          });
        } else {
          changes.push(
            ...readerChanges(
              old.jsonSchema.output,
              entry.jsonSchema.input,
              "backward",
              old.version,
              entry.version,
            ),
          );
          old.examples.forEach((ex, i) => {
            example(old.version, "backward", i, parse(entry.schema, ex, []));
          });
        }
      }
      if (forward) {
        changes.push(
          ...readerChanges(
            entry.jsonSchema.output,
            old.jsonSchema.input,
            "forward",
            old.version,
            entry.version,
          ),
        );
        entry.examples.forEach((ex, i) => {
          example(old.version, "forward", i, parse(old.schema, ex, []));
        });
      }
    }
    return changes;
  }

  function lookup(type: string, version: number): RegisteredSchema | undefined {
    if (typeof type !== "string" || typeof version !== "number") return undefined;
    return types.get(type)?.versions[version - 1];
  }

  /**
   * Runs a public method: an error that is not sinkproof's (a Proxy's trap, a getter that
   * throws on the caller's argument) becomes an `InvalidArgumentError` naming the argument.
   */
  function boundary<T>(where: string, run: () => T): T {
    try {
      return run();
    } catch (error) {
      if (isSinkproofError(error)) throw error;
      return invalidArgument(
        where,
        `cannot be read: ${error instanceof Error ? error.message : "it threw"}`,
        error,
      );
    }
  }

  const registry: SchemaRegistry = {
    register(registration) {
      return boundary("registration", () => registerNow(registration));
    },
    check(registration) {
      return boundary("registration", () => Object.freeze(changesOf(prepare(registration))));
    },
    get: (type, version) => boundary("type", () => lookup(type, version)),
    latest(type) {
      return types.get(type)?.versions.length || undefined;
    },
    versions(type) {
      return Object.freeze((types.get(type)?.versions ?? []).map((v) => v.version));
    },
    types() {
      return Object.freeze([...types.keys()]);
    },
    compatibility(type) {
      return types.get(type)?.mode ?? defaultMode;
    },
    validate(type, version, payload) {
      return boundary("type", () => validateNow(type, version, payload));
    },
    upcast(envelope, toVersion) {
      return boundary("envelope", () => upcastNow(envelope, toVersion));
    },
    noteEmitted(type, version) {
      return boundary("type", () => noteNow(type, version));
    },
  };
  return Object.freeze(registry);

  function registerNow(registration: SchemaRegistration): RegisteredSchema {
    const prepared = prepare(registration);
    const changes = changesOf(prepared);
    const { entry, upcast } = prepared;
    if (changes.length > 0) {
      throw new SchemaCompatibilityError(entry.type, entry.version, entry.compatibility, changes);
    }
    let state = prepared.state;
    if (state === undefined) {
      state = { versions: [], upcasters: new Map(), mode: entry.compatibility };
      types.set(entry.type, state);
    }
    state.versions.push(entry);
    state.mode = entry.compatibility;
    if (upcast !== undefined) state.upcasters.set(entry.version, upcast);
    log("registered %s v%d (%s)", entry.type, entry.version, entry.compatibility);
    return entry;
  }

  function validateNow(type: string, version: number, payload: unknown): SchemaValidation {
    const entry = lookup(type, version);
    if (entry === undefined) {
      return {
        success: false,
        issues: [
          {
            path: "$",
            code: "unknown_schema",
            message: `no schema ${typeof type === "string" ? JSON.stringify(type) : describe(type)} version ${typeof version === "number" ? version : describe(version)} is registered`,
          },
        ],
      };
    }
    return parse(entry.schema, payload, []);
  }

  function upcastNow(envelope: Envelope, toVersion: number | undefined): UpcastResult {
    // Only an intact envelope is upcast: a damaged one would become a valid-looking new one.
    checkEnvelope(envelope, payloadLimits(undefined));
    const type = envelope.schema.name;
    const from = envelope.schema.version;
    const state = types.get(type);
    if (state === undefined || lookup(type, from) === undefined) {
      throw new SchemaRegistryError(
        "unknown_schema",
        `No schema "${type}" version ${from} is registered`,
        { key: envelope.key, path: "$.schema" },
      );
    }
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
    if (to === from)
      return Object.freeze({ envelope, original: envelope, steps: Object.freeze([]) });
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
          value = step(jsonCopy(value, "payload"), { type, from: v - 1, to: v, envelope });
        } catch (error) {
          throw new SchemaRegistryError(
            "upcast_failed",
            `The upcaster of "${type}" from version ${v - 1} to ${v} threw: ${error instanceof Error ? error.message : String(error)}`,
            { key: envelope.key, cause: error },
          );
        }
      }
      steps.push(
        Object.freeze({ from: v - 1, to: v, via: step === undefined ? "as-is" : "upcast" }),
      );
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

  function noteNow(type: string, version: number): string | undefined {
    const entry = lookup(type, version);
    if (entry?.deprecated === undefined) return undefined;
    // Called after the event is in the ledger: a failing hook must not turn a done emit
    // into an error, so its failures are logged, not thrown.
    try {
      metrics.counter("sinkproof.schema.deprecated", 1, {
        schema: type,
        version: String(version),
      });
    } catch (error) {
      log("metrics.counter failed: %O", error);
    }
    const id = `${type}\u0000${version}`;
    if (!warned.has(id)) {
      warned.add(id);
      log("deprecated schema emitted: %s v%d", type, version);
      try {
        warn(`sinkproof: ${entry.deprecated} (schema "${type}" version ${version} was emitted)`);
      } catch (error) {
        log("warn failed: %O", error);
      }
    }
    return entry.deprecated;
  }
}
