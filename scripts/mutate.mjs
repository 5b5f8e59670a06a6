// @ts-check
/**
 * `npm run mutate [-- GROUP…] [-- --score]`: mutation testing of the core, one group of
 * stryker.config.mjs at a time, each keeping its results in `mutation/<group>.json`
 * (StrykerJS's incremental file, committed: a later run re-tests only the mutants whose
 * code or tests changed). Then, or with `--score` alone without running anything, prints
 * each group's score and the whole scope's, from those files.
 *
 * The score is StrykerJS's: killed and timed-out mutants over all that were tested or had
 * no test (survived, no coverage); ignored ones (run only while the modules load) and
 * compile errors are left out.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { GROUPS } from "../stryker.config.mjs";

const args = process.argv.slice(2);
const scoreOnly = args.includes("--score");
const unknown = args.filter((a) => a !== "--score" && !Object.hasOwn(GROUPS, a));
if (unknown.length > 0) {
  console.error(
    `mutate: unknown ${unknown.length === 1 ? "group" : "groups"} ${unknown.join(", ")}; ` +
      `the groups are ${Object.keys(GROUPS).join(", ")} (and --score)`,
  );
  process.exit(2);
}
const chosen = args.filter((a) => a !== "--score");
const groups = chosen.length > 0 ? chosen : Object.keys(GROUPS);

if (!scoreOnly) {
  for (const group of groups) {
    console.log(
      `mutate: group ${group} (${GROUPS[/** @type {keyof GROUPS} */ (group)].join(" ")})`,
    );
    const run = spawnSync("npx", ["stryker", "run"], {
      stdio: "inherit",
      env: { ...process.env, SINKPROOF_MUTATE_GROUP: group },
    });
    if (run.status !== 0) {
      console.error(`mutate: group ${group} failed (exit ${run.status ?? run.signal})`);
      process.exit(run.status ?? 1);
    }
  }
}

/** @param {string} group */
function tally(group) {
  const file = `mutation/${group}.json`;
  if (!existsSync(file)) return undefined;
  const report = JSON.parse(readFileSync(file, "utf8"));
  const counts = { detected: 0, undetected: 0, ignored: 0 };
  for (const entry of Object.values(report.files)) {
    for (const mutant of entry.mutants) {
      if (mutant.status === "Killed" || mutant.status === "Timeout") counts.detected++;
      else if (mutant.status === "Survived" || mutant.status === "NoCoverage") counts.undetected++;
      else counts.ignored++;
    }
  }
  return counts;
}

const pct = (/** @type {{ detected: number, undetected: number }} */ c) =>
  c.detected + c.undetected === 0
    ? "-"
    : `${((100 * c.detected) / (c.detected + c.undetected)).toFixed(2)}%`;
const total = { detected: 0, undetected: 0, ignored: 0 };
const missing = [];
console.log("| group | score | detected | undetected | left out |\n|---|---|---|---|---|");
for (const group of Object.keys(GROUPS)) {
  const counts = tally(group);
  if (counts === undefined) {
    missing.push(group);
    console.log(`| ${group} | not run (no mutation/${group}.json) | | | |`);
    continue;
  }
  total.detected += counts.detected;
  total.undetected += counts.undetected;
  total.ignored += counts.ignored;
  console.log(
    `| ${group} | ${pct(counts)} | ${counts.detected} | ${counts.undetected} | ${counts.ignored} |`,
  );
}
console.log(
  `| **scope** | ${pct(total)}${missing.length > 0 ? ` (without ${missing.join(", ")})` : ""} | ${total.detected} | ${total.undetected} | ${total.ignored} |`,
);
