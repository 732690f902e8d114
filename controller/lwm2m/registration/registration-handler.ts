import { randomFillSync } from 'node:crypto';
import type { Peer } from '../../coap/address.js';
import { normaliseAddress } from '../../coap/address.js';
import type { SecurityMode } from '../../coap/transport.js';
import { ContentFormat } from '../content-format.js';
import { objectLinksFromRegistration, parseLinkFormat } from '../link-format.js';
import type { Registration } from './registration.js';
import { parseRegisterQuery, parseUpdateQuery } from './registration-params.js';
import type { RegistrationStore } from './registration-store.js';
import { decodeWireText, decodeWireTexts } from './wire-text.js';

/**
 * Why a Register is refused with 4.03: its DTLS identity belongs to another endpoint (or to none any
 * more), the endpoint has credentials and came over plain CoAP, or it would replace a registration
 * made over DTLS without authenticating.
 */
export type RegisterRefusal = 'identity-of-another-endpoint' | 'credentials-required' | 'takeover';

export function forbidden(
  endpoint: string,
  reason: RegisterRefusal,
): Extract<RegistrationOutcome, { kind: 'forbidden' }> {
  return { kind: 'forbidden', endpoint, reason, code: '4.03', message: REFUSAL_MESSAGE[reason] };
}

const REFUSAL_MESSAGE: Record<RegisterRefusal, string> = {
  'identity-of-another-endpoint': 'the DTLS identity does not belong to this endpoint',
  'credentials-required': 'this endpoint must register over DTLS',
  takeover: 'this endpoint is registered over DTLS',
};

/** What a registration request asks for, already validated: the code to answer and the change made. */
export type RegistrationOutcome =
  | {
      readonly kind: 'registered';
      readonly registration: Registration;
      readonly previous: Registration | undefined;
    }
  | { readonly kind: 'updated'; readonly registration: Registration; readonly previous: Registration }
  | { readonly kind: 'deregistered'; readonly registration: Registration }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string }
  /**
   * An Update or De-register of a known registration from another source (address and port on plain
   * CoAP, PSK identity over DTLS): answered exactly like an unknown id, so the answer does not tell
   * that the id exists.
   */
  | {
      readonly kind: 'refused';
      readonly operation: 'update' | 'deregister';
      readonly registration: Registration;
      readonly code: '4.04';
      readonly message: string;
    }
  /** A Register the sender may not make (identity of another endpoint, credentials required, takeover). */
  | {
      readonly kind: 'forbidden';
      readonly endpoint: string;
      readonly reason: RegisterRefusal;
      readonly code: '4.03';
      readonly message: string;
    };

export interface RegistrationRequest {
  readonly method: string | undefined;
  /** Uri-Path segments after `rd`, as received (decoded here, strictly). */
  readonly pathAfterRd: readonly Buffer[];
  /** Uri-Query options, as received. */
  readonly query: readonly Buffer[];
  readonly contentFormat: number | undefined;
  readonly payload: Buffer;
  /** With the identity its session authenticated, on a secure transport. */
  readonly peer: Peer;
  /** The transport it came over. */
  readonly security: SecurityMode;
}

export const ANSWER_CODE = { registered: '2.01', updated: '2.04', deregistered: '2.02' } as const;

type LinksResult =
  | { readonly kind: 'ok'; readonly links: string; readonly contentFormats: readonly number[] | undefined }
  | { readonly kind: 'rejected'; readonly code: string; readonly message: string };

/**
 * Parsed bodies by text. A fleet registers with a handful of distinct bodies, so the parse and check
 * run once per body rather than once per Register; bounded, in case every device sends its own.
 */
const linksByBody = new Map<string, LinksResult>();
const MAX_CACHED_BODIES = 256;

function parseLinks(text: string): LinksResult {
  const cached = linksByBody.get(text);
  if (cached !== undefined) return cached;
  const parsed = parseLinkFormat(text);
  const result: LinksResult = parsed.ok
    ? { kind: 'ok', links: text, contentFormats: objectLinksFromRegistration(parsed.links).contentFormats }
    : { kind: 'rejected', code: '4.00', message: `invalid link format: ${parsed.error}` };
  if (linksByBody.size >= MAX_CACHED_BODIES) linksByBody.clear();
  linksByBody.set(text, result);
  return result;
}

/**
 * Registration ids: 12 random bytes (96 bits) as base64url, cut from a pool refilled 512 ids at a
 * time. Unguessable, though the address check below is what stops a leaked one from being used.
 */
const ID_BYTES = 12;
const idPool = Buffer.alloc(ID_BYTES * 512);
let idOffset = idPool.length;

function newRegistrationId(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = idPool.toString('base64url', idOffset, idOffset + ID_BYTES);
  idOffset += ID_BYTES;
  return id;
}

function readLinks(req: RegistrationRequest, required: boolean): LinksResult | undefined {
  if (req.payload.length === 0) {
    if (required) return { kind: 'rejected', code: '4.00', message: 'Register without object links' };
    return undefined;
  }
  const ct = req.contentFormat;
  if (ct !== undefined && ct !== ContentFormat.LINK_FORMAT && ct !== ContentFormat.TEXT) {
    return { kind: 'rejected', code: '4.15', message: `object links must be link-format, not ${ct}` };
  }
  const text = decodeWireText(req.payload);
  if (!text.ok) return { kind: 'rejected', code: '4.00', message: `object links ${text.reason}` };
  return parseLinks(text.text);
}

export interface RegistrationContext {
  readonly store: RegistrationStore;
  readonly now: () => number;
}

