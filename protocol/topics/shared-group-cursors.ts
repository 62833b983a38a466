/** How many shared groups keep their round-robin position; past it the least recently served start again at 0. */
export const SHARED_GROUP_CURSORS = 4096;

/**
 * Per shared subscription group (`$share/<group>/<filter>`), where the next
 * round-robin turn starts. Group names are the clients' to choose (one per
 * request or per device is not unusual), and a cursor outlives its group's
 * last member, so the map is bounded: a position is only a hint for
 * fairness, and a forgotten one starts again at the first member.
 */
export class SharedGroupCursors {
  private readonly next = new Map<string, number>();

  constructor(private readonly limit = SHARED_GROUP_CURSORS) {}

  get size(): number {
    return this.next.size;
  }

  get(group: string): number {
    return this.next.get(group) ?? 0;
  }

  set(group: string, position: number): void {
    // Deleting first keeps the map in order of last use, so the oldest key is the one to forget.
    this.next.delete(group);
    this.next.set(group, position);
    if (this.next.size > this.limit) this.next.delete(this.next.keys().next().value as string);
  }
}
