#!/usr/bin/env node
// The `edgemq` command. It runs the TypeScript sources through tsx, so it works
// straight from a checkout (`npx edgemq ...`) with no build step, on Node 20
// as well as the project's Node 22.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
