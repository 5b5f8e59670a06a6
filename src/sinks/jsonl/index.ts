/**
 * `sinkproof/sinks/jsonl`: a sink that is one append-only JSON Lines file (fsync'd
 * appends, torn-tail recovery, compaction, read-back by streaming). No dependency.
 *
 * @module
 */

export {
  type JsonlRecovery,
  type JsonlSink,
  type JsonlSinkOptions,
  jsonlSink,
} from "./jsonl-sink.js";
