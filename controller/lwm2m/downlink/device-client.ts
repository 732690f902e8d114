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
import { formatPath, PathError, parsePath, pathDepth } from '../path.js';
import type { Registration } from '../registration/registration.js';
import type {
  CoapRequester,
  CoapResponse,
  ExchangeOutcome,
  OutgoingRequest,
} from '../transport/requester.js';
import type { Dispatcher } from './dispatcher.js';
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

/** Device management requests for one endpoint; each call follows its current registration. */
export interface DeviceClient {
  readonly endpoint: string;
  read(path: string, opts?: RequestOpts): Promise<ReadResult>;
  write(
    path: string,
    value: readonly ResourceRecord[] | ResourceValue,
    opts?: WriteOpts,
  ): Promise<ChangeResult>;
  execute(path: string, args?: string, opts?: RequestOpts): Promise<ChangeResult>;
  discover(path: string, opts?: RequestOpts): Promise<DiscoverResult>;
  observe(
    path: string,
    onNotify: (n: NotificationResult) => void,
    opts?: RequestOpts,
  ): Promise<ObserveResult>;
}

export interface DeviceClientDeps {
  readonly dispatcher: Dispatcher;
  readonly registration: (endpoint: string) => Registration | undefined;
  readonly requester: CoapRequester;
  readonly model: ObjectModel;
  /** Per-device memory of a format that worked after a 4.06/4.15 fallback. */
  readonly formatMemory: Map<string, ContentFormatId>;
  readonly trackObservation: (endpoint: string, obs: Observation) => void;
  readonly untrackObservation: (endpoint: string, obs: Observation) => void;
  readonly onNotification: (endpoint: string, path: string, n: NotificationResult) => void;
}

type Checked = { readonly kind: 'path'; readonly path: string; readonly depth: number } | Failure;

