/**
 * Structural compatibility of two JSON Schemas (as `z.toJSONSchema()` writes them): can a
 * reader schema read every value a writer schema produces?
 *
 * Owns: the breaking-change rules of schema evolution. The writer side is the schema's
 * output (what a producer seals after parsing: a zod `object` is closed there), the reader
 * side its input (what it accepts: a zod `object` accepts and strips unknown keys, so it is
 * open). Rules, for a reader against a writer:
 * - a property the reader requires must be required by the writer (else
 *   `required-field-added` or `optional-to-required`);
 * - a property the writer may produce must be accepted by the reader: a closed reader
 *   without it breaks (`field-removed`); an open reader ignores it;
 * - an optional property the reader adds is never a break, even when the writer is open:
 *   the writer's unknown extras are data the reader never promised to type (the false
 *   failure Confluent users report in schema-registry issues 1458, 1490 and 1529);
 * - every type, enum value, union branch and value the writer can produce must be
 *   accepted by the reader (`type-changed`, `enum-narrowed`, `union-narrowed`,
 *   `constraint-tightened`), and an open writer against a closed reader is `object-closed`.
 *
 * Kinds are named from the evolution's point of view: checking FORWARD compatibility runs
 * the same rules with the old schema as reader, and a field the new schema removed is
 * then reported as `field-removed`, an enum it widened as `enum-widened`.
 *
 * Transforms, dates and other values JSON Schema cannot describe are `{}` (any value) on
 * the side they appear; an unconstrained writer against a constrained reader is a
 * `type-changed`, so such schemas are judged by their examples (or registered with `NONE`).
 *
 * @module
 */

/** A JSON Schema node, as `z.toJSONSchema()` writes it. */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** Which way a change breaks: new data unreadable by old readers, or the reverse. */
export type ChangeDirection = "backward" | "forward";

/** What kind of breaking change was found. */
export type SchemaChangeKind =
  | "required-field-added"
  | "field-removed"
  | "field-added"
  | "optional-to-required"
  | "required-to-optional"
  | "type-changed"
  | "enum-narrowed"
  | "enum-widened"
  | "union-narrowed"
  | "union-widened"
  | "object-closed"
  | "object-opened"
  | "constraint-tightened"
  | "constraint-loosened"
  | "example-rejected"
  | "upcast-unverified"
  | "upcast-failed";

/** One breaking change between two versions of a schema. */
export interface SchemaChange {
  /** What kind of change. */
  readonly kind: SchemaChangeKind;
  /** Where, as a JSON path in the payload: `$.customer.email`, `$.items[*].sku`. */
  readonly path: string;
  /** What changed, for a person. */
  readonly message: string;
  /** The earlier version the new one was compared with. */
  readonly against: number;
  /** `backward`: the new schema cannot read the old data; `forward`: the reverse. */
  readonly direction: ChangeDirection;
}

/** A break found by the rules, in reader/writer terms; mapped to a kind per direction. */
type RawKind =
  | "reader-requires-missing"
  | "reader-requires-optional"
  | "reader-closed-extra"
  | "type"
  | "enum"
  | "union"
  | "closed"
  | "constraint";

interface RawChange {
  readonly raw: RawKind;
  readonly path: string;
  readonly message: string;
}

const KINDS: Readonly<Record<ChangeDirection, Readonly<Record<RawKind, SchemaChangeKind>>>> = {
  backward: {
    "reader-requires-missing": "required-field-added",
    "reader-requires-optional": "optional-to-required",
    "reader-closed-extra": "field-removed",
    type: "type-changed",
    enum: "enum-narrowed",
    union: "union-narrowed",
    closed: "object-closed",
    constraint: "constraint-tightened",
  },
  forward: {
    "reader-requires-missing": "field-removed",
    "reader-requires-optional": "required-to-optional",
    "reader-closed-extra": "field-added",
    type: "type-changed",
    enum: "enum-widened",
    union: "union-widened",
    closed: "object-opened",
    constraint: "constraint-loosened",
  },
};

type Node = { readonly [keyword: string]: unknown };

/** One alternative of a schema: a single JSON type (or any value) with its keywords. */
interface Alternative {
  readonly type: string; // "string" | "number" | "integer" | "boolean" | "null" | "array" | "object" | "any" | "never"
  readonly node: Node;
}

/** Keywords that describe a value without constraining it. */
const ANNOTATIONS = new Set([
  "$schema",
  "$id",
  "$defs",
  "definitions",
  "title",
  "description",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$comment",
]);

