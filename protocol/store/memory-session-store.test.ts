import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from './memory-session-store';
import { sessionStoreContract } from './session-store.contract';

sessionStoreContract('in memory', () => new MemorySessionStore(), { describe, it, expect });
