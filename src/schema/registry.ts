/**
 * `createSchemaRegistry`: versioned payload schemas per schema name, compatibility checked
 * at registration, validation at emit time, and upcasters that bring old payloads to a
 * newer version.
 *
 * Owns: which versions of a schema exist and how they relate (the registry's state, in
 * `RegistryState`), and the public methods over it. Checking a registration and finding
 * its breaking changes is `prepare.ts`'s; walking a payload up the versions is
 * `upcast.ts`'s; the types live in `types.ts` and are re-exported here. Promises:
 * - versions of one schema are registered in order, 1, 2, 3, …; a registration that
 *   breaks the schema's compatibility mode throws a {@link SchemaCompatibilityError}
 *   listing every breaking change, and registers nothing;
 * - `validate` never throws on a payload: it returns the parsed value or every issue;
 * - `upcast` never changes the envelope it is given (sealed envelopes never change): it
 *   returns a new envelope at the target version, with its own id and checksum, whose
 *   `parents` name the original.
 *
 * A schema is known by its `name`, the envelope's `schema.name` (not its event `type`:
 * several event types may share one schema).
 *
 * @module
 */

import type { Envelope } from "../envelope/schema.js";
import { isSinkproofError, SchemaCompatibilityError } from "../errors.js";
import { describe, invalidArgument } from "../internal/arguments.js";
import { optionKeys, readOptions } from "../internal/options.js";
import { logger } from "../observe/debug.js";
import { checkMetrics, type Metrics, safeMetrics } from "../observe/metrics.js";
import type { SchemaChange } from "./compatibility.js";
import { parse } from "./parse.js";
import { checkMode, prepareRegistration, registrationChanges } from "./prepare.js";
import type {
  CompatibilityMode,
  RegisteredSchema,
  RegistryTypes,
  SchemaRegistration,
  SchemaRegistry,
  SchemaRegistryOptions,
  SchemaValidation,
  TypeState,
  UpcastResult,
} from "./types.js";
import { upcastEnvelope } from "./upcast.js";

export type {
  CompatibilityMode,
  PayloadSchema,
  RegisteredSchema,
  SchemaRegistration,
  SchemaRegistry,
  SchemaRegistryOptions,
  SchemaValidation,
  UpcastContext,
  Upcaster,
  UpcastResult,
  UpcastStep,
} from "./types.js";

const log = logger("schema");

const REGISTRY_KEYS = optionKeys<SchemaRegistryOptions>()("compatibility", "metrics", "warn");

/** What the registry holds: every type's versions, and the deprecations already warned of. */
class RegistryState implements RegistryTypes {
  readonly #types = new Map<string, TypeState>();
  readonly #warned = new Set<string>();
  readonly defaultMode: CompatibilityMode;
  readonly #metrics: Metrics;
  readonly #warn: (message: string) => void;

  constructor(defaultMode: CompatibilityMode, metrics: Metrics, warn: (message: string) => void) {
    this.defaultMode = defaultMode;
    this.#metrics = metrics;
    this.#warn = warn;
  }

  state(type: string): TypeState | undefined {
    return this.#types.get(type);
  }

  lookup(type: string, version: number): RegisteredSchema | undefined {
    if (typeof type !== "string" || typeof version !== "number") return undefined;
    return this.#types.get(type)?.versions[version - 1];
  }

  names(): string[] {
    return [...this.#types.keys()];
  }

  check(registration: SchemaRegistration): SchemaChange[] {
    return registrationChanges(prepareRegistration(registration, this, this.defaultMode));
  }

  register(registration: SchemaRegistration): RegisteredSchema {
    const prepared = prepareRegistration(registration, this, this.defaultMode);
    const changes = registrationChanges(prepared);
    const { entry, upcast } = prepared;
    if (changes.length > 0) {
      throw new SchemaCompatibilityError(entry.name, entry.version, entry.compatibility, changes);
    }
    let state = prepared.state;
    if (state === undefined) {
      state = { versions: [], upcasters: new Map(), mode: entry.compatibility };
      this.#types.set(entry.name, state);
    }
    state.versions.push(entry);
    state.mode = entry.compatibility;
    if (upcast !== undefined) state.upcasters.set(entry.version, upcast);
    log("registered %s v%d (%s)", entry.name, entry.version, entry.compatibility);
    return entry;
  }

  validate(type: string, version: number, payload: unknown): SchemaValidation {
    const entry = this.lookup(type, version);
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

  upcast(envelope: Envelope, toVersion: number | undefined): UpcastResult {
    return upcastEnvelope(this, envelope, toVersion);
  }

  noteEmitted(type: string, version: number): string | undefined {
    const entry = this.lookup(type, version);
    if (entry?.deprecated === undefined) return undefined;
    // Called after the event is in the ledger: a failing hook must not turn a done emit
    // into an error, so its failures are logged, not thrown.
    try {
      this.#metrics.counter("sinkproof.schema.deprecated", 1, {
        schema: type,
        version: String(version),
      });
    } catch (error) {
      log("metrics.counter failed: %O", error);
    }
    const id = `${type}\u0000${version}`;
    if (!this.#warned.has(id)) {
      this.#warned.add(id);
      log("deprecated schema emitted: %s v%d", type, version);
      try {
        this.#warn(
          `sinkproof: ${entry.deprecated} (schema "${type}" version ${version} was emitted)`,
        );
      } catch (error) {
        log("warn failed: %O", error);
      }
    }
    return entry.deprecated;
  }
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
 *   name: "order", version: 1,
 *   schema: z.object({ orderId: z.string(), total: z.number() }),
 *   examples: [{ orderId: "o-1", total: 42 }],
 * });
 * registry.register({
 *   name: "order", version: 2,
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
  const state = new RegistryState(defaultMode, metrics, warn);

  const registry: SchemaRegistry = {
    register(registration) {
      return boundary("registration", () => state.register(registration));
    },
    check(registration) {
      return boundary("registration", () => Object.freeze(state.check(registration)));
    },
    get: (name, version) => boundary("name", () => state.lookup(name, version)),
    latest(name) {
      return state.state(name)?.versions.length || undefined;
    },
    versions(name) {
      return Object.freeze((state.state(name)?.versions ?? []).map((v) => v.version));
    },
    names() {
      return Object.freeze(state.names());
    },
    compatibility(name) {
      return state.state(name)?.mode ?? defaultMode;
    },
    validate(name, version, payload) {
      return boundary("name", () => state.validate(name, version, payload));
    },
    upcast(envelope, toVersion) {
      return boundary("envelope", () => state.upcast(envelope, toVersion));
    },
    noteEmitted(name, version) {
      return boundary("name", () => state.noteEmitted(name, version));
    },
  };
  return Object.freeze(registry);
}
