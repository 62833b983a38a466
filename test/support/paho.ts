import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProcess, type ProcessResult } from './run-process';

const pahoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../e2e/paho');

/**
 * Debian's interpreter, where python3-paho-mqtt (1.6.x) is installed; the
 * python3 first on PATH (pyenv) does not have it.
 */
export const DEBIAN_PYTHON = '/usr/bin/python3';

export type PahoResult = ProcessResult;

/** Runs test/e2e/paho/<script> with Debian's python3; never rejects, a timeout kills it. */
export function runPaho(script: string, args: string[], timeoutMs: number): Promise<PahoResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1', PYTHONNOUSERSITE: '1' };
  // A pyenv or virtualenv setting would point Debian's python3 at the wrong library.
  delete env.PYTHONHOME;
  delete env.PYTHONPATH;
  delete env.VIRTUAL_ENV;
  return runProcess(DEBIAN_PYTHON, [path.join(pahoDir, script), ...args], { cwd: pahoDir, env, timeoutMs });
}