/**
 * Marks a node zod could not describe in JSON Schema (a date, a transform's output, a
 * bigint, a custom check): set by `describeSchema`, it stands for "some value JSON Schema
 * cannot show", never for "any value".
 */
export const OPAQUE = "x-sinkproof-opaque";

/** `{ not: {} }`: what `z.never()` becomes; accepts no value. */
function isNever(node: Node): boolean {
  const not = node.not;
  return (
    not === true ||
    (typeof not === "object" &&
      not !== null &&
      unconstrained(not as Node) &&
      Object.keys(node).every((k) => k === "not" || ANNOTATIONS.has(k)))
  );
}

/** True when a schema node accepts every value: no keyword but annotations. */
function unconstrained(node: Node): boolean {
  for (const key of Object.keys(node)) if (!ANNOTATIONS.has(key)) return false;
  return true;
}

function typeOfValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** Walks one schema document, resolving local `$ref`s against its root. */
class Doc {
  constructor(readonly root: JsonSchema) {}

  resolve(schema: unknown, depth = 0): Node | boolean {
    if (typeof schema === "boolean") return schema;
    if (typeof schema !== "object" || schema === null) return true;
    const node = schema as Node;
    const ref = node.$ref;
    if (typeof ref !== "string" || depth > 64) return node;
    let target: unknown = this.root;
    if (ref !== "#") {
      if (!ref.startsWith("#/")) return true; // a remote reference: unknown, so any value
      for (const raw of ref.slice(2).split("/")) {
        const part = raw.replaceAll("~1", "/").replaceAll("~0", "~");
        if (typeof target !== "object" || target === null || !Object.hasOwn(target, part)) {
          return true;
        }
        target = (target as Node)[part];
      }
    }
    return this.resolve(target, depth + 1);
  }

  /** The alternatives a schema allows: one per JSON type, unions flattened. */
  alternatives(schema: unknown, depth = 0): Alternative[] {
    const resolved = this.resolve(schema);
    if (resolved === true) return [{ type: "any", node: {} }];
    if (resolved === false) return [];
    const node = resolved;
    if (typeof node[OPAQUE] === "string") return [{ type: "opaque", node }];
    if (isNever(node)) return [];
    if (Array.isArray(node.allOf)) return [{ type: "allOf", node }];
    const branches = (node.anyOf ?? node.oneOf) as unknown;
    if (Array.isArray(branches) && depth < 64) {
      return branches.flatMap((b) => this.alternatives(b, depth + 1));
    }
    let types: string[];
    if (typeof node.type === "string") types = [node.type];
    else if (Array.isArray(node.type)) types = node.type.filter((t) => typeof t === "string");
    else if (Object.hasOwn(node, "const")) types = [typeOfValue(node.const)];
    else if (Array.isArray(node.enum)) types = [...new Set(node.enum.map(typeOfValue))];
    else if (node.properties !== undefined || node.additionalProperties !== undefined)
      types = ["object"];
    else if (node.items !== undefined || node.prefixItems !== undefined) types = ["array"];
    else types = ["any"];
    return types.map((type) => ({
      // "integer" values of a number-typed enum: keep the declared type.
      type: type === "integer" && types.includes("number") ? "number" : type,
      node,
    }));
  }
}

const label = (path: string, key: string): string =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

/** Compares every reader-side rule for one writer/reader pair of schema documents. */
class Comparer {
  readonly changes: RawChange[] = [];
  /** Pairs of nodes under comparison: a recursive schema compares each pair once. */
  readonly #seen = new Map<object, Set<object>>();

  constructor(
    readonly writer: Doc,
    readonly reader: Doc,
  ) {}

  add(raw: RawKind, path: string, message: string): void {
    this.changes.push({ raw, path, message });
  }

