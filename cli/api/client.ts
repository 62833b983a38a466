/**
 * The admin API as the commands see it: one `call` per request, the same
 * paths and bodies whether the answer comes from a deployed Worker over
 * HTTPS or from the same route handlers run here against the local D1.
 */
import type { AdminApi } from './admin-api';
import type { Target } from './target';

export { AdminApiError, readAnswer, type AdminApi, type Method } from './admin-api';

export async function openAdminApi(target: Target): Promise<AdminApi> {
  // Loaded on demand: the local side starts workerd and pulls in the Worker's route modules.
  if (target.kind === 'remote') return (await import('./remote')).remoteApi(target);
  return (await import('./local')).localApi(target.persistDir);
}

/** Opens the target, runs `work` and always closes it again (the local side has a workerd process to stop). */
export async function withAdminApi<T>(target: Target, work: (api: AdminApi) => Promise<T>): Promise<T> {
  const api = await openAdminApi(target);
  try {
    return await work(api);
  } finally {
    await api.close();
  }
}
