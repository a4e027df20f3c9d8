/** Adds `by` to a per-key count; a count that reaches zero is removed (bounded maps of live keys). */
export function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
