#!/usr/bin/env node
/**
 * The package's `bin`: `sinkproof <command>` (see `main.ts`), with the process's streams,
 * its exit code set when the command ends.
 *
 * @module
 */

import { describeError, run } from "./main.js";

run(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: process.stderr.isTTY === true,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`sinkproof: ${describeError(error)}\n`);
    process.exitCode = 3;
  },
);
