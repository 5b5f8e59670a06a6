/**
 * A throwaway PostgreSQL server for tests and benchmarks: `initdb` in a temp directory, a
 * free loopback port, trust authentication, stopped and removed at the end. As root the
 * server runs as the `postgres` user (it refuses to run as root).
 *
 * One exception to trust, for tests of refused logins: members of the role
 * {@link PASSWORD_GROUP} log in over TCP with a password (scram-sha-256). The role need not
 * exist; a test that wants a password-checked role creates the group and a member.
 *
 * Binaries are looked for under /usr/lib/postgresql/<version>/bin (newest first), then on
 * PATH. Without them `findPostgres` says why, and the callers skip with that reason
 * (or fail, on CI).
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** Members of this role authenticate with a password (scram-sha-256); everyone else is trusted. */
export const PASSWORD_GROUP = "sinkproof_password_login";

export interface PostgresBinaries {
  readonly bin: string;
  readonly version: string;
}

export interface PostgresServer {
  /** Connection string of the `postgres` database, as the `postgres` superuser. */
  readonly url: string;
  readonly port: number;
  readonly directory: string;
  /** A connection string for another database on the same server. */
  urlOf(database: string): string;
  stop(): Promise<void>;
}

/**
 * The directory of initdb, pg_ctl and postgres, or why there is none. `SINKPROOF_POSTGRES_BIN`
 * names the directory to use (for installs outside /usr/lib/postgresql); otherwise the
 * newest /usr/lib/postgresql/<version>/bin, then PATH.
 */
export function findPostgres(): PostgresBinaries | { missing: string } {
  const candidates: string[] = [];
  const chosen = process.env.SINKPROOF_POSTGRES_BIN;
  if (chosen !== undefined && chosen !== "") candidates.push(chosen);
  else {
    const base = "/usr/lib/postgresql";
    if (existsSync(base)) {
      const versions = readdirSync(base)
        .filter((v) => /^\d+(\.\d+)?$/.test(v))
        .sort((a, b) => Number(b) - Number(a));
      for (const v of versions) candidates.push(join(base, v, "bin"));
    }
    for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir) candidates.push(dir);
  }
  for (const bin of candidates) {
    if (["initdb", "pg_ctl", "postgres"].every((b) => existsSync(join(bin, b)))) {
      if (isRoot() && spawnSync("id", ["-u", "postgres"]).status !== 0) {
        return {
          missing: `running as root, and there is no postgres user to run the server from ${bin} as`,
        };
      }
      const out = spawnSync(join(bin, "postgres"), ["--version"], { encoding: "utf8" });
      return { bin, version: out.stdout.trim() };
    }
  }
  return {
    missing:
      chosen !== undefined && chosen !== ""
        ? `SINKPROOF_POSTGRES_BIN=${chosen} holds no initdb, pg_ctl and postgres`
        : "no PostgreSQL server binaries (initdb, pg_ctl, postgres) under /usr/lib/postgresql/*/bin or on PATH; install Debian's `postgresql` package",
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;

/** Runs a server binary, as `postgres` when we are root. */
function runAs(bin: string, args: string[]): void {
  const [command, argv] = isRoot()
    ? ["runuser", ["-u", "postgres", "--", bin, ...args]]
    : [bin, args];
  execFileSync(command as string, argv as string[], { stdio: "pipe", encoding: "utf8" });
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/** Starts a fresh server; `settings` are extra `-c name=value` options. */
export async function startPostgres(
  binaries: PostgresBinaries,
  settings: Record<string, string> = {},
): Promise<PostgresServer> {
  const directory = mkdtempSync(join(tmpdir(), "sinkproof-pg-"));
  const data = join(directory, "data");
  if (isRoot()) {
    const { uid, gid } = postgresIds();
    chownSync(directory, uid, gid);
  }
  const port = await freePort();
  try {
    runAs(join(binaries.bin, "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "-A",
      "trust",
      "-E",
      "UTF8",
      "--locale=C",
      "--no-sync",
    ]);
    // First match wins: this line goes before initdb's trust lines.
    const hba = join(data, "pg_hba.conf");
    writeFileSync(
      hba,
      `host all +${PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, "utf8")}`,
    );
    const options = [
      `-p ${port}`,
      `-k ${directory}`,
      "-c listen_addresses=127.0.0.1",
      "-c max_connections=200",
      ...Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`),
    ].join(" ");
    runAs(join(binaries.bin, "pg_ctl"), [
      "-D",
      data,
      "-o",
      options,
      "-l",
      join(directory, "server.log"),
      "-w",
      "-t",
      "60",
      "start",
    ]);
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`could not start PostgreSQL: ${String(error)} ${stderr}`, { cause: error });
  }
  let stopped = false;
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return {
    url: urlOf("postgres"),
    port,
    directory,
    urlOf,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        runAs(join(binaries.bin, "pg_ctl"), ["-D", data, "-m", "fast", "-w", "stop"]);
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    },
  };
}
