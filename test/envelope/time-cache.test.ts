/**
 * The caches of the time checks (the last two ISO times that checked out are not parsed
 * again) must never let a time through that would not check out: an empty string above
 * all, the value such a cache starts from. Its own file, so that the module is fresh: the
 * first check of the process is an empty time.
 */
import { describe, expect, it } from "vitest";
import { isEnvelopeTime } from "../../src/envelope/schema.js";
import {
  EnvelopeValidationError,
  InvalidArgumentError,
  MemoryLedger,
  seal,
} from "../../src/index.js";

const draft = {
  producer: "p",
  seq: 0,
  type: "t",
  schema: { name: "s", version: 1 },
  payload: { n: 1 },
};

describe("time caches", () => {
  it("an empty time is refused first, between good ones and after", async () => {
    expect(isEnvelopeTime("")).toBe(false);
    const ledger = new MemoryLedger();
    await expect(ledger.append([{ ...seal(draft), time: "" }])).rejects.toBeInstanceOf(
      EnvelopeValidationError,
    );
    expect(await ledger.head()).toBe(0);
    for (const good of ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.001Z"]) {
      expect(isEnvelopeTime(good)).toBe(true);
      expect(isEnvelopeTime("")).toBe(false);
      expect(isEnvelopeTime(good.replace("Z", "+00:00"))).toBe(false);
    }
    const [stored] = (await ledger.append([seal(draft)])).results;
    const entry = stored?.entry;
    if (entry === undefined) throw new Error("not appended");
    const receipt = {
      sink: "s",
      key: entry.envelope.key,
      id: entry.envelope.id,
      position: entry.position,
      status: "written" as const,
      checksum: entry.envelope.checksum,
      attempt: 1,
      startedAt: "",
      finishedAt: "",
    };
    await expect(ledger.putReceipt(receipt)).rejects.toBeInstanceOf(InvalidArgumentError);
    expect(await ledger.getReceipts("s", entry.envelope.key)).toEqual([]);
  });
});
