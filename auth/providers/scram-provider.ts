import type { AuthProvider, ProviderAnswer, Refusal, TopicRules } from '../provider';
import { isScramMechanism, type ScramMechanism } from '../scram/scram-crypto';
import { startScram, type ScramStep } from '../scram/scram-server';
import type { ProviderSettings } from '../settings';

export interface ScramCredentialRecord {
  id: string;
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
  allowedClientIds: string[] | null;
  rules: TopicRules | null;
}

export interface ScramCredentialSource {
  findScramCredential(username: string, mechanism: ScramMechanism): Promise<ScramCredentialRecord | null>;
}

/**
 * SCRAM-SHA-256 / SCRAM-SHA-512 through MQTT 5 enhanced authentication: the
 * CONNECT carries client-first, an AUTH (0x18) carries server-first, the
 * client's AUTH carries client-final, and the CONNACK carries server-final,
 * so the client can check that the broker knows its key too. Only CONNECTs
 * naming one of the enabled mechanisms are this provider's business.
 */
export function createScramProvider(settings: ProviderSettings['scram'], source: ScramCredentialSource, fakeSaltSecret: Uint8Array): AuthProvider {
  return {
    type: 'scram',
    async authenticate(attempt): Promise<ProviderAnswer> {
      const method = attempt.authenticationMethod;
      if (!isScramMechanism(method) || !settings.mechanisms.includes(method)) return { kind: 'skip' };
      const step = await startScram(attempt.authenticationData, {
        mechanism: method,
        fakeSaltSecret,
        lookup: async (username) => {
          const c = await source.findScramCredential(username, method);
          return c && { salt: c.salt, iterations: c.iterations, storedKey: c.storedKey, serverKey: c.serverKey, record: c };
        },
      });
      return answer(step, attempt.clientId, attempt.username, method);
    },
  };
}

function answer(step: ScramStep<ScramCredentialRecord>, clientId: string, connectUsername: string | null, mechanism: ScramMechanism): ProviderAnswer {
  switch (step.kind) {
    case 'challenge':
      return { kind: 'continue', authenticationData: step.data, next: async (data) => answer(await step.next(data), clientId, connectUsername, mechanism) };
    case 'failure':
      return { kind: 'refuse', refusal: failureRefusal(step.failure, step.detail, mechanism) };
    case 'success': {
      // The CONNECT username, when sent, must be the one that proved itself; otherwise ACLs would judge a name nobody proved.
      if (connectUsername !== null && connectUsername !== '' && connectUsername !== step.username) {
        return refuse('SCRAM_PROTOCOL_ERROR', `CONNECT username ${JSON.stringify(connectUsername)} differs from the SCRAM username ${JSON.stringify(step.username)}`);
      }
      const credential = step.credential;
      if (credential.allowedClientIds !== null && !credential.allowedClientIds.includes(clientId)) {
        return refuse('CLIENT_ID_NOT_OWNED', `SCRAM credential for username ${JSON.stringify(step.username)} may not use client id "${clientId}"`);
      }
      return {
        kind: 'accept',
        identity: { provider: 'scram', credentialId: credential.id, username: step.username, cn: null, rules: credential.rules },
        authenticationData: step.data,
      };
    }
  }
}

function failureRefusal(failure: 'unknown-user' | 'invalid-proof' | 'protocol', detail: string, mechanism: ScramMechanism): Refusal {
  const code = failure === 'unknown-user' ? 'SCRAM_UNKNOWN_USER' : failure === 'invalid-proof' ? 'SCRAM_PROOF_INVALID' : 'SCRAM_PROTOCOL_ERROR';
  return { code, detail: `${mechanism}: ${detail}` };
}

function refuse(code: Refusal['code'], detail: string): ProviderAnswer {
  return { kind: 'refuse', refusal: { code, detail } };
}