  /** All changes that make `reader` unable to read what `writer` produces at `path`. */
  compare(writer: unknown, reader: unknown, path: string): void {
    const w = this.writer.resolve(writer);
    const r = this.reader.resolve(reader);
    if (typeof w === "object" && typeof r === "object") {
      // The same node on both sides (no references, which would resolve against different
      // roots) reads itself: nothing to compare, opaque parts included.
      const text = JSON.stringify(w);
      if (!text.includes('"$ref"') && text === JSON.stringify(r)) return;
      let seen = this.#seen.get(w);
      if (seen === undefined) {
        seen = new Set();
        this.#seen.set(w, seen);
      }
      if (seen.has(r)) return;
      seen.add(r);
    }
    if (typeof r === "object" && Array.isArray(r.allOf)) {
      // The reader accepts a value only when every branch does.
      for (const branch of r.allOf) this.compare(w, branch, path);
      return;
    }
    if (typeof w === "object" && Array.isArray(w.allOf)) {
      // The writer's values satisfy every branch: it is enough that one branch's are read.
      let first: RawChange[] | undefined;
      for (const branch of w.allOf) {
        const sub = new Comparer(this.writer, this.reader);
        sub.#seenFrom(this.#seen);
        sub.compare(branch, r, path);
        if (sub.changes.length === 0) return;
        first ??= sub.changes;
      }
      this.changes.push(...(first ?? []));
      return;
    }
    const writerAlts = this.writer.alternatives(w);
    const readerAlts = this.reader.alternatives(r);
    if (readerAlts.some((a) => a.type === "any" && unconstrained(a.node))) return;
    for (const alt of writerAlts) this.#compareAlternative(alt, readerAlts, path);
  }

