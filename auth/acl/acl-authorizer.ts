import type { Authorizer, Principal } from '../../protocol/ports';
import type { AuthenticatedIdentity } from '../provider';
import {
  compileAclSnapshot,
  compilePrincipal,
  evaluate,
  type AclAction,
  type AclDecision,
  type AclSnapshot,
  type CompiledAclSnapshot,
  type CompiledPrincipal,
} from './evaluator';

export interface AclAuthorizerOptions {
  /** Cached decisions per principal and action; the oldest goes first when full. */
  cacheSize?: number;
  /** Principals without a bound identity (anonymous) whose compiled rules are kept. */
  unboundPrincipals?: number;
}

/** A bound client and the identity its topic rules come from. */
export interface BoundPrincipal {
  clientId: string;
  identity: AuthenticatedIdentity;
}

/**
 * A binding made while a CONNECT is still being handled. It is in force at
 * once (the CONNECT's own will is checked under it), and the engine settles
 * it once the CONNECT is answered.
 */
export interface PendingBinding {
  /** The CONNECT was accepted: the bindings it replaced are gone for good. */
  keep(): void;
  /**
   * The CONNECT was refused or abandoned after authentication: the binding
   * in force before it comes back, so a session still connected under this
   * client id is not judged by the rules of the newcomer that was turned away.
   */
  undo(): void;
  /** This binding's token (AuthDecision.binding): the session opened under it is judged by it for its will. */
  readonly binding: unknown;
}

/** `explain` input: a live principal, or anyone given by username or full identity (the admin API's tester). */
export interface ExplainPrincipal extends Principal {
  identity?: AuthenticatedIdentity;
}

/** Rules and cached answers of one client under the current snapshot. */
class PrincipalState {
  compiled: CompiledPrincipal | null = null;
  readonly publish = new Map<string, boolean>();
  readonly subscribe = new Map<string, boolean>();
  readonly receive = new Map<string, boolean>();
  /** The binding this one replaced, kept until the CONNECT that made this one is settled. */
  previous: PrincipalState | null = null;

  constructor(
    readonly clientId: string,
    readonly identity: AuthenticatedIdentity | null,
  ) {}

  reset(): void {
    this.compiled = null;
    this.publish.clear();
    this.subscribe.clear();
    this.receive.clear();
  }
}

const EMPTY_SNAPSHOT: AclSnapshot = { aclRules: [], credentialRules: null, defaultPolicy: 'deny', version: -1 };

/**
 * The broker's Authorizer over topic ACLs (see evaluator.ts for the rules).
 * Everything a snapshot allows to be done once is done once: rule filters are
 * split and regular expressions compiled per snapshot, and per principal
 * (substitutions) on first use. Answers are cached per principal in bounded
 * maps, so a cached publish or delivery costs two map look-ups and allocates
 * nothing. A new snapshot drops every compiled rule and cached answer.
 *
 * Principals are bound by client id when a CONNECT authenticates, and the
 * binding is kept or undone once the CONNECT is answered. A client id
 * with no binding is anonymous without identity rules: only ACL rows for
 * anonymous clients and for everyone, then the default policy, apply.
 */
export class AclAuthorizer implements Authorizer {
  private compiled: CompiledAclSnapshot;
  private readonly bound = new Map<string, PrincipalState>();
  private readonly unbound = new Map<string, PrincipalState>();
  private readonly cacheSize: number;
  private readonly unboundLimit: number;

  constructor(snapshot: AclSnapshot = EMPTY_SNAPSHOT, options: AclAuthorizerOptions = {}) {
    this.compiled = compileAclSnapshot(snapshot);
    this.cacheSize = Math.max(1, options.cacheSize ?? 1024);
    this.unboundLimit = Math.max(1, options.unboundPrincipals ?? 1024);
  }

  /** The snapshot version in force (-1 before the first one). */
  get version(): number {
    return this.compiled.version;
  }

  /** Rows and patterns of the current snapshot that can never match, for logs and the admin API. */
  get problems(): readonly string[] {
    return this.compiled.problems;
  }

  /**
   * Applies new rules to every client, connected or not, from the next check
   * on. Rules that came from a credential are taken from the credential as it
   * is in this snapshot; rules from a token stay as the token said.
   */
  replaceSnapshot(snapshot: AclSnapshot): void {
    this.compiled = compileAclSnapshot(snapshot);
    for (const state of this.bound.values()) state.reset();
    this.unbound.clear();
  }

  bindPrincipal(clientId: string, identity: AuthenticatedIdentity): PendingBinding {
    const state = new PrincipalState(clientId, identity);
    state.previous = this.bound.get(clientId) ?? null;
    this.bound.set(clientId, state);
    this.unbound.delete(clientId);
    return {
      keep: () => {
        state.previous = null;
      },
      undo: () => this.undoBinding(state),
      binding: state,
    };
  }

  bindingOf(clientId: string): unknown {
    return this.bound.get(clientId) ?? null;
  }