/** The endpoint a Register names; undefined for any other request or a Register that will be rejected. */
export function registerEndpointOf(req: RegistrationRequest): string | undefined {
  if (req.method !== 'POST' || req.pathAfterRd.length > 0) return undefined;
  const query = decodeWireTexts(req.query, 'Uri-Query option');
  if (!query.ok) return undefined;
  const params = parseRegisterQuery(query.texts);
  return params.kind === 'rejected' ? undefined : params.params.endpoint;
}

/**
 * Reads like the spec: extract, validate, store, and say what to answer (the caller answers, then
 * emits). A Register reaches here authorised already (see `authoriseRegister`).
 */
export function handleRegistration(ctx: RegistrationContext, req: RegistrationRequest): RegistrationOutcome {
  const path = decodeWireTexts(req.pathAfterRd, 'Uri-Path segment');
  if (!path.ok) return { kind: 'rejected', code: '4.00', message: path.reason };
  const query = decodeWireTexts(req.query, 'Uri-Query option');
  if (!query.ok) return { kind: 'rejected', code: '4.00', message: query.reason };
  const [id, ...rest] = path.texts;
  if (rest.length > 0) return { kind: 'rejected', code: '4.04', message: 'no such resource' };
  if (id === undefined) {
    if (req.method !== 'POST') return { kind: 'rejected', code: '4.05', message: 'Register is a POST' };
    return register(ctx, req, query.texts);
  }
  if (req.method === 'POST') return update(ctx, id, req, query.texts);
  if (req.method === 'DELETE') return deregister(ctx, id, req);
  return { kind: 'rejected', code: '4.05', message: 'method not allowed on a registration' };
}

function register(
  ctx: RegistrationContext,
  req: RegistrationRequest,
  query: readonly string[],
): RegistrationOutcome {
  const params = parseRegisterQuery(query);
  if (params.kind === 'rejected') return params;
  const links = readLinks(req, true);
  if (links === undefined || links.kind === 'rejected') {
    return links ?? { kind: 'rejected', code: '4.00', message: 'no object links' };
  }
  const endpoint = params.params.endpoint;
  // Only a Register that authenticated as the endpoint replaces its registration over DTLS.
  if (req.security !== 'psk' && ctx.store.byEndpoint(endpoint)?.security === 'psk') {
    return forbidden(endpoint, 'takeover');
  }
  const now = ctx.now();
  const registration: Registration = {
    id: newRegistrationId(),
    endpoint: params.params.endpoint,
    address: normaliseAddress(req.peer.address),
    port: req.peer.port,
    security: req.security,
    identity: req.peer.identity,
    lifetime: params.params.lifetime,
    lwm2mVersion: params.params.lwm2mVersion,
    binding: params.params.binding,
    queueMode: params.params.queueMode,
    sms: params.params.sms,
    links: links.links,
    contentFormats: links.contentFormats,
    registeredAt: now,
    lastUpdateAt: now,
  };
  const { previous } = ctx.store.add(registration);
  return { kind: 'registered', registration, previous };
}

const UNKNOWN = { kind: 'rejected', code: '4.04', message: 'unknown registration' } as const;

/**
 * Who may update or end a registration: over DTLS the identity it registered with, from any address
 * (a device that handshakes again from a new port after a NAT rebinding goes on); over plain CoAP
 * only the address and port it was made from (a device whose address changed registers again).
 * Anyone else who learned its id gets what an unknown id gets.
 */
function fromRegisteredSource(reg: Registration, req: RegistrationRequest): boolean {
  if (reg.security !== req.security) return false;
  if (reg.security === 'psk') return reg.identity !== undefined && reg.identity === req.peer.identity;
  return reg.port === req.peer.port && reg.address === normaliseAddress(req.peer.address);
}

function refused(operation: 'update' | 'deregister', registration: Registration): RegistrationOutcome {
  return { kind: 'refused', operation, registration, code: UNKNOWN.code, message: UNKNOWN.message };
}

function update(
  ctx: RegistrationContext,
  id: string,
  req: RegistrationRequest,
  query: readonly string[],
): RegistrationOutcome {
  const current = ctx.store.get(id);
  if (current === undefined) return UNKNOWN;
  if (!fromRegisteredSource(current, req)) return refused('update', current);
  const params = parseUpdateQuery(query);
  if (params.kind === 'rejected') return params;
  const links = readLinks(req, false);
  if (links?.kind === 'rejected') return links;
  const p = params.params;
  const registration: Registration = {
    ...current,
    // Over DTLS the identity vouches for the device wherever it now sends from.
    address: normaliseAddress(req.peer.address),
    port: req.peer.port,
    lifetime: p.lifetime ?? current.lifetime,
    binding: p.binding ?? current.binding,
    queueMode: updatedQueueMode(current, p.queueMode, p.queueFromBinding === true),
    sms: p.sms ?? current.sms,
    links: links?.links ?? current.links,
    contentFormats: links === undefined ? current.contentFormats : links.contentFormats,
    lastUpdateAt: ctx.now(),
  };
  const changed = ctx.store.update(registration);
  if (changed === undefined) return UNKNOWN;
  return { kind: 'updated', registration, previous: changed.previous };
}

function deregister(ctx: RegistrationContext, id: string, req: RegistrationRequest): RegistrationOutcome {
  const current = ctx.store.get(id);
  if (current === undefined) return UNKNOWN;
  if (!fromRegisteredSource(current, req)) return refused('deregister', current);
  ctx.store.remove(id);
  return { kind: 'deregistered', registration: current };
}

/** In 1.0 the queue flag lives in `b`, so an Update with b=U leaves queue mode; 1.1+ clients keep it. */
function updatedQueueMode(
  current: Registration,
  requested: boolean | undefined,
  fromBinding: boolean,
): boolean {
  if (requested === undefined) return current.queueMode;
  if (requested) return true;
  return fromBinding && current.lwm2mVersion === '1.0' ? false : current.queueMode;
}
