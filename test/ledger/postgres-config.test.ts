/**
 * PostgreSQL configuration mistakes are not outages: each has its own code, none is
 * transient (a retry-on-unavailable loop stops), and a connection string node-postgres
 * would misread is refused before anything connects, without repeating a password.
 * The server cases run against the suite's throwaway server (trust authentication, except
 * for members of PASSWORD_GROUP, who need a password; see test/support/postgres-server.ts).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, isTransientLedgerError, LedgerError } from "../../src/index.js";
import { checkConnectionString } from "../../src/ledger/postgres/connection-string.js";
import { PostgresLedger } from "../../src/ledger/postgres/index.js";
import { freshDatabase, postgresSkipped, postgresUrl } from "../support/postgres.js";
import { PASSWORD_GROUP } from "../support/postgres-server.js";

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection, got an answer");
}

function configurationError(error: unknown, code: string): void {
  expect(error).toBeInstanceOf(LedgerError);
  expect((error as LedgerError).code).toBe(code);
  expect(isTransientLedgerError(error)).toBe(false);
  expect((error as Error).message).toContain("trying again will not help");
}

describe("connection strings, checked before connecting", () => {
  const refused = (value: string): InvalidArgumentError => {
    let error: unknown;
    try {
      checkConnectionString(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).path).toBe("options.connectionString");
    return error as InvalidArgumentError;
  };

  it("a postgres URL passes as it is", () => {
    for (const url of [
      "postgres://u:p@db.internal:5432/app?sslmode=require",
      "postgresql://localhost/app",
      "POSTGRES://localhost",
      "postgres:///app?host=/var/run/postgresql",
      "postgres://u@/app?host=/tmp",
      "postgres://[::1]:5433/app",
    ]) {
      expect(checkConnectionString(url)).toBe(url);
    }
  });

  it("keyword/value pairs become the URL they mean, quotes and escapes included", () => {
    expect(checkConnectionString("host=db.internal port=5433 dbname=app user=ledger")).toBe(
      "postgres://ledger@db.internal:5433/app",
    );
    expect(
      checkConnectionString(
        "host = /var/run/postgresql dbname=app user=u password='it\\'s a s3cret' application_name=orders",
      ),
    ).toBe(
      "postgres://u:it's%20a%20s3cret@/app?host=%2Fvar%2Frun%2Fpostgresql&application_name=orders",
    );
    expect(checkConnectionString("host=::1 port=5432")).toBe("postgres://[::1]:5432/");
    expect(checkConnectionString("dbname=app")).toBe("postgres:///app");
  });

  it("anything else is refused, naming what is wrong, never repeating a password", () => {
    const noScheme = refused("localhost:55439");
    expect(noScheme.message).toContain("did you mean postgres://localhost:55439/<database>");
    expect(noScheme.message).toContain("port 5432");
    for (const [value, says] of [
      ["user:s3cret@localhost:5432/app", "no postgres:// scheme"],
      ["mysql://u:s3cret@localhost/app", "its scheme is mysql://"],
      ["http://u:s3cret@localhost/app", "its scheme is http://"],
      ["/var/run/postgresql app", "neither"],
      ["host=db hostaddr=10.0.0.1 password=s3cret", 'keyword "hostaddr"'],
      ["host=db connect_timeout=5 password=s3cret", 'keyword "connect_timeout"'],
      ["host=db port=99999 password=s3cret", "port"],
      ["host=a,b password=s3cret", "several hosts"],
      ["host=db password='s3cret", "no closing quote"],
      ["host=db dbname=a/b password=s3cret", "dbname"],
      ["postgres://u:s3cret@db:0/app", "port"],
      ["postgres://u:s3cret@db/app?port=x", "port"],
      ["postgres://u:s3cret@db:5432:1/app", "not a valid URL"],
    ] as const) {
      const error = refused(value);
      expect(error.message).toContain(says);
      expect(error.message).not.toContain("s3cret");
    }
  });
});

describe.skipIf(postgresUrl === undefined)("configuration mistakes against a real server", () => {
  let url = "";
  const roles: string[] = [];
  let admin: pg.Client;
  const tag = `${process.pid}_${Date.now() % 100000}`;
  const withUser = (user: string, password?: string, database?: string) => {
    const u = new URL(url);
    u.username = user;
    if (password !== undefined) u.password = password;
    if (database !== undefined) u.pathname = `/${database}`;
    return u.toString();
  };

  beforeAll(async () => {
    if (postgresUrl === undefined) return;
    url = await freshDatabase("config");
    admin = new pg.Client(url);
    await admin.connect();
    await admin.query(
      `DO $$ BEGIN CREATE ROLE ${PASSWORD_GROUP} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`,
    );
  });

  afterAll(async () => {
    if (admin === undefined) return;
    for (const role of roles) {
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
    }
    await admin.end();
  });

  const role = async (name: string, sql: string) => {
    const full = `${name}_${tag}`;
    await admin.query(`CREATE ROLE ${full} ${sql}`);
    roles.push(full);
    return full;
  };

  it("no such database is database_not_found, not unavailable", async () => {
    const missing = new URL(url);
    missing.pathname = "/nosuchdb";
    const error = await caught(PostgresLedger.open({ connectionString: missing.toString() }));
    configurationError(error, "database_not_found");
    expect((error as Error).message).toContain('database "nosuchdb" does not exist');
  });

  it("no such role, and a role without LOGIN, are authentication_failed", async () => {
    configurationError(
      await caught(PostgresLedger.open({ connectionString: withUser(`nosuchrole_${tag}`) })),
      "authentication_failed",
    );
    const nologin = await role("nologin", "NOLOGIN");
    const error = await caught(PostgresLedger.open({ connectionString: withUser(nologin) }));
    configurationError(error, "authentication_failed");
    expect((error as Error).message).toContain("not permitted to log in");
  });

  it("a wrong password, and none at all, are authentication_failed; the right one opens", async () => {
    const member = await role("pw", `LOGIN PASSWORD 'right horse' IN ROLE ${PASSWORD_GROUP}`);
    await admin.query(`GRANT CREATE ON DATABASE "${new URL(url).pathname.slice(1)}" TO ${member}`);
    const wrong = await caught(
      PostgresLedger.open({ connectionString: withUser(member, "wrong") }),
    );
    configurationError(wrong, "authentication_failed");
    expect((wrong as Error).message).toContain("password authentication failed");
    expect((wrong as Error).message).not.toContain("wrong");
    configurationError(
      await caught(PostgresLedger.open({ connectionString: withUser(member) })),
      "authentication_failed",
    );
    const ledger = await PostgresLedger.open({
      connectionString: withUser(member, "right horse"),
      schema: `pw_${tag}`,
    });
    expect(await ledger.head()).toBe(0);
    await ledger.close();
    // The same role in keyword/value form, a quoted password with a space in it.
    const { hostname, port, pathname } = new URL(url);
    const pairs = await PostgresLedger.open({
      connectionString: `host=${hostname} port=${port} dbname=${pathname.slice(1)} user=${member} password='right horse'`,
      schema: `pw_${tag}`,
    });
    expect(await pairs.head()).toBe(0);
    await pairs.close();
  });

  it("a role denied CONNECT is permission_denied; so is one that may not create the ledger's schema", async () => {
    const locked = await freshDatabase("locked");
    const name = new URL(locked).pathname.slice(1);
    await admin.query(`REVOKE CONNECT ON DATABASE "${name}" FROM PUBLIC`);
    const outsider = await role("outsider", "LOGIN");
    const denied = await caught(
      PostgresLedger.open({ connectionString: withUser(outsider, undefined, name) }),
    );
    configurationError(denied, "permission_denied");
    expect((denied as Error).message).toContain("permission denied for database");
    // Allowed in, but not to create anything: the migration at open is refused.
    const visitor = await role("visitor", "LOGIN");
    const plain = await caught(
      PostgresLedger.open({ connectionString: withUser(visitor), schema: `v_${tag}` }),
    );
    configurationError(plain, "permission_denied");
  });

  it("a malformed connection string is refused before anything connects", async () => {
    const { port } = new URL(url);
    // Without the check this went to port 5432, where nothing listens: unavailable.
    const error = await caught(PostgresLedger.open({ connectionString: `localhost:${port}` }));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).path).toBe("options.connectionString");
  });
});

if (postgresSkipped !== undefined)
  console.log(`PostgreSQL configuration cases skipped: ${postgresSkipped}`);
