import type { CoapRequester, CoapResponse, ExchangeOutcome, OutgoingRequest } from '../../coap/requester.js';
import { ObservationRecord } from '../../coap/requester.js';
import {
  decode,
  EncodeError,
  encode,
  isSupportedFormat,
  type ResourceRecord,
  type ResourceValue,
} from '../codec/index.js';
import { ContentFormat, type ContentFormatId } from '../content-format.js';
import { parseLinkFormat } from '../link-format.js';
import type { ObjectModel } from '../model/index.js';
import type { ObservationRegistry, TrackedObservation } from '../observations/observation-registry.js';
import { formatPath, PathError, parsePath, pathDepth } from '../path.js';
import type { Registration } from '../registration/registration.js';
import { deviceText } from './device-text.js';
import type { Dispatcher, RequestGate } from './dispatcher.js';
import { formatCandidates, isFormatRejection } from './format-choice.js';
import type {
  ChangeResult,
  DiscoverResult,
  Failure,
  NotificationResult,
  Observation,
  ObserveResult,
  ReadResult,
} from './results.js';

export interface RequestOpts {
  /** Content format to ask for (Read/Observe) or to send (Write); chosen per device otherwise. */
  readonly format?: ContentFormatId;
  /** Overall deadline in ms (all retransmissions and blocks). */
  readonly timeoutMs?: number;
}

export interface WriteOpts extends RequestOpts {
  /** replace = PUT (the default), update = POST (partial update). */
  readonly mode?: 'replace' | 'update';
}

/**
 * Receives an observation's notifications. It is told which observation (endpoint and path), so one
 * listener can serve a whole fleet instead of a closure per observation kept for as long as it lives.
 */
export type NotificationListener = (n: NotificationResult, observation: Observation) => void;

export interface DeviceClientDeps {
  readonly dispatcher: Dispatcher;
  readonly registration: (endpoint: string) => Registration | undefined;
  readonly model: ObjectModel;
  /** Per-device memory of a format that worked after a 4.06/4.15 fallback. */
  readonly formatMemory: Map<string, ContentFormatId>;
  /** The live observations: an accepted one is tracked until it is cancelled or ends. */
  readonly observations: ObservationRegistry;
  readonly onNotification: (endpoint: string, path: string, n: NotificationResult) => void;
}

type Checked = { readonly kind: 'path'; readonly path: string; readonly depth: number } | Failure;

function checkPath(text: string): Checked {
  try {
    const p = parsePath(text);
    const path = formatPath(p);
    // The caller's string when it is already canonical: a long-lived observation then shares it.
    return { kind: 'path', path: path === text ? text : path, depth: pathDepth(p) };
  } catch (err) {
    if (err instanceof PathError) return { kind: 'invalid', reason: err.message };
    throw err;
  }
}

const sharedSegments = new Map<string, readonly string[]>();
const MAX_SHARED_SEGMENTS = 1024;

/**
 * The Uri-Path segments of a canonical path ('/5/0/3' -> ['5', '0', '3']). Shared per path (a fleet
 * asks for a handful of paths): an observation keeps its request's segments for as long as it lives.
 */
function segments(path: string): readonly string[] {
  let out = sharedSegments.get(path);
  if (out === undefined) {
    out = path === '/' ? [] : path.slice(1).split('/');
    if (sharedSegments.size >= MAX_SHARED_SEGMENTS) sharedSegments.clear();
    sharedSegments.set(path, out);
  }
  return out;
}

function failureOf(outcome: Exclude<ExchangeOutcome, { kind: 'response' }>): Failure {
  return outcome;
}

function errorOf(response: CoapResponse): Failure {
  // The device's own words: shown to operators and stored with the failure, so made printable here.
  const message = response.payload.length > 0 ? deviceText(response.payload.toString('utf8')) : undefined;
  return { kind: 'error', code: response.code, message };
}

function decodeValues(
  path: string,
  response: CoapResponse,
  fallbackFormat: number | undefined,
  model: ObjectModel,
): { kind: 'ok'; records: ResourceRecord[]; format: number | undefined } | Failure {
  const format = response.contentFormat ?? fallbackFormat ?? ContentFormat.TEXT;
  if (response.payload.length === 0) return { kind: 'ok', records: [], format: response.contentFormat };
  if (!isSupportedFormat(format)) return { kind: 'invalid', reason: `unsupported content format ${format}` };
  const decoded = decode(format, path, response.payload, model);
  if (!decoded.ok) return { kind: 'invalid', reason: decoded.error };
  return { kind: 'ok', records: decoded.records, format: response.contentFormat };
}

/**
 * One observation: the handle the caller gets, the receiver of its notifications and (as an
 * ObservationRecord) its transport state. Devices stay observed for as long as they are registered,
 * so this one object is all an observation costs (no closures); `next` chains the observations of
 * one endpoint for the observation registry.
 */
export class DeviceObservation extends ObservationRecord implements TrackedObservation {
  next: TrackedObservation | undefined = undefined;
  /** The requester of the transport the observation was made over; set when it is sent. */
  requester: CoapRequester | undefined = undefined;