  #compareAlternative(w: Alternative, readers: readonly Alternative[], path: string): void {
    const opaque = (a: Alternative) => String(a.node[OPAQUE]);
    if (w.type === "opaque" || readers.some((r) => r.type === "opaque")) {
      // Values JSON Schema cannot show: only the same kind on both sides is known to read.
      if (
        w.type === "opaque" &&
        readers.some((r) => r.type === "opaque" && opaque(r) === opaque(w))
      ) {
        return;
      }
      if (w.type !== "opaque" && readers.some((r) => r.type === "any" && unconstrained(r.node)))
        return;
      const side = (a: Alternative | undefined, name: string) =>
        a === undefined ? "" : `${name} has a ${opaque(a)} here, which JSON Schema cannot describe`;
      const reader = readers.find((r) => r.type === "opaque");
      this.add(
        "type",
        path,
        [side(w.type === "opaque" ? w : undefined, "WRITER"), side(reader, "READER")]
          .filter((t) => t.length > 0)
          .join("; ")
          .concat(": it cannot be checked structurally (register with NONE, and examples)"),
      );
      return;
    }
    if (w.type === "allOf" || readers.some((r) => r.type === "allOf")) {
      // An intersection inside a union: compare whole nodes (compare() handles allOf).
      let best: RawChange[] | undefined;
      for (const candidate of readers) {
        const sub = new Comparer(this.writer, this.reader);
        sub.#seenFrom(this.#seen);
        sub.compare(w.node, candidate.node, path);
        if (sub.changes.length === 0) return;
        if (best === undefined || sub.changes.length < best.length) best = sub.changes;
      }
      if (best === undefined) {
        this.add("type", path, `WRITER allows a value here, READER accepts nothing`);
        return;
      }
      this.changes.push(...best);
      return;
    }
    if (w.type === "any") {
      if (!readers.some((r) => r.type === "any")) {
        this.add(
          "type",
          path,
          `WRITER allows any value here (or one JSON Schema cannot describe), READER only ${describeTypes(readers)}`,
        );
      }
      return;
    }
    const candidates = readers.filter(
      (r) => r.type === "any" || r.type === w.type || (w.type === "integer" && r.type === "number"),
    );
    if (candidates.length === 0) {
      this.add(
        "type",
        path,
        w.type === "null"
          ? `WRITER allows null here, READER only ${describeTypes(readers)}`
          : `WRITER allows ${w.type} here, READER only ${describeTypes(readers)}`,
      );
      return;
    }
    let best: RawChange[] | undefined;
    for (const candidate of candidates) {
      const sub = new Comparer(this.writer, this.reader);
      sub.#seenFrom(this.#seen);
      sub.#compareSame(w, candidate, path);
      if (sub.changes.length === 0) return;
      if (best === undefined || sub.changes.length < best.length) best = sub.changes;
    }
    if (candidates.length > 1) {
      this.add(
        "union",
        path,
        `no branch of READER reads this ${w.type} of WRITER (closest: ${best?.[0]?.message ?? "?"})`,
      );
      return;
    }
    this.changes.push(...(best ?? []));
  }

  #seenFrom(seen: Map<object, Set<object>>): void {
    for (const [k, v] of seen) this.#seen.set(k, new Set(v));
  }

  #compareSame(w: Alternative, r: Alternative, path: string): void {
    if (r.type === "any" && unconstrained(r.node)) return;
    this.#compareValues(w.node, r.node, w.type, path);
    this.#compareConstraints(w.node, r.node, w.type, path);
    if (w.type === "object") this.#compareObjects(w.node, r.node, path);
    if (w.type === "array") this.#compareArrays(w.node, r.node, path);
  }

  #compareValues(w: Node, r: Node, type: string, path: string): void {
    const readerValues = valuesOf(r, type);
    if (readerValues === undefined) return;
    const writerValues = valuesOf(w, type);
    if (writerValues === undefined) {
      this.add(
        "enum",
        path,
        `WRITER allows any ${type} here, READER only ${readerValues.map((v) => JSON.stringify(v)).join(", ")}`,
      );
      return;
    }
    const accepted = new Set(readerValues.map((v) => JSON.stringify(v)));
    const lost = writerValues.filter((v) => !accepted.has(JSON.stringify(v)));
    if (lost.length > 0) {
      this.add(
        "enum",
        path,
        `WRITER allows ${lost.map((v) => JSON.stringify(v)).join(", ")}, READER does not`,
      );
    }
  }

  #compareConstraints(w: Node, r: Node, type: string, path: string): void {
    const num = (node: Node, key: string) =>
      typeof node[key] === "number" ? (node[key] as number) : undefined;
    const unset = (v: unknown) => (v === undefined ? "unset" : JSON.stringify(v));
    // Bounds: the writer's values must lie within the reader's. An exclusive bound and an
    // inclusive one are compared with each other (gt(0) is within gte(0)).
    for (const [inclusive, exclusive, sign] of [
      ["minimum", "exclusiveMinimum", 1],
      ["maximum", "exclusiveMaximum", -1],
    ] as const) {
      const ri = num(r, inclusive);
      const rx = num(r, exclusive);
      if (ri === undefined && rx === undefined) continue;
      const wi = num(w, inclusive);
      const wx = num(w, exclusive);
      // The writer's tightest bound: the larger minimum (or smaller maximum).
      const wBound =
        wi === undefined ? wx : wx === undefined ? wi : sign * wx >= sign * wi ? wx : wi;
      const wExclusive =
        wBound !== undefined && wBound === wx && (wi === undefined || sign * wx >= sign * wi);
      const within = (bound: number, exclusiveReader: boolean) =>
        wBound !== undefined &&
        (sign * wBound > sign * bound || (wBound === bound && (!exclusiveReader || wExclusive)));
      const ok = (ri === undefined || within(ri, false)) && (rx === undefined || within(rx, true));
      if (!ok) {
        const reader = ri !== undefined ? `${inclusive} ${ri}` : `${exclusive} ${rx}`;
        this.add(
          "constraint",
          path,
          `READER has ${reader}, WRITER ${wBound === undefined ? "no such bound" : `${wExclusive ? exclusive : inclusive} ${wBound}`}`,
        );
      }
    }
    for (const [keyword, sign] of [
      ["minLength", 1],
      ["minItems", 1],
      ["minProperties", 1],
      ["maxLength", -1],
      ["maxItems", -1],
      ["maxProperties", -1],
    ] as const) {
      const rv = num(r, keyword);
      if (rv === undefined) continue;
      const wv = num(w, keyword);
      if (wv === undefined || sign * wv < sign * rv) {
        this.add("constraint", path, `${keyword} is ${rv} in READER, ${unset(wv)} in WRITER`);
      }
    }
    const rm = num(r, "multipleOf");
    if (rm !== undefined && rm > 0) {
      const wm = num(w, "multipleOf");
      const divides = (of: number) => Number.isInteger(Number((of / rm).toPrecision(15)));
      const ok = (wm !== undefined && divides(wm)) || (type === "integer" && divides(1));
      if (!ok) {
        this.add("constraint", path, `multipleOf is ${rm} in READER, ${unset(wm)} in WRITER`);
      }
    }
    for (const keyword of ["pattern", "format"]) {
      const rv = r[keyword];
      if (rv === undefined) continue;
      if (w[keyword] !== rv) {
        this.add(
          "constraint",
          path,
          `${keyword} is ${JSON.stringify(rv)} in READER, ${unset(w[keyword])} in WRITER`,
        );
      }
    }
  }

  #compareObjects(w: Node, r: Node, path: string): void {
    const wProps = propertiesOf(w);
    const rProps = propertiesOf(r);
    const wRequired = requiredOf(w);
    const rRequired = requiredOf(r);
    const wExtra = w.additionalProperties;
    const rExtra = r.additionalProperties;
    const rClosed = rExtra === false;
    const wClosed = wExtra === false;
    const typedExtra = (extra: unknown) =>
      typeof extra === "object" && extra !== null && Object.keys(extra).length > 0;

    for (const [key, rSchema] of Object.entries(rProps)) {
      const at = label(path, key);
      if (Object.hasOwn(wProps, key)) {
        if (rRequired.has(key) && !wRequired.has(key)) {
          this.add(
            "reader-requires-optional",
            at,
            `READER requires "${key}", WRITER may leave it out`,
          );
        }
        this.compare(wProps[key], rSchema, at);
        continue;
      }
      if (rRequired.has(key)) {
        this.add("reader-requires-missing", at, `READER requires "${key}", WRITER never has it`);
        continue;
      }
      // Optional on the reader side and unknown to the writer: never a break, unless the
      // writer types its extra properties (a record, a catchall) as something else.
      if (typedExtra(wExtra)) this.compare(wExtra, rSchema, at);
    }
    for (const [key, wSchema] of Object.entries(wProps)) {
      if (Object.hasOwn(rProps, key)) continue;
      const at = label(path, key);
      if (rClosed) {
        this.add(
          "reader-closed-extra",
          at,
          `WRITER may hold "${key}", READER is a closed object without it`,
        );
      } else if (typedExtra(rExtra)) {
        this.compare(wSchema, rExtra, at);
      }
    }
    if (!wClosed && rClosed) {
      this.add(
        "closed",
        path,
        "WRITER may hold properties it does not list, READER is a closed object",
      );
    } else if (typedExtra(wExtra) && typedExtra(rExtra)) {
      this.compare(wExtra, rExtra, `${path}[*]`);
    } else if (!wClosed && typedExtra(rExtra) && !typedExtra(wExtra)) {
      this.add("closed", path, "WRITER may hold other properties of any type, READER types them");
    }
    const wNames = w.propertyNames;
    const rNames = r.propertyNames;
    if (rNames !== undefined) this.compare(wNames ?? true, rNames, `${path}{key}`);
  }

  #compareArrays(w: Node, r: Node, path: string): void {
    const wPrefix = Array.isArray(w.prefixItems) ? w.prefixItems : [];
    const rPrefix = Array.isArray(r.prefixItems) ? r.prefixItems : [];
    const wItems = w.items ?? true;
    const rItems = r.items ?? true;
    const n = Math.max(wPrefix.length, rPrefix.length);
    for (let i = 0; i < n; i++) {
      const ws = i < wPrefix.length ? wPrefix[i] : wItems;
      const rs = i < rPrefix.length ? rPrefix[i] : rItems;
      if (ws === false) continue; // the writer never has an item here
      this.compare(ws, rs, `${path}[${i}]`);
    }
    if (wItems !== false) this.compare(wItems, rItems, `${path}[*]`);
  }
}

