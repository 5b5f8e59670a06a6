/**
 * The TypeScript code blocks of README.md and docs/*.md, for test/docs-blocks.test.ts:
 * each block found with its marker, made into a module (a page's hidden prelude supplies
 * what the page leaves to the reader), typechecked in one compiler Program against src/,
 * and written out to be run.
 *
 * A block is a ```ts or ```typescript fence. The line before it may hold one marker:
 * - `<!-- docs-test: skip — why -->`: neither compiled nor run (a shape with `…`);
 * - `<!-- docs-test: no-run — why -->`: compiled, not run (it needs a server);
 * - `<!-- docs-test: throws CODE -->`: compiled, and run to throw a SinkproofError of that
 *   code (a block that shows an error).
 *
 * A block that imports nothing continues its page: it is given, from `sinkproof`,
 * `sinkproof/testing`, `sinkproof/ledger` and `sinkproof/digest`, every name it uses and
 * does not declare. A block with imports must
 * import what it uses, as a reader who copies it would need. Either kind is given the
 * prelude entries it names and does not declare; an entry written `declare …` exists for
 * the compiler only, so a block that uses one is compiled and not run.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

/** What the line before a block asks of it. */
export type Marker =
  | { readonly kind: "skip"; readonly reason: string }
  | { readonly kind: "no-run"; readonly reason: string }
  | { readonly kind: "throws"; readonly code: string };

/** One ```ts block of a page. */
export interface DocBlock {
  /** The page, relative to the repository: `README.md`, `docs/ledgers.md`. */
  readonly doc: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The code between the fences. */
  readonly code: string;
  readonly marker: Marker | undefined;
}

/**
 * Hidden context of one page: a name a block may use without declaring it, and the code
 * that declares it. An entry may use earlier entries; `sp` is `sinkproof` and `spt` is
 * `sinkproof/testing`, imported as namespaces.
 */
export type Prelude = Readonly<Record<string, string>>;

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/;
const MARKER = /<!--\s*docs-test:\s*(.*?)\s*-->/;

/** The pages whose blocks are tested: README.md and docs/*.md (docs/api/ is generated). */
export function docPages(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

function parseMarker(text: string, where: string): Marker {
  const match = /^(skip|no-run|throws)\b\s*(?:[—–-]+\s*)?(.*)$/.exec(text);
  const kind = match?.[1];
  const rest = match?.[2]?.trim() ?? "";
  if (kind === undefined || rest === "")
    throw new Error(
      `${where}: a docs-test marker is "skip — why", "no-run — why" or "throws CODE"`,
    );
  if (kind === "throws") return { kind, code: rest };
  return { kind: kind as "skip" | "no-run", reason: rest };
}

/** Every ```ts block of one page, with its marker; a stray marker is an error. */
export function extractBlocks(doc: string, text: string): DocBlock[] {
  const lines = text.split("\n");
  const blocks: DocBlock[] = [];
  let pending: { marker: Marker; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const marker = MARKER.exec(line);
    if (marker !== null) {
      if (pending !== undefined) throw new Error(`${doc}:${pending.line}: marker without a block`);
      pending = { marker: parseMarker(marker[1] as string, `${doc}:${i + 1}`), line: i + 1 };
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence === null) {
      if (line.trim() !== "" && pending !== undefined)
        throw new Error(`${doc}:${pending.line}: a marker must come just before a ts block`);
      continue;
    }
    const [, indent, ticks, lang] = fence as unknown as [string, string, string, string];
    const end = lines.findIndex(
      (l, j) => j > i && l.startsWith(`${indent}${ticks}`) && l.trim() === ticks,
    );
    if (end === -1) throw new Error(`${doc}:${i + 1}: unclosed code fence`);
    if (lang === "ts" || lang === "typescript") {
      const code = lines
        .slice(i + 1, end)
        .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
        .join("\n");
      blocks.push({ doc, line: i + 1, code, marker: pending?.marker });
    } else if (pending !== undefined) {
      throw new Error(`${doc}:${pending.line}: a marker must come just before a ts block`);
    }
    pending = undefined;
    i = end;
  }
  if (pending !== undefined) throw new Error(`${doc}:${pending.line}: marker without a block`);
  return blocks;
}

/** A name an index module exports, and whether it is a type only. */
interface Export {
  readonly module: string;
  readonly typeOnly: boolean;
}

/**
 * What `sinkproof`, `sinkproof/testing`, `sinkproof/ledger` and `sinkproof/digest` export,
 * read from their index files.
 */
function libraryExports(root: string): Map<string, Export> {
  const exports = new Map<string, Export>();
  for (const [module, file] of [
    ["sinkproof", "src/index.ts"],
    ["sinkproof/testing", "src/testing/index.ts"],
    ["sinkproof/ledger", "src/ledger/index.ts"],
    ["sinkproof/digest", "src/digest/index.ts"],
  ] as const) {
    const source = ts.createSourceFile(
      file,
      readFileSync(join(root, file), "utf8"),
      ts.ScriptTarget.Latest,
      true,
    );
    const add = (name: string, typeOnly: boolean) => {
      if (!exports.has(name)) exports.set(name, { module, typeOnly });
    };
    for (const statement of source.statements) {
      if (ts.isExportDeclaration(statement)) {
        const clause = statement.exportClause;
        if (clause === undefined || !ts.isNamedExports(clause))
          throw new Error(`${file}: export * is not read here; list the names`);
        for (const element of clause.elements)
          add(element.name.text, statement.isTypeOnly || element.isTypeOnly);
      } else if (
        ts.canHaveModifiers(statement) &&
        ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
      ) {
        const typeOnly =
          ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement);
        if (ts.isVariableStatement(statement)) {
          for (const d of statement.declarationList.declarations)
            if (ts.isIdentifier(d.name)) add(d.name.text, false);
        } else if (
          (ts.isFunctionDeclaration(statement) ||
            ts.isClassDeclaration(statement) ||
            ts.isInterfaceDeclaration(statement) ||
            ts.isTypeAliasDeclaration(statement)) &&
          statement.name !== undefined
        ) {
          add(statement.name.text, typeOnly);
        }
      }
    }
  }
  return exports;
}

