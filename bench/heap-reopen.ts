/**
 * Child of the bench's "heap per entry" rows: in a fresh process (so that nothing the
 * bench did before is counted), opens the FileLedger in argv[2] and prints, as JSON, how
 * much the JS heap and the typed arrays (ArrayBuffers, outside the heap) grew, after a
 * full garbage collection on each side. Run with --expose-gc.
 */
import { FileLedger } from "../src/index.js";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --expose-gc");
const directory = process.argv[2] as string;
// Everything the open needs loaded first: only the ledger's own memory is measured.
await (await FileLedger.open(`${directory}-warm`)).close();
gc();
gc();
const before = process.memoryUsage();
const ledger = await FileLedger.open(directory);
gc();
gc();
const after = process.memoryUsage();
const entries = await ledger.head();
await ledger.close();
console.log(
  JSON.stringify({
    entries,
    heap: after.heapUsed - before.heapUsed,
    typed: after.arrayBuffers - before.arrayBuffers,
  }),
);