  /** The identity a client id is bound to now, if any (for persisting a binding after an undo). */
  boundIdentity(clientId: string): AuthenticatedIdentity | null {
    return this.bound.get(clientId)?.identity ?? null;
  }

  unbindPrincipal(clientId: string): void {
    this.bound.delete(clientId);
    this.unbound.delete(clientId);
  }

  /** How many client ids have a principal bound. */
  get boundCount(): number {
    return this.bound.size;
  }

  /** Unbinds every client id `keep` turns down, and names them. */
  unbindUnless(keep: (clientId: string) => boolean): string[] {
    const gone: string[] = [];
    for (const clientId of this.bound.keys()) if (!keep(clientId)) gone.push(clientId);
    for (const clientId of gone) this.unbindPrincipal(clientId);
    return gone;
  }

  /** Every binding, for persisting across eviction. */
  principalsSnapshot(): BoundPrincipal[] {
    return [...this.bound.values()].map((s) => ({ clientId: s.clientId, identity: s.identity! }));
  }

  restorePrincipals(list: Iterable<BoundPrincipal>): void {
    for (const { clientId, identity } of list) this.bindPrincipal(clientId, identity);
  }

  canPublish(principal: Principal, topic: string): boolean {
    const replaced = this.replacedBinding(principal);
    if (replaced !== undefined) return evaluate(this.uncachedRulesOf(principal.clientId, replaced), 'publish', topic).allowed;
    const state = this.stateOf(principal.clientId);
    return state.publish.get(topic) ?? this.decide(state, state.publish, 'publish', topic);
  }

  canSubscribe(principal: Principal, filter: string): boolean {
    const state = this.stateOf(principal.clientId);
    return state.subscribe.get(filter) ?? this.decide(state, state.subscribe, 'subscribe', filter);
  }

  canReceive(principal: Principal, topic: string): boolean {
    const state = this.stateOf(principal.clientId);
    return state.receive.get(topic) ?? this.decide(state, state.receive, 'receive', topic);
  }

  /**
   * The decision with the rule that made it. Uses the bound identity of a
   * connected client; otherwise `principal.identity` when given, else the
   * username with no identity rules (how the admin API tests a username).
   */
  explain(action: AclAction, principal: ExplainPrincipal, topic: string): AclDecision {
    const state = principal.identity ? undefined : this.bound.get(principal.clientId);
    const compiled = state
      ? this.compiledOf(state)
      : compilePrincipal(this.compiled, { clientId: principal.clientId, username: principal.username, identity: principal.identity ?? null });
    return evaluate(compiled, action, topic);
  }

  /**
   * Bindings of one client id form a chain: the newest is in force, each
   * remembers the one it replaced until its CONNECT is settled. Undoing one
   * takes it out of the chain, so two CONNECTs for the same id settled out of
   * order still leave the right binding in force.
   */
  private undoBinding(state: PrincipalState): void {
    const top = this.bound.get(state.clientId);
    if (top === state) {
      const previous = state.previous;
      if (previous) {
        // Its cached answers may predate a snapshot that arrived meanwhile.
        previous.reset();
        this.bound.set(state.clientId, previous);
      } else {
        this.bound.delete(state.clientId);
      }
    } else {
      for (let s: PrincipalState | null | undefined = top; s; s = s.previous) {
        if (s.previous === state) {
          s.previous = state.previous;
          break;
        }
      }
    }
    state.previous = null;
  }

  /**
   * The binding a principal names when it is no longer the one in force for
   * its client id: the session of a client that a newer CONNECT for its id
   * replaces, judged for its will. null names no binding (judged unbound).
   * undefined: the binding in force applies.
   */
  private replacedBinding(principal: Principal): PrincipalState | null | undefined {
    const named = principal.binding;
    if (named === undefined || named === this.bound.get(principal.clientId)) return undefined;
    return named instanceof PrincipalState ? named : null;
  }

  /** Rules of a binding no longer in force, compiled from the current snapshot each time: wills are rare, and its cache may predate the snapshot. */
  private uncachedRulesOf(clientId: string, state: PrincipalState | null): CompiledPrincipal {
    return compilePrincipal(this.compiled, { clientId, username: null, identity: state?.identity ?? null });
  }

  private stateOf(clientId: string): PrincipalState {
    const state = this.bound.get(clientId) ?? this.unbound.get(clientId);
    if (state) return state;
    if (this.unbound.size >= this.unboundLimit) this.unbound.delete(this.unbound.keys().next().value!);
    const fresh = new PrincipalState(clientId, null);
    this.unbound.set(clientId, fresh);
    return fresh;
  }

  private compiledOf(state: PrincipalState): CompiledPrincipal {
    state.compiled ??= compilePrincipal(this.compiled, { clientId: state.clientId, username: null, identity: state.identity });
    return state.compiled;
  }

  private decide(state: PrincipalState, cache: Map<string, boolean>, action: AclAction, topic: string): boolean {
    const allowed = evaluate(this.compiledOf(state), action, topic).allowed;
    if (cache.size >= this.cacheSize) cache.delete(cache.keys().next().value!);
    cache.set(topic, allowed);
    return allowed;
  }
}
