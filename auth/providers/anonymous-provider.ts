import type { AuthProvider } from '../provider';

/**
 * mosquitto's allow_anonymous: a client that sends neither username nor
 * password (nor an enhanced authentication method) is let in as nobody in
 * particular. A client that does send credentials is someone else's to judge.
 */
export function createAnonymousProvider(): AuthProvider {
  return {
    type: 'anonymous',
    async authenticate(attempt) {
      if (attempt.username !== null || attempt.password !== null || attempt.authenticationMethod !== null) return { kind: 'skip' };
      return { kind: 'accept', identity: { provider: 'anonymous', credentialId: null, username: null, cn: null, rules: null } };
    },
  };
}
