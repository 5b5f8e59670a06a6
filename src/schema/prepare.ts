/**
 * Checking and preparing a registration: the schema name, the version (the next in
 * order), the zod schema and its JSON Schema, the upcaster, the deprecation note, the
 * compatibility mode and the examples; then every breaking change it would bring under
 * its mode, found by comparing JSON Schemas and by running examples (through the
 * upcasters where there are any).
 *
 * Owns: what a registration must be, and what makes it compatible. Promises: nothing is
 * registered here (the registry does that, after `registrationChanges` finds none), and a
 * malformed registration throws `InvalidArgumentError` naming its field, in the order
 * the fields are checked below.
 *
 * @module
 */

import { z } from "zod";
import { ENVELOPE_LIMITS, isCleanText, type JsonValue } from "../envelope/schema.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { deepFreeze } from "../internal/freeze.js";
import { optionKeys, readOptions } from "../internal/options.js";
import {
  type ChangeDirection,
  type JsonSchema,
  OPAQUE,
  readerChanges,
  type SchemaChange,
} from "./compatibility.js";
import { jsonCopy, parse } from "./parse.js";
import type {
  CompatibilityMode,
  PayloadSchema,
  RegisteredSchema,
  RegistryTypes,
  SchemaRegistration,
  SchemaValidation,
  TypeState,
  Upcaster,
} from "./types.js";

const MODES: ReadonlySet<string> = new Set([
  "BACKWARD",
  "BACKWARD_TRANSITIVE",
  "FORWARD",
  "FORWARD_TRANSITIVE",
  "FULL",
  "FULL_TRANSITIVE",
  "NONE",
]);

const REGISTRATION_KEYS = optionKeys<SchemaRegistration>()(
  "name",
  "version",
  "schema",
  "examples",
  "upcast",
  "deprecated",
  "compatibility",
);

