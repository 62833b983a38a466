import { pageOf, type Page } from '../contract/page';
import type { Env } from '../../env';
import { onEveryShard, shards, type ShardStub } from '../broker';

/**
 * Lists that live in the broker shards. Every row says which shard it came
 * from. With one shard its page is the answer; with several, each returns its
 * own first (page + 1) * pageSize rows in the list's one order (the most any
 * of them can contribute to the page asked for), and they are merged, sorted
 * and cut here, once.
 */
export async function pagedFromShards<T extends object>(
  env: Env,
  q: { page: number; pageSize: number },
  call: (shard: ShardStub, range: { page: number; pageSize: number }) => Promise<Page<T> | null>,
  compare: (a: T, b: T) => number,
): Promise<Page<T & { shard: number }> | null> {
  const single = shards(env).length === 1;
  const range = single ? q : { page: 0, pageSize: (q.page + 1) * q.pageSize };
  const pages = await onEveryShard(env, async (s, shard) => {
    const page = await call(s, range);
    return page && { ...page, data: page.data.map((row) => ({ ...row, shard })) };
  });
  if (pages.some((p) => p === null)) return null;
  const found = pages as Page<T & { shard: number }>[];
  if (single) return found[0];
  const all = found.flatMap((p) => p.data).sort(compare);
  const total = found.reduce((n, p) => n + p.totalElements, 0);
  return pageOf(all.slice(q.page * q.pageSize, (q.page + 1) * q.pageSize), total, q.page, q.pageSize);
}
