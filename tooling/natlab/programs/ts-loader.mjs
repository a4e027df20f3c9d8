// Lets Lab.spawnNode run TypeScript sources directly (Node 20 has no type stripping):
//   node --conditions=source --import <this file> script.ts
// Types are removed with TypeScript's transpileModule (per file, no type check); a relative
// `./x.js` import that does not exist resolves to `./x.ts`, as in the workspace's sources.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
