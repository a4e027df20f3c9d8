// What a retention check measures: the sizes of the collections an object reaches (test/retention.test.ts, bench/retention.ts).

/** Total size of every Map, Set and array reachable from `root`, by property path. */
export function collectionSizes(root: object): Map<string, number> {
  const out = new Map<string, number>();
  const seen = new Set<unknown>();
  const add = (path: string, n: number) => out.set(path, (out.get(path) ?? 0) + n);
  const walk = (o: unknown, path: string): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || ArrayBuffer.isView(o)) return;
    seen.add(o);
    if (o instanceof Map || o instanceof Set) {
      add(path, o.size);
      for (const v of o.values()) walk(v, `${path}[]`);
    } else if (Array.isArray(o)) {
      add(path, o.length);
      for (const v of o) walk(v, `${path}[]`);
    } else for (const [k, v] of Object.entries(o)) walk(v, path === '' ? k : `${path}.${k}`);
  };
  walk(root, '');
  return out;
}