/** The values a piece of code declares at its top level (no types, no imports). */
function declaredValues(source: ts.SourceFile): string[] {
  const names: string[] = [];
  const bind = (name: ts.BindingName) => {
    if (ts.isIdentifier(name)) names.push(name.text);
    else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const s of source.statements) {
    const modifiers = ts.canHaveModifiers(s) ? ts.getModifiers(s) : undefined;
    if (modifiers?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword)) continue;
    if (ts.isVariableStatement(s)) for (const d of s.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(s) || ts.isClassDeclaration(s)) && s.name !== undefined)
      names.push(s.name.text);
  }
  return names;
}

/** The names a piece of code declares at its top level. */
function declaredNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const bind = (name: ts.BindingName) => {
    if (ts.isIdentifier(name)) names.add(name.text);
    else for (const e of name.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const s of source.statements) {
    if (ts.isImportDeclaration(s)) {
      const clause = s.importClause;
      if (clause?.name !== undefined) names.add(clause.name.text);
      const bindings = clause?.namedBindings;
      if (bindings !== undefined && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
      if (bindings !== undefined && ts.isNamedImports(bindings))
        for (const e of bindings.elements) names.add(e.name.text);
    } else if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) bind(d.name);
    } else if (
      (ts.isFunctionDeclaration(s) ||
        ts.isClassDeclaration(s) ||
        ts.isInterfaceDeclaration(s) ||
        ts.isTypeAliasDeclaration(s) ||
        ts.isEnumDeclaration(s)) &&
      s.name !== undefined
    ) {
      names.add(s.name.text);
    }
  }
  return names;
}

/** True when an identifier names something in scope, not a property or a label. */
function isReference(id: ts.Identifier): boolean {
  const parent = id.parent;
  if (ts.isPropertyAccessExpression(parent) || ts.isQualifiedName(parent))
    return (ts.isPropertyAccessExpression(parent) ? parent.name : parent.right) !== id;
  if (
    ts.isPropertyAssignment(parent) ||
    ts.isPropertyDeclaration(parent) ||
    ts.isPropertySignature(parent) ||
    ts.isMethodDeclaration(parent) ||
    ts.isMethodSignature(parent) ||
    ts.isGetAccessorDeclaration(parent) ||
    ts.isSetAccessorDeclaration(parent) ||
    ts.isEnumMember(parent)
  )
    return parent.name !== id;
  if (ts.isBindingElement(parent)) return parent.propertyName !== id;
  if (ts.isLabeledStatement(parent) || ts.isBreakOrContinueStatement(parent)) return false;
  return true;
}

