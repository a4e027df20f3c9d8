// Imports a built package of this repository (packages/<name>/dist) for the oracle scripts;
// exits with status 2 and says so when it has not been built.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export async function importDist(name) {
  const dist = join(dirname(fileURLToPath(import.meta.url)), `../../../packages/${name}/dist/index.js`);
  if (!existsSync(dist)) {
    console.error(`${dist} missing: run pnpm run build`);
    process.exit(2);
  }
  return import(pathToFileURL(dist).href);
}