  constructor(
    readonly endpoint: string,
    readonly path: string,
    readonly format: ContentFormatId,
    readonly deps: DeviceClientDeps,
    readonly onNotify: NotificationListener,
  ) {
    super();
  }

  async cancel(opts?: { readonly active?: boolean }): Promise<void> {
    this.deps.observations.untrack(this);
    await this.requester?.cancelObservation(this, opts?.active === true);
  }

  notify(response: CoapResponse): void {
    let n: NotificationResult;
    if (!response.code.startsWith('2.')) {
      const e = errorOf(response);
      n = e.kind === 'error' ? e : { kind: 'error', code: response.code, message: undefined };
    } else {
      const decoded = decodeValues(this.path, response, this.format, this.deps.model);
      n =
        decoded.kind === 'ok'
          ? {
              kind: 'ok',
              code: response.code,
              format: decoded.format,
              records: decoded.records,
              raw: response.payload,
              sequence: response.observe,
            }
          : { kind: 'invalid', reason: decoded.kind === 'invalid' ? decoded.reason : decoded.kind };
    }
    if (n.kind === 'error' || response.observe === undefined) {
      this.deps.observations.untrack(this);
    }
    this.deps.onNotification(this.endpoint, this.path, n);
    this.onNotify(n, this);
  }
}

/**
 * Device management requests for one endpoint; each call follows its current registration. A class
 * (methods on the prototype) so that a client costs one small object, and nothing of it outlives a
 * request but the observations it made. Its requests go through `gate`, when given (see RequestGate).
 */
export class DeviceClient {
  readonly #deps: DeviceClientDeps;
  readonly #gate: RequestGate | undefined;

  constructor(
    readonly endpoint: string,
    deps: DeviceClientDeps,
    gate?: RequestGate,
  ) {
    this.#deps = deps;
    this.#gate = gate;
  }