/** Checks a compatibility mode (an option or a registration's) at `where`. */
export function checkMode(mode: unknown, where: string): CompatibilityMode {
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

/** A checked registration: the version as it will be kept, its upcaster, its type's state. */
export interface Prepared {
  /** The version as the registry will keep it. */
  readonly entry: RegisteredSchema;
  /** Its upcaster from the previous version, if it declares one. */
  readonly upcast: Upcaster | undefined;
  /** The state of its type, undefined for a type's first version. */
  readonly state: TypeState | undefined;
}

/**
 * Checks a registration against the registry's state (`types`) and prepares the version
 * it registers. Throws `InvalidArgumentError` for a malformed one; registers nothing.
 */
export function prepareRegistration(
  given: SchemaRegistration,
  types: RegistryTypes,
  defaultMode: CompatibilityMode,
): Prepared {
  if (typeof given !== "object" || given === null) {
    invalidArgument("registration", `must be an object, got ${describe(given)}`);
  }
  const registration = readOptions<SchemaRegistration>(
    given,
    "registration",
    REGISTRATION_KEYS,
    // `type` was the schema name's key before 0.2: easily confused with the event type.
    { renamed: { type: "name" } },
  ) as SchemaRegistration;
  const type = checkType(registration.name, "registration.name");
  const state = types.state(type);
  const version = checkVersion(registration.version, type, state);
  if (!isZodSchema(registration.schema)) {
    invalidArgument(
      "registration.schema",
      `must be a zod 4 schema, got ${describe(registration.schema)}`,
    );
  }
  const upcast = checkUpcast(registration.upcast, version);
  const deprecated = checkDeprecated(registration.deprecated);
  const mode =
    registration.compatibility === undefined
      ? (state?.mode ?? defaultMode)
      : checkMode(registration.compatibility, "registration.compatibility");
  const examples = readExamples(registration.examples, registration.schema);
  const entry: RegisteredSchema = Object.freeze({
    name: type,
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

function checkVersion(version: number, type: string, state: TypeState | undefined): number {
  const expected = (state?.versions.length ?? 0) + 1;
  if (version !== expected) {
    invalidArgument(
      "registration.version",
      `must be ${expected}: versions of "${type}" are registered in order from 1, got ${typeof version === "number" ? version : describe(version)}`,
    );
  }
  return version;
}

function checkUpcast(upcast: Upcaster | undefined, version: number): Upcaster | undefined {
  if (upcast !== undefined && typeof upcast !== "function") {
    invalidArgument("registration.upcast", `must be a function, got ${describe(upcast)}`);
  }
  if (upcast !== undefined && version === 1) {
    invalidArgument(
      "registration.upcast",
      "cannot be given for version 1: it has no previous version",
    );
  }
  return upcast;
}

function checkDeprecated(deprecated: boolean | string | undefined): boolean | string | undefined {
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
  return deprecated;
}

function readExamples(given: readonly unknown[] | undefined, schema: PayloadSchema): JsonValue[] {
  const rawExamples = given ?? [];
  if (!Array.isArray(rawExamples)) {
    invalidArgument("registration.examples", `must be an array, got ${describe(rawExamples)}`);
  }
  return rawExamples.map((example, i) => {
    const copy = jsonCopy(example, `registration.examples[${i}]`);
    const result = parse(schema, copy, []);
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
          name: newEntry.name,
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

/** The `example-rejected` changes of one example's validation (none when it passed). */
function exampleChanges(
  entry: RegisteredSchema,
  against: number,
  direction: ChangeDirection,
  index: number,
  result: SchemaValidation,
): SchemaChange[] {
  if (result.success) return [];
  return result.issues.map((issue) => ({
    kind: "example-rejected",
    path: issue.path,
    message: `example ${index} of version ${direction === "backward" ? against : entry.version} fails version ${direction === "backward" ? entry.version : against}: ${issue.message}`,
    against,
    direction,
  }));
}

/**
 * What keeps the reader from reading the writer's data, `old` and the new version `entry`
 * being the writer and the reader in `direction`'s order (`backward`: `old` writes): by
 * their JSON Schemas, then by the writer's examples, each parsed by the reader.
 */
function readChanges(
  entry: RegisteredSchema,
  old: RegisteredSchema,
  direction: ChangeDirection,
): SchemaChange[] {
  const [writer, reader] = direction === "backward" ? [old, entry] : [entry, old];
  const changes = readerChanges(
    writer.jsonSchema.output,
    reader.jsonSchema.input,
    direction,
    old.version,
    entry.version,
  );
  writer.examples.forEach((ex, i) => {
    changes.push(...exampleChanges(entry, old.version, direction, i, parse(reader.schema, ex, [])));
  });
  return changes;
}

/**
 * Every breaking change a prepared registration brings under its compatibility mode:
 * empty when it may be registered.
 */
export function registrationChanges(prepared: Prepared): SchemaChange[] {
  const { entry, state } = prepared;
  if (state === undefined || entry.compatibility === "NONE") return [];
  const mode = entry.compatibility;
  const transitive = mode.endsWith("_TRANSITIVE");
  const backward = mode.startsWith("BACKWARD") || mode.startsWith("FULL");
  const forward = mode.startsWith("FORWARD") || mode.startsWith("FULL");
  const earlier = transitive ? state.versions : state.versions.slice(-1);
  const changes: SchemaChange[] = [];
  for (const old of earlier) {
    if (backward) changes.push(...backwardChanges(prepared, state, old));
    if (forward) changes.push(...readChanges(entry, old, "forward"));
  }
  return changes;
}

/** Can the new version read data of `old`? */
function backwardChanges(
  prepared: Prepared,
  state: TypeState,
  old: RegisteredSchema,
): SchemaChange[] {
  const { entry, upcast } = prepared;
  const changes: SchemaChange[] = [];
  // Is there an upcaster between `old` and the new version? Then old data reaches
  // the new version through it, and only examples can show that it does.
  let throughUpcast = upcast !== undefined;
  for (let v = old.version + 1; v < entry.version; v++) {
    if (state.upcasters.has(v)) throughUpcast = true;
  }
  if (!throughUpcast) return readChanges(entry, old, "backward");
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
    const result = parse(entry.schema, chained.value, []);
    changes.push(...exampleChanges(entry, old.version, "backward", i, result));
  });
  return changes;
}
