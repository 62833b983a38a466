import { prefixWords } from './ban-scope';
import type { BlockEntry, Blocklist } from './blocklist';
import type { BanDecision, FailureTracker } from './failure-tracker';
import type { AuthenticatedIdentity, AuthProvider, ConnectAttempt, ProviderAnswer, ProviderType, Refusal } from './provider';
import { BROKER_SIDE_REFUSALS, REFUSAL_REASONS } from './reasons';
import type { BrokerSettings } from './settings';

/**
 * One entry point for authentication, as in mosquitto's security chain:
 *   1. blocked clients and temporary bans (cheapest, before any hashing),
 *   2. client id prefixes,
 *   3. the enabled providers in priority order; each accepts, refuses or
 *      skips ("not mine, ask the next"). A refusal is remembered and the
 *      next provider still gets its turn, so a device with a certificate is
 *      not turned away because it also sent a stale password; the first
 *      acceptance wins.
 *   4. nobody accepted: refuse with the first refusal's reason (a provider
 *      too busy to check goes first), keeping the reasons of every provider
 *      that refused.
 * An exception anywhere is a refusal (AUTHENTICATION_UNAVAILABLE): deny when unsure.
 */
export interface ChainContext {
  providers: AuthProvider[];
  settings: BrokerSettings;
  blocklist: Blocklist;
  failures: FailureTracker;
  now: number;
}

export interface ChainRefusal {
  kind: 'refuse';
  /** Decides the code on the wire and the log's reason code. */
  primary: Refusal;
  /** Every refusal, with the provider that made it (null for checks before the providers). */
  refusals: Array<{ provider: ProviderType | null; refusal: Refusal }>;
  /** Bans the failure just triggered; the caller persists them. */
  bans: BanDecision[];
}

export type ChainOutcome =
  | { kind: 'accept'; identity: AuthenticatedIdentity; authenticationData?: Uint8Array }
  | ChainRefusal
  | { kind: 'continue'; authenticationData: Uint8Array; next(data: Uint8Array | null): Promise<ChainOutcome> };

export async function runAuthChain(attempt: ConnectAttempt & { clientIdAssigned?: boolean }, ctx: ChainContext): Promise<ChainOutcome> {
  const refusals: ChainRefusal['refusals'] = [];
  // Counting may ask the shared per-IP counter: a refusal waits for it, an acceptance never does.
  const fail = async (primary: Refusal, countsTowardBan = true): Promise<ChainRefusal> => {
    if (!refusals.some((r) => r.refusal === primary)) refusals.unshift({ provider: null, refusal: primary });
    const who = { ip: attempt.trusted.ip, clientId: attempt.clientId, clientIdAssigned: attempt.clientIdAssigned, username: attempt.username };
    const bans = countsTowardBan && !BROKER_SIDE_REFUSALS.has(primary.code) ? await ctx.failures.record(who, ctx.settings.autoBan, ctx.now) : [];
    return { kind: 'refuse', primary, refusals, bans };
  };

  try {
    const block = ctx.blocklist.match({ clientId: attempt.clientId, username: attempt.username, ip: attempt.trusted.ip }, ctx.now);
    // A blocked client is refused before any credential is tried: nothing to count.
    if (block) return fail(blockRefusal(block), false);

    const prefixes = ctx.settings.clientIdPrefixes;
    if (prefixes.length > 0 && !attempt.clientIdAssigned && !prefixes.some((p) => attempt.clientId.startsWith(p))) {
      return fail({ code: 'CLIENT_ID_PREFIX_NOT_ALLOWED', detail: `client id "${attempt.clientId}" has none of the allowed prefixes` });
    }

    if (ctx.providers.length === 0) return fail({ code: 'NO_PROVIDER_ENABLED', detail: 'every authentication provider is disabled' });

    for (const provider of ctx.providers) {
      const answer = await provider.authenticate(attempt);
      if (answer.kind === 'skip') continue;
      if (answer.kind === 'refuse') {
        refusals.push({ provider: provider.type, refusal: answer.refusal });
        continue;
      }
      if (answer.kind === 'accept') return { kind: 'accept', identity: answer.identity, authenticationData: answer.authenticationData };
      // An enhanced authentication exchange belongs to the provider that started it until it ends.
      return followExchange(answer, provider.type, fail, refusals);
    }

    const first = refusals.find(wasNotChecked) ?? refusals[0];
    if (first) return fail(first.refusal);
    if (attempt.authenticationMethod !== null) {
      return fail({ code: 'BAD_AUTHENTICATION_METHOD', detail: `no enabled provider offers "${attempt.authenticationMethod.slice(0, 64)}"` });
    }
    if (attempt.username === null && attempt.password === null) {
      return fail({ code: 'ANONYMOUS_NOT_ALLOWED', detail: 'no credentials sent and anonymous access is disabled' });
    }
    return fail({ code: 'NO_CREDENTIALS_FOUND', detail: 'no enabled provider recognised the credentials' });
  } catch (err) {
    console.error('authentication chain failed', err);
    return fail({ code: 'AUTHENTICATION_UNAVAILABLE', detail: 'the credential store could not be read' });
  }
}

