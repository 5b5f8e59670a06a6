/**
 * Repeats taken out of a batch's keys, without a map for the usual batch (no repeat): the
 * batch operations of the ledger core and the guard's `deliverMany` look items up by
 * index then.
 *
 * @module
 */

/**
 * `keys` without repeats, and where each key of `keys` is in them: `indexOf` is undefined
 * when there is no repeat (the usual batch: the same array, same indexes).
 */
export function distinctOf(keys: readonly string[]): {
  readonly keys: readonly string[];
  readonly indexOf: ReadonlyMap<string, number> | undefined;
} {
  const unique = new Set(keys);
  if (unique.size === keys.length) return { keys, indexOf: undefined };
  const list = [...unique];
  return { keys: list, indexOf: new Map(list.map((key, i) => [key, i])) };
}
