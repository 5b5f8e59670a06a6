/**
 * Bounded concurrency over a list. Internal.
 *
 * @module
 */

/**
 * Runs `body` for each item, at most `limit` at once, in the items' order. After a
 * failure no new item starts; the ones running are awaited, then the first failure is
 * thrown (nothing is left running behind the caller).
 */
export async function eachAtMost<T>(
  items: readonly T[],
  limit: number,
  body: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await body(item);
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failure;
}
