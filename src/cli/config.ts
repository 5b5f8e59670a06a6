/**
 * The `sinkproof` command's config file: a module whose default export is
 * `{ ledger: () => Promise<Ledger>, sinks: [...] }` (`defineConfig` types it), loaded from
 * a `.mjs`, `.js` or `.ts` file (a `.ts` one through `tsx`, when it is installed), and
 * checked: a missing file, a module that does not load and an export of the wrong shape
 * are `ConfigError`s naming the file and the path. Internal to the command, but
 * `defineConfig` and `SinkproofConfig` are public (`sinkproof`).
 *
 * @module
 */

import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Ledger } from "../ledger/types.js";
import type { ReconcileSink } from "../reconcile/types.js";

/** What a `sinkproof.config.mjs` exports (its default export). */
export interface SinkproofConfig {
  /** Opens the ledger (called once per command; the command closes it). */
  readonly ledger: () => Promise<Ledger> | Ledger;
  /**
   * The sinks, as `reconcile` and `repair` take them (a ready-made sink, with its `guard`
   * for repair's replays), or a function of the opened ledger that returns them (to make
   * each guard on it). The command closes each one that has a `close()`.
   */
  readonly sinks:
    | readonly ReconcileSink[]
    | ((ledger: Ledger) => Promise<readonly ReconcileSink[]> | readonly ReconcileSink[]);
}

/**
 * Types a `sinkproof` config (the default export of `sinkproof.config.mjs`), and returns
 * it as it is.
 *
 * @example
 * ```ts
 * // sinkproof.config.mjs
 * import { defineConfig, FileLedger, guardSink } from "sinkproof";
 * import { jsonlSink } from "sinkproof/sinks/jsonl";
 * export default defineConfig({
 *   ledger: () => FileLedger.open("./data/ledger"),
 *   sinks: async (ledger) => {
 *     const archive = await jsonlSink({ name: "archive", path: "./data/archive.jsonl" });
 *     return [{ ...archive, guard: guardSink({ name: archive.name, ledger, write: archive.write }) }];
 *   },
 * });
 * ```
 */
export function defineConfig(config: SinkproofConfig): SinkproofConfig {
  return config;
}

/** A config that cannot be used: exit code 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const CONFIG_KEYS = new Set(["ledger", "sinks"]);

/** The config module at `file`, loaded and checked. */
export async function loadConfig(file: string): Promise<SinkproofConfig> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError(`the config file ${file} does not exist`);
  if (path.endsWith(".ts") || path.endsWith(".mts")) {
    try {
      const api = (await import("tsx/esm/api")) as { register(): unknown };
      api.register();
    } catch {
      throw new ConfigError(
        `${file} is TypeScript: install tsx (npm install -D tsx) to load it, or write it as .mjs`,
      );
    }
  }
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    throw new ConfigError(`the config file ${file} does not load: ${String(error)}`);
  }
  const config = module.default;
  if (typeof config !== "object" || config === null)
    throw new ConfigError(
      `${file}: its default export must be { ledger, sinks } (defineConfig), got ${config === null ? "null" : typeof config}`,
    );
  for (const key of Object.keys(config))
    if (!CONFIG_KEYS.has(key))
      throw new ConfigError(`${file}: default.${key} is not a config key (ledger, sinks)`);
  const c = config as Record<string, unknown>;
  if (typeof c.ledger !== "function")
    throw new ConfigError(`${file}: default.ledger must be a function that opens the ledger`);
  if (!Array.isArray(c.sinks) && typeof c.sinks !== "function")
    throw new ConfigError(
      `${file}: default.sinks must be an array of sinks, or a function that returns one`,
    );
  return config as SinkproofConfig;
}

/** The config's sinks, those named in `only` when given (each must exist). */
export async function sinksOf(
  config: SinkproofConfig,
  ledger: Ledger,
  file: string,
  only: readonly string[],
): Promise<{ all: readonly ReconcileSink[]; selected: readonly ReconcileSink[] }> {
  const sinks = typeof config.sinks === "function" ? await config.sinks(ledger) : config.sinks;
  if (!Array.isArray(sinks))
    throw new ConfigError(`${file}: default.sinks() must return an array of sinks`);
  sinks.forEach((sink, i) => {
    if (
      typeof sink !== "object" ||
      sink === null ||
      typeof (sink as ReconcileSink).name !== "string"
    )
      throw new ConfigError(`${file}: default.sinks[${i}] must be a sink with a name`);
  });
  if (sinks.length === 0)
    throw new ConfigError(`${file}: default.sinks is empty: there is nothing to check`);
  if (only.length === 0) return { all: sinks, selected: sinks };
  const names = new Set(sinks.map((s) => s.name));
  for (const name of only)
    if (!names.has(name))
      throw new ConfigError(
        `--sink ${name}: no such sink in ${file} (it has ${[...names].join(", ")})`,
      );
  return { all: sinks, selected: sinks.filter((s) => only.includes(s.name)) };
}