  async read(pathText: string, opts?: RequestOpts): Promise<ReadResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const { path, depth } = checked;
    const run = (format: ContentFormatId) =>
      this.#readOnce(path, { method: 'GET', pathSegments: segments(path), accept: format }, format, opts);
    if (opts?.format !== undefined) return (await run(opts.format)).result;
    const candidates = this.#candidatesFor(depth >= 3);
    if (candidates === undefined) return { kind: 'unreachable', reason: 'not registered' };
    return this.#withFormats(candidates, run);
  }

  async write(
    pathText: string,
    value: readonly ResourceRecord[] | ResourceValue,
    opts?: WriteOpts,
  ): Promise<ChangeResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const { path, depth } = checked;
    const method = opts?.mode === 'update' ? 'POST' : 'PUT';
    const records: readonly ResourceRecord[] = Array.isArray(value)
      ? (value as readonly ResourceRecord[])
      : [{ path, value: value as ResourceValue }];
    let candidates: ContentFormatId[];
    if (opts?.format !== undefined) candidates = [opts.format];
    else if (!Array.isArray(value) && depth >= 3) {
      candidates = [Buffer.isBuffer(value) ? ContentFormat.OPAQUE : ContentFormat.TEXT];
    } else {
      const found = this.#candidatesFor(false);
      if (found === undefined) return { kind: 'unreachable', reason: 'not registered' };
      candidates = found;
    }
    return this.#withFormats(candidates, async (format) => {
      let payload: Buffer;
      try {
        payload = encode(format, path, records, this.#deps.model);
      } catch (err) {
        if (err instanceof EncodeError || err instanceof PathError) {
          return { result: { kind: 'invalid', reason: err.message } as ChangeResult, rejected: false };
        }
        throw err;
      }
      const outcome = await this.#send(
        { method, pathSegments: segments(path), contentFormat: format, payload },
        opts,
      );
      return changeOf(outcome);
    });
  }

  async execute(pathText: string, args?: string, opts?: RequestOpts): Promise<ChangeResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    if (checked.depth !== 3) return { kind: 'invalid', reason: 'Execute needs a resource path' };
    const payload = args === undefined || args === '' ? undefined : Buffer.from(args, 'utf8');
    const outcome = await this.#send(
      { method: 'POST', pathSegments: segments(checked.path), ...(payload ? { payload } : {}) },
      opts,
    );
    return changeOf(outcome).result;
  }

  async discover(pathText: string, opts?: RequestOpts): Promise<DiscoverResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const outcome = await this.#send(
      { method: 'GET', pathSegments: segments(checked.path), accept: ContentFormat.LINK_FORMAT },
      opts,
    );
    if (outcome.kind !== 'response') return failureOf(outcome);
    const { response } = outcome;
    if (!response.code.startsWith('2.')) return errorOf(response);
    const parsed = parseLinkFormat(response.payload.toString('utf8'));
    if (!parsed.ok) return { kind: 'invalid', reason: parsed.error };
    return { kind: 'ok', code: response.code, links: parsed.links, raw: response.payload };
  }

  async observe(
    pathText: string,
    onNotify: NotificationListener,
    opts?: RequestOpts,
  ): Promise<ObserveResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const { path, depth } = checked;
    let candidates: ContentFormatId[];
    if (opts?.format !== undefined) candidates = [opts.format];
    else {
      const found = this.#candidatesFor(depth >= 3);
      if (found === undefined) return { kind: 'unreachable', reason: 'not registered' };
      candidates = found;
    }
    return this.#withFormats(candidates, (format) => this.#observeOnce(path, format, onNotify, opts));
  }

  /** Tries the candidate formats in order, moving on when the device answers 4.06 or 4.15. */
  async #withFormats<T extends { readonly kind: string }>(
    candidates: readonly ContentFormatId[],
    attempt: (format: ContentFormatId) => Promise<{ result: T; rejected: boolean }>,
  ): Promise<T> {
    const { formatMemory } = this.#deps;
    const remembered = formatMemory.get(this.endpoint);
    const ordered =
      remembered !== undefined && candidates.includes(remembered)
        ? [remembered, ...candidates.filter((f) => f !== remembered)]
        : candidates;
    let last: T | undefined;
    for (const [i, format] of ordered.entries()) {
      const { result, rejected } = await attempt(format);
      last = result;
      if (!rejected) {
        if (i > 0 && format !== ContentFormat.TEXT && format !== ContentFormat.OPAQUE) {
          formatMemory.set(this.endpoint, format);
        }
        return result;
      }
    }
    return last!;
  }

  #send(req: OutgoingRequest, opts: RequestOpts | undefined): Promise<ExchangeOutcome> {
    return this.#deps.dispatcher.dispatch(
      this.endpoint,
      ({ peer, requester }) =>
        requester.request(
          peer,
          req,
          opts?.timeoutMs === undefined ? undefined : { timeoutMs: opts.timeoutMs },
        ),
      this.#gate,
    );
  }

  async #readOnce(
    path: string,
    req: OutgoingRequest,
    format: ContentFormatId,
    opts: RequestOpts | undefined,
  ): Promise<{ result: ReadResult; rejected: boolean }> {
    const outcome = await this.#send(req, opts);
    if (outcome.kind !== 'response') return { result: failureOf(outcome), rejected: false };
    const { response } = outcome;
    if (!response.code.startsWith('2.')) {
      return { result: errorOf(response), rejected: isFormatRejection(response.code) };
    }
    const decoded = decodeValues(path, response, format, this.#deps.model);
    if (decoded.kind !== 'ok') return { result: decoded, rejected: false };
    return {
      result: {
        kind: 'ok',
        code: response.code,
        format: decoded.format,
        records: decoded.records,
        raw: response.payload,
      },
      rejected: false,
    };
  }

  #candidatesFor(single: boolean): ContentFormatId[] | undefined {
    const registration = this.#deps.registration(this.endpoint);
    return registration === undefined ? undefined : formatCandidates(registration, single);
  }

  async #observeOnce(
    path: string,
    format: ContentFormatId,
    onNotify: NotificationListener,
    opts: RequestOpts | undefined,
  ): Promise<{ result: ObserveResult; rejected: boolean }> {
    const deps = this.#deps;
    const observation = new DeviceObservation(this.endpoint, path, format, deps, onNotify);
    const outcome = await deps.dispatcher.dispatch(
      this.endpoint,
      ({ peer, requester }) => {
        observation.requester = requester;
        return requester.observe(
          peer,
          { method: 'GET', pathSegments: segments(path), accept: format },
          observation,
          opts?.timeoutMs === undefined ? undefined : { timeoutMs: opts.timeoutMs },
        );
      },
      this.#gate,
    );
    if (outcome.kind !== 'response') return { result: failureOf(outcome), rejected: false };
    const { response } = outcome;
    if (!response.code.startsWith('2.')) {
      return { result: errorOf(response), rejected: isFormatRejection(response.code) };
    }
    const decoded = decodeValues(path, response, format, deps.model);
    if (decoded.kind !== 'ok') {
      await observation.requester?.cancelObservation(observation, false);
      return { result: decoded, rejected: false };
    }
    if (!observation.accepted) {
      // A success without the Observe option: the device answers, but does not add us to its
      // observers (RFC 7641, 4.1). A refusal, not silence: callers read instead.
      await observation.requester?.cancelObservation(observation, false);
      return {
        result: {
          kind: 'error',
          code: response.code,
          message: 'answered without the Observe option: not observed',
        },
        rejected: false,
      };
    }
    deps.observations.track(observation);
    return {
      result: {
        kind: 'ok',
        code: response.code,
        format: decoded.format,
        records: decoded.records,
        raw: response.payload,
        observation,
      },
      rejected: false,
    };
  }
}

function changeOf(outcome: ExchangeOutcome): { result: ChangeResult; rejected: boolean } {
  if (outcome.kind !== 'response') return { result: failureOf(outcome), rejected: false };
  const { response } = outcome;
  if (!response.code.startsWith('2.')) {
    return { result: errorOf(response), rejected: isFormatRejection(response.code) };
  }
  return { result: { kind: 'ok', code: response.code }, rejected: false };
}