/** The names a piece of code refers to (a superset: scopes are not followed). */
function referencedNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && isReference(node)) names.add(node.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

const parse = (code: string) =>
  ts.createSourceFile("block.mts", code, ts.ScriptTarget.Latest, true);

/** One block made into a module. */
export interface BlockModule {
  readonly block: DocBlock;
  /** The module's file name: virtual for the compiler, real when it runs. */
  readonly file: string;
  /** The whole module: hidden lines, then the block. */
  readonly source: string;
  /** 0-based line of the module where the block starts. */
  readonly blockStart: number;
  /** The prelude entries the module holds: those the block uses, and those these use. */
  readonly entries: readonly string[];
  /** The prelude entries written `declare …` that the block uses (it is not run then). */
  readonly declaredOnly: readonly string[];
  /** The values the block declares at its top level, handed to the runner after a run. */
  readonly values: readonly string[];
}

/** Builds block modules: the library's exports are read once. */
export function moduleBuilder(root: string, preludes: Readonly<Record<string, Prelude>>) {
  const exports = libraryExports(root);
  const parsedPreludes = new Map<string, Map<string, Set<string>>>();
  const usesOf = (doc: string, prelude: Prelude) => {
    let uses = parsedPreludes.get(doc);
    if (uses === undefined) {
      uses = new Map(
        Object.entries(prelude).map(([name, code]) => [name, referencedNames(parse(code))]),
      );
      parsedPreludes.set(doc, uses);
    }
    return uses;
  };

  return (block: DocBlock): BlockModule => {
    const prelude = preludes[block.doc] ?? {};
    const source = parse(block.code);
    const declared = declaredNames(source);
    const used = referencedNames(source);
    const uses = usesOf(block.doc, prelude);
    // The entries the block names, and the entries those use, in the prelude's order.
    const wanted = new Set<string>();
    const want = (name: string, by?: string) => {
      if (by !== undefined && declared.has(name) && name in prelude)
        throw new Error(
          `${block.doc}:${block.line}: prelude entry ${by} uses ${name}, which the block declares`,
        );
      if (wanted.has(name) || !(name in prelude)) return;
      wanted.add(name);
      for (const n of uses.get(name) ?? []) if (n !== name) want(n, name);
    };
    for (const name of used) if (!declared.has(name)) want(name);
    const entries = Object.keys(prelude).filter((name) => wanted.has(name));
    const declaredOnly = entries.filter((name) => /^\s*declare\b/.test(prelude[name] as string));

    const hidden: string[] = [];
    if (entries.length > 0)
      hidden.push(`import * as sp from "sinkproof";`, `import * as spt from "sinkproof/testing";`);
    const hasImports = source.statements.some(
      (s) => ts.isImportDeclaration(s) || ts.isImportEqualsDeclaration(s),
    );
    if (!hasImports) {
      const byModule = new Map<string, string[]>();
      for (const name of [...used].sort()) {
        const found = exports.get(name);
        if (found === undefined || declared.has(name) || name in prelude) continue;
        const list = byModule.get(found.module) ?? [];
        list.push(found.typeOnly ? `type ${name}` : name);
        byModule.set(found.module, list);
      }
      for (const [module, names] of byModule)
        hidden.push(`import { ${names.join(", ")} } from "${module}";`);
    }
    for (const name of entries) hidden.push(prelude[name] as string);
    const text = hidden.join("\n");
    const blockStart = hidden.length === 0 ? 0 : text.split("\n").length;
    const slug = `${block.doc.replace(/[^\w]+/g, "-")}-${block.line}`;
    return {
      block,
      file: `${slug}.mts`,
      source: `${hidden.length === 0 ? "" : `${text}\n`}${block.code}\nexport {};\n`,
      blockStart,
      entries,
      declaredOnly,
      values: declaredValues(source),
    };
  };
}

/** Where each library module is, for the compiler and for a run. */
export function librarySources(root: string): Record<string, string> {
  return {
    sinkproof: join(root, "src/index.ts"),
    "sinkproof/testing": join(root, "src/testing/index.ts"),
    "sinkproof/ledger": join(root, "src/ledger/index.ts"),
    "sinkproof/digest": join(root, "src/digest/index.ts"),
    "sinkproof/sqlite": join(root, "src/ledger/sqlite/index.ts"),
    "sinkproof/postgres": join(root, "src/ledger/postgres/index.ts"),
    "sinkproof/otel": join(root, "src/otel/index.ts"),
    "sinkproof/sinks/jsonl": join(root, "src/sinks/jsonl/index.ts"),
    "sinkproof/sinks/postgres": join(root, "src/sinks/postgres/index.ts"),
  };
}

/**
 * Typechecks every module in one Program, with the project's compiler options (strict),
 * `sinkproof` and its subpaths mapped to src/. The modules are virtual files in
 * `<root>/.docs-blocks/`, so packages resolve from the project's node_modules. Returns the
 * diagnostics of each module, each worded with its page and line.
 */
export function typecheck(
  root: string,
  modules: readonly BlockModule[],
): Map<BlockModule, string[]> {
  const config = ts.getParsedCommandLineOfConfigFile(join(root, "tsconfig.json"), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  if (config === undefined) throw new Error("tsconfig.json: not read");
  const paths = Object.fromEntries(
    Object.entries(librarySources(root)).map(([name, file]) => [name, [file]]),
  );
  const options: ts.CompilerOptions = { ...config.options, noEmit: true, paths };
  const dir = join(root, ".docs-blocks");
  const byFile = new Map(modules.map((m) => [join(dir, m.file), m]));
  const host = ts.createCompilerHost(options, true);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (file) => byFile.has(file) || fileExists.call(host, file);
  host.readFile = (file) => byFile.get(file)?.source ?? readFile.call(host, file);
  host.getSourceFile = (file, language, ...rest) => {
    const module = byFile.get(file);
    if (module !== undefined) return ts.createSourceFile(file, module.source, language, true);
    return getSourceFile.call(host, file, language, ...rest);
  };
  const program = ts.createProgram([...byFile.keys()], options, host);
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()];
  if (global.length > 0)
    throw new Error(ts.formatDiagnostics(global, { ...host, getNewLine: () => "\n" }));
  const result = new Map<BlockModule, string[]>();
  for (const [file, module] of byFile) {
    const source = program.getSourceFile(file);
    if (source === undefined) throw new Error(`${file}: not in the program`);
    const diagnostics = [
      ...program.getSyntacticDiagnostics(source),
      ...program.getSemanticDiagnostics(source),
    ];
    result.set(
      module,
      diagnostics.map((d) => {
        const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
        if (d.start === undefined) return `TS${d.code}: ${message}`;
        const at = source.getLineAndCharacterOfPosition(d.start);
        const where =
          at.line < module.blockStart
            ? `(hidden prelude line ${at.line + 1})`
            : `${module.block.doc}:${module.block.line + 1 + at.line - module.blockStart}:${at.character + 1}`;
        return `${where} TS${d.code}: ${message}`;
      }),
    );
  }
  return result;
}

/**
 * The module's source for a run: `sinkproof` and its subpaths import src/ by path, and the
 * values the block declares are pushed to `globalThis.__docsBlockValues` when it ends, so
 * the runner can close what the block left open (a ledger's files).
 */
export function runnableSource(root: string, module: BlockModule): string {
  const sources = librarySources(root);
  const file = ts.createSourceFile(module.file, module.source, ts.ScriptTarget.Latest, true);
  const cuts: { start: number; end: number; text: string }[] = [];
  for (const s of file.statements) {
    const specifier =
      ts.isImportDeclaration(s) || ts.isExportDeclaration(s) ? s.moduleSpecifier : undefined;
    if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
    const target = sources[specifier.text];
    if (target !== undefined)
      cuts.push({ start: specifier.getStart(), end: specifier.end, text: JSON.stringify(target) });
  }
  let out = module.source;
  for (const cut of cuts.reverse()) out = out.slice(0, cut.start) + cut.text + out.slice(cut.end);
  const handOver = `\n;(globalThis as { __docsBlockValues?: unknown[] }).__docsBlockValues?.push(${module.values.join(", ")});\n`;
  return out.replace(/\nexport \{\};\n$/, `${handOver}export {};\n`);
}
