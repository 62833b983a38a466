import type { BrokerConfig } from '../protocol/config';
import type { Authenticator } from '../protocol/ports';
import { RC, CONNACK_V3 } from '../protocol/reason-codes';

/**
 * Builds the CONNECT authenticator for a shard. Anonymous access follows
 * mosquitto's allow_anonymous and is off unless configured: when unsure, deny.
 */
export function createAuthenticator(_env: Record<string, unknown>, config: BrokerConfig): Authenticator {
  return {
    authenticate(request) {
      if (config.allowAnonymous) return { ok: true, username: request.username };
      return { ok: false, reasonCode: RC.NOT_AUTHORIZED, returnCode: CONNACK_V3.NOT_AUTHORIZED };
    },
  };
}