function checkPath(text: string): Checked {
  try {
    const p = parsePath(text);
    return { kind: 'path', path: formatPath(p), depth: pathDepth(p) };
  } catch (err) {
    if (err instanceof PathError) return { kind: 'invalid', reason: err.message };
    throw err;
  }
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

function failureOf(outcome: Exclude<ExchangeOutcome, { kind: 'response' }>): Failure {
  return outcome;
}

function errorOf(response: CoapResponse): Failure {
  const message = response.payload.length > 0 ? response.payload.toString('utf8') : undefined;
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

export function createDeviceClient(endpoint: string, deps: DeviceClientDeps): DeviceClient {
  const { dispatcher, requester, model } = deps;

  /** Tries the candidate formats in order, moving on when the device answers 4.06 or 4.15. */
  async function withFormats<T extends { readonly kind: string }>(
    candidates: readonly ContentFormatId[],
    attempt: (format: ContentFormatId) => Promise<{ result: T; rejected: boolean }>,
  ): Promise<T> {
    const remembered = deps.formatMemory.get(endpoint);
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
          deps.formatMemory.set(endpoint, format);
        }
        return result;
      }
    }
    return last!;
  }

  function send(req: OutgoingRequest, opts: RequestOpts | undefined): Promise<ExchangeOutcome> {
    return dispatcher.dispatch(endpoint, ({ peer }) =>
      requester.request(peer, req, opts?.timeoutMs === undefined ? undefined : { timeoutMs: opts.timeoutMs }),
    );
  }

  async function read(pathText: string, opts?: RequestOpts): Promise<ReadResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const { path, depth } = checked;
    const run = (format: ContentFormatId) =>
      readOnce(path, { method: 'GET', pathSegments: segments(path), accept: format }, format, opts);
    if (opts?.format !== undefined) return (await run(opts.format)).result;
    const candidates = await candidatesFor(depth >= 3);
    if (candidates === undefined) return { kind: 'unreachable', reason: 'not registered' };
    return withFormats(candidates, run);
  }

  async function readOnce(
    path: string,
    req: OutgoingRequest,
    format: ContentFormatId,
    opts: RequestOpts | undefined,
  ): Promise<{ result: ReadResult; rejected: boolean }> {
    const outcome = await send(req, opts);
    if (outcome.kind !== 'response') return { result: failureOf(outcome), rejected: false };
    const { response } = outcome;
    if (!response.code.startsWith('2.')) {
      return { result: errorOf(response), rejected: isFormatRejection(response.code) };
    }
    const decoded = decodeValues(path, response, format, model);
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

  async function candidatesFor(single: boolean): Promise<ContentFormatId[] | undefined> {
    const registration = deps.registration(endpoint);
    return registration === undefined ? undefined : formatCandidates(registration, single);
  }

  async function write(
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
      const found = await candidatesFor(false);
      if (found === undefined) return { kind: 'unreachable', reason: 'not registered' };
      candidates = found;
    }
    return withFormats(candidates, async (format) => {
      let payload: Buffer;
      try {
        payload = encode(format, path, records, model);
      } catch (err) {
        if (err instanceof EncodeError || err instanceof PathError) {
          return { result: { kind: 'invalid', reason: err.message } as ChangeResult, rejected: false };
        }
        throw err;
      }
      const outcome = await send(
        { method, pathSegments: segments(path), contentFormat: format, payload },
        opts,
      );
      return changeOf(outcome);
    });
  }

  function changeOf(outcome: ExchangeOutcome): { result: ChangeResult; rejected: boolean } {
    if (outcome.kind !== 'response') return { result: failureOf(outcome), rejected: false };
    const { response } = outcome;
    if (!response.code.startsWith('2.')) {
      return { result: errorOf(response), rejected: isFormatRejection(response.code) };
    }
    return { result: { kind: 'ok', code: response.code }, rejected: false };
  }

  async function execute(pathText: string, args?: string, opts?: RequestOpts): Promise<ChangeResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    if (checked.depth !== 3) return { kind: 'invalid', reason: 'Execute needs a resource path' };
    const payload = args === undefined || args === '' ? undefined : Buffer.from(args, 'utf8');
    const outcome = await send(
      { method: 'POST', pathSegments: segments(checked.path), ...(payload ? { payload } : {}) },
      opts,
    );
    return changeOf(outcome).result;
  }

  async function discover(pathText: string, opts?: RequestOpts): Promise<DiscoverResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const outcome = await send(
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

  async function observe(
    pathText: string,
    onNotify: (n: NotificationResult) => void,
    opts?: RequestOpts,
  ): Promise<ObserveResult> {
    const checked = checkPath(pathText);
    if (checked.kind !== 'path') return checked;
    const { path, depth } = checked;
    let candidates: ContentFormatId[];
    if (opts?.format !== undefined) candidates = [opts.format];
    else {
      const found = await candidatesFor(depth >= 3);
      if (found === undefined) return { kind: 'unreachable', reason: 'not registered' };
      candidates = found;
    }
    return withFormats(candidates, (format) => observeOnce(path, format, onNotify, opts));
  }

  async function observeOnce(
    path: string,
    format: ContentFormatId,
    onNotify: (n: NotificationResult) => void,
    opts: RequestOpts | undefined,
  ): Promise<{ result: ObserveResult; rejected: boolean }> {
    let observation: Observation | undefined;
    const deliver = (response: CoapResponse) => {
      let n: NotificationResult;
      if (!response.code.startsWith('2.')) {
        const e = errorOf(response);
        n = e.kind === 'error' ? e : { kind: 'error', code: response.code, message: undefined };
      } else {
        const decoded = decodeValues(path, response, format, model);
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
      if ((n.kind === 'error' || response.observe === undefined) && observation !== undefined) {
        deps.untrackObservation(endpoint, observation);
      }
      deps.onNotification(endpoint, path, n);
      onNotify(n);
    };
    const outcome = await dispatcher.dispatch(endpoint, ({ peer }) =>
      requester.observe(
        peer,
        { method: 'GET', pathSegments: segments(path), accept: format },
        deliver,
        opts?.timeoutMs === undefined ? undefined : { timeoutMs: opts.timeoutMs },
      ),
    );
    if (outcome.kind !== 'response') return { result: failureOf(outcome), rejected: false };
    const { response } = outcome;
    if (!response.code.startsWith('2.')) {
      return { result: errorOf(response), rejected: isFormatRejection(response.code) };
    }
    const decoded = decodeValues(path, response, format, model);
    const handle = 'observation' in outcome ? outcome.observation : undefined;
    if (decoded.kind !== 'ok') {
      await handle?.cancel({ active: false });
      return { result: decoded, rejected: false };
    }
    if (handle === undefined) {
      return {
        result: { kind: 'unreachable', reason: 'device did not accept the observation' },
        rejected: false,
      };
    }
    const obs: Observation = {
      endpoint,
      path,
      cancel: async (cancelOpts) => {
        deps.untrackObservation(endpoint, obs);
        await handle.cancel(cancelOpts);
      },
    };
    observation = obs;
    deps.trackObservation(endpoint, obs);
    return {
      result: {
        kind: 'ok',
        code: response.code,
        format: decoded.format,
        records: decoded.records,
        raw: response.payload,
        observation: obs,
      },
      rejected: false,
    };
  }

  return { endpoint, read, write, execute, discover, observe };
}
