/**
 * `PostgresLedger`'s `connectionString`, checked before anything connects: a postgres URL
 * (`postgres://…` or `postgresql://…`) or libpq's keyword/value pairs
 * (`host=db port=5432 dbname=app user=ledger`), nothing else. node-postgres reads any
 * string as a URL relative to `postgres://base`, so `localhost:55439` (a forgotten scheme)
 * silently meant port 5432 and no database, and keyword/value pairs meant a database named
 * after the whole string: both are refused here, or translated, instead.
 *
 * Promises: a refusal is an `InvalidArgumentError` at `options.connectionString` that says
 * what is wrong without repeating the string (it may hold a password); keyword/value pairs
 * are translated into the URL they mean, keyword by keyword, and a keyword node-postgres
 * would ignore is refused rather than dropped.
 *
 * @module
 */

import { invalidArgument } from "../../internal/arguments.js";

const WHERE = "options.connectionString";
const FORMS =
  "a postgres URL (postgres://user@host:5432/database) or keyword/value pairs (host=… port=5432 dbname=… user=…)";

/**
 * libpq keywords node-postgres honours, each with the URL part or query parameter that
 * carries it. Others (hostaddr, connect_timeout, target_session_attrs, service, …) would be
 * ignored without a word, so they are refused.
 */
const KEYWORDS: ReadonlySet<string> = new Set([
  "host",
  "port",
  "dbname",
  "user",
  "password",
  "options",
  "application_name",
  "fallback_application_name",
  "client_encoding",
  "sslmode",
  "sslcert",
  "sslkey",
  "sslrootcert",
]);

/**
 * The connection string node-postgres should be given for `value`: a postgres URL as it
 * is, keyword/value pairs as the URL they mean. Anything else is an
 * `InvalidArgumentError` at `options.connectionString`.
 */
export function checkConnectionString(value: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1];
  if (scheme !== undefined) {
    if (!/^postgres(ql)?$/i.test(scheme)) {
      invalidArgument(WHERE, `must be ${FORMS}; its scheme is ${scheme}://, not postgres://`);
    }
    checkUrl(value);
    return value;
  }
  if (/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(value)) return urlOfPairs(parsePairs(value));
  // A host and port without a scheme is the usual slip: show the fix (no @, so no password).
  const hostPort = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(value);
  const hint =
    hostPort === null
      ? ""
      : `; did you mean postgres://${hostPort[1]}:${hostPort[2]}/<database>? (without a scheme, node-postgres would connect to port 5432)`;
  return invalidArgument(
    WHERE,
    `must be ${FORMS}; it is neither (it has no postgres:// scheme and no keyword=value pair)${hint}`,
  );
}

function checkUrl(value: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // node-postgres accepts `postgres://user@/db` (a socket host in `?host=`) this way.
    try {
      url = new URL(value.replace("@/", "@dummy/"));
    } catch {
      invalidArgument(WHERE, `must be ${FORMS}; it starts with postgres:// but is not a valid URL`);
    }
  }
  if (url.port !== "" && (Number(url.port) < 1 || Number(url.port) > 65535)) {
    invalidArgument(WHERE, "has a port outside 1 to 65535");
  }
  const portParam = url.searchParams.get("port");
  if (portParam !== null && !isPort(portParam)) {
    invalidArgument(WHERE, "has a port parameter that is not a number from 1 to 65535");
  }
}

const isPort = (text: string): boolean =>
  /^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65535;

/** libpq's keyword/value syntax: `key = value` pairs; a value may be single-quoted, with `\'` and `\\`. */
function parsePairs(text: string): Map<string, string> {
  const pairs = new Map<string, string>();
  let i = 0;
  const n = text.length;
  const space = (c: string | undefined) => c === " " || c === "\t" || c === "\n" || c === "\r";
  while (true) {
    while (i < n && space(text[i])) i++;
    if (i >= n) return pairs;
    const start = i;
    while (i < n && /[A-Za-z0-9_]/.test(text[i] as string)) i++;
    const keyword = text.slice(start, i);
    while (i < n && space(text[i])) i++;
    if (keyword === "" || text[i] !== "=") {
      invalidArgument(
        WHERE,
        `must be ${FORMS}; keyword/value pair ${pairs.size + 1} has no keyword=value form`,
      );
    }
    i++;
    while (i < n && space(text[i])) i++;
    let value = "";
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          closed = true;
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) invalidArgument(WHERE, `the value of ${keyword} has no closing quote`);
    } else {
      while (i < n && !space(text[i])) {
        const c = text[i] as string;
        if (c === "\\" && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
    }
    if (!KEYWORDS.has(keyword)) {
      invalidArgument(
        WHERE,
        `has keyword ${JSON.stringify(keyword)}, which node-postgres does not read (it reads ${[...KEYWORDS].join(", ")})`,
      );
    }
    pairs.set(keyword, value);
  }
}

/** Characters `decodeURI` (which node-postgres applies to the database name) leaves encoded. */
const RESERVED_IN_PATH = /[;/?:@&=+$,#]/;

/** The postgres URL that keyword/value pairs mean. */
function urlOfPairs(pairs: Map<string, string>): string {
  const host = pairs.get("host");
  const port = pairs.get("port");
  const user = pairs.get("user");
  const password = pairs.get("password");
  const dbname = pairs.get("dbname");
  const params = new URLSearchParams();
  let authority = "";
  if (user !== undefined || password !== undefined) {
    authority += encodeURIComponent(user ?? "");
    if (password !== undefined) authority += `:${encodeURIComponent(password)}`;
    authority += "@";
  }
  if (host !== undefined && host !== "") {
    if (host.includes(",")) {
      invalidArgument(WHERE, "names several hosts; node-postgres connects to one");
    }
    if (host.startsWith("/")) params.set("host", host);
    else if (/^[0-9A-Fa-f:.]+$/.test(host) && host.includes(":")) authority += `[${host}]`;
    else if (/^[A-Za-z0-9._-]+$/.test(host)) authority += host;
    else
      invalidArgument(
        WHERE,
        "has a host that is neither a host name, an IP address nor a socket directory",
      );
  }
  if (port !== undefined) {
    if (!isPort(port)) invalidArgument(WHERE, "has a port that is not a number from 1 to 65535");
    authority += `:${port}`;
  }
  if (dbname !== undefined && RESERVED_IN_PATH.test(dbname)) {
    invalidArgument(
      WHERE,
      "has a dbname with one of ; / ? : @ & = + $ , # (node-postgres cannot carry it); pass a pg.Pool instead",
    );
  }
  for (const [keyword, value] of pairs) {
    if (!["host", "port", "user", "password", "dbname"].includes(keyword))
      params.set(keyword, value);
  }
  const query = params.toString();
  return `postgres://${authority}/${encodeURI(dbname ?? "")}${query === "" ? "" : `?${query}`}`;
}