function followExchange(
  answer: Extract<ProviderAnswer, { kind: 'continue' }>,
  provider: ProviderType,
  fail: (r: Refusal) => Promise<ChainRefusal>,
  refusals: ChainRefusal['refusals'],
): ChainOutcome {
  return {
    kind: 'continue',
    authenticationData: answer.authenticationData,
    async next(data) {
      try {
        const step = await answer.next(data);
        if (step.kind === 'accept') return { kind: 'accept', identity: step.identity, authenticationData: step.authenticationData };
        if (step.kind === 'continue') return followExchange(step, provider, fail, refusals);
        const refusal: Refusal = step.kind === 'refuse' ? step.refusal : { code: 'SCRAM_PROTOCOL_ERROR', detail: 'exchange abandoned' };
        refusals.push({ provider, refusal });
        return fail(refusal);
      } catch (err) {
        console.error('authentication exchange failed', err);
        return fail({ code: 'AUTHENTICATION_UNAVAILABLE', detail: 'the authentication exchange failed' });
      }
    },
  };
}

/**
 * A provider that was too busy to check the credentials decides the answer
 * when nobody accepted, whatever its place in the chain: the credentials it
 * did not check may well be right, so the client must hear "try later", not
 * "bad password", and the attempt must not count toward a ban.
 */
function wasNotChecked({ refusal }: ChainRefusal['refusals'][number]): boolean {
  return refusal.code === 'AUTHENTICATION_BUSY';
}

function blockRefusal(block: BlockEntry): Refusal {
  const until = block.expiresAt === null ? 'no expiry' : `until ${new Date(block.expiresAt).toISOString()}`;
  const prefix = block.kind === 'cidr' ? prefixWords(block.value) : null;
  const what = `${prefix ? `${prefix}, ` : ''}${block.kind} "${block.value}"${block.ip ? ` ${blockedAt(block.ip)}` : ''}`;
  return block.source === 'auto'
    ? { code: 'TEMPORARILY_BANNED', detail: `too many failed attempts from ${what} (${until})` }
    : { code: 'CLIENT_BLOCKED', detail: `blocked by ${what} (${until})` };
}

/** Where a client id entry holds: one IP, or a range (an IPv6 client's /64 for an automatic ban). */
function blockedAt(ip: string): string {
  if (!ip.includes('/')) return `at IP "${ip}"`;
  return `in ${prefixWords(ip) ?? 'range'} "${ip}"`;
}

/** The reason text stored in the log: every provider's refusal, first one first. */
export function describeRefusals(outcome: ChainRefusal): string {
  return outcome.refusals
    .map(({ provider, refusal }) => `${provider ?? 'broker'}: ${REFUSAL_REASONS[refusal.code].title}: ${refusal.detail}`)
    .join('; ');
}
