/**
 * Freezing plain data all the way down: payloads parsed from storage, schema examples,
 * entries handed out. One function, so every place freezes the same way.
 *
 * @module
 */

/**
 * Freezes `value` and every object and array in it (its own enumerable values), and
 * returns it. An object already frozen is taken as frozen all the way down (what this
 * library freezes, it freezes whole), so the walk stops there.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== "object" || value === null || Object.isFrozen(value)) return value;
  for (const member of Object.values(value)) deepFreeze(member);
  Object.freeze(value);
  return value;
}
