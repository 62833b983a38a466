import { pageOf, type Page } from '../../../db/queries/paging';
import type { Env } from '../../env';
import { onEveryShard, shards, type ShardStub } from '../broker';

/**
 * Lists that live in the broker shards. With one shard its page is the
 * answer; with several, each returns its first (page + 1) * pageSize rows
 * and they are merged, sorted and cut here.
 */
export async function pagedFromShards<T>(
  env: Env,
  q: { page: number; pageSize: number },
  call: (shard: ShardStub, range: { page: number; pageSize: number }) => Promise<Page<T> | null>,
  compare: (a: T, b: T) => number,
): Promise<Page<T> | null> {
  if (shards(env).length === 1) return (await onEveryShard(env, (s) => call(s, q)))[0];
  const pages = await onEveryShard(env, (s) => call(s, { page: 0, pageSize: (q.page + 1) * q.pageSize }));
  if (pages.some((p) => p === null)) return null;
  const all = (pages as Page<T>[]).flatMap((p) => p.data).sort(compare);
  const total = (pages as Page<T>[]).reduce((n, p) => n + p.totalElements, 0);
  return pageOf(all.slice(q.page * q.pageSize, (q.page + 1) * q.pageSize), total, q.page, q.pageSize);
}
