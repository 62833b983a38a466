import { runDurableObjectAlarm } from 'cloudflare:test';
import { defaultBrokerConfig } from '../../protocol/config';

/**
 * Lets a shard reach the state it is in when the platform may hibernate it.
 * The platform hibernates an object only after about ten seconds without an
 * event, and by then the alarm has run what falls due within
 * hibernationGuardMs: the rows of clean sessions opened since, and the spill
 * of what subscribers left unacknowledged. `evictDurableObject` alone
 * hibernates at once, which the platform never does.
 */
export async function untilShardMayHibernate(shard: DurableObjectStub): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, defaultBrokerConfig.hibernationGuardMs + 300));
  // Already run on its own in the wait, as a rule; run now if the runtime was slow to.
  await runDurableObjectAlarm(shard);
}
