/**
 * `sinkproof/sinks/postgres`: a sink that is one PostgreSQL table, on a `pg` pool (an
 * optional peer dependency: `npm install pg`). Its pool type is `PgPool` of
 * `sinkproof/postgres`; `ReadySink` is in `sinkproof`.
 *
 * @module
 */

export {
  type PostgresTableSink,
  type PostgresTableSinkOptions,
  postgresTableSink,
} from "./postgres-sink.js";