function propertiesOf(node: Node): Readonly<Record<string, unknown>> {
  const props = node.properties;
  return typeof props === "object" && props !== null ? (props as Record<string, unknown>) : {};
}

function requiredOf(node: Node): ReadonlySet<string> {
  return new Set(Array.isArray(node.required) ? (node.required as string[]) : []);
}

function valuesOf(node: Node, type: string): unknown[] | undefined {
  if (Object.hasOwn(node, "const")) return [node.const];
  if (!Array.isArray(node.enum)) return undefined;
  return node.enum.filter((v) => {
    const t = typeOfValue(v);
    return t === type || (type === "number" && t === "integer");
  });
}

function describeTypes(alternatives: readonly Alternative[]): string {
  if (alternatives.length === 0) return "nothing";
  return [...new Set(alternatives.map((a) => a.type))].join(" | ");
}

/**
 * Every change that keeps `reader` from reading what `writer` produces, named for
 * `direction` (`backward`: the reader is the new version; `forward`: the writer is).
 */
export function readerChanges(
  writer: JsonSchema,
  reader: JsonSchema,
  direction: ChangeDirection,
  against: number,
  current: number,
): SchemaChange[] {
  const readerName = `version ${direction === "backward" ? current : against}`;
  const writerName = `version ${direction === "backward" ? against : current}`;
  const name = (message: string) =>
    message.replaceAll("READER", readerName).replaceAll("WRITER", writerName);
  const comparer = new Comparer(new Doc(writer), new Doc(reader));
  comparer.compare(writer, reader, "$");
  const kinds = KINDS[direction];
  const seen = new Set<string>();
  const out: SchemaChange[] = [];
  for (const change of comparer.changes) {
    const kind = kinds[change.raw];
    const id = `${kind}\u0000${change.path}\u0000${change.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ kind, path: change.path, message: name(change.message), against, direction });
  }
  return out;
}
