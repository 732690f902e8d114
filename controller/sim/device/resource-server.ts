import {
  decode,
  EncodeError,
  encode,
  isSupportedFormat,
  type ResourceRecord,
} from '../../lwm2m/codec/index.js';
import { ContentFormat, type ContentFormatId } from '../../lwm2m/content-format.js';
import { type Link, serializeLinkFormat } from '../../lwm2m/link-format.js';
import { defaultModel } from '../../lwm2m/model/index.js';
import { formatPath, isPrefixOf, type Lwm2mPath, pathDepth, tryParsePath } from '../../lwm2m/path.js';
import {
  type CoapMessage,
  CoapOption,
  Code,
  uintOption,
  uintOptionOf,
  uriPath,
  uriQuery,
} from '../coap/coap-message.js';
import type { PeerAddress, ResponseSpec } from '../coap/udp-endpoint.js';
import {
  discoverPaths,
  EXECUTABLES,
  type ExecutablePath,
  pathExists,
  resourceOperations,
  WRITABLES,
} from '../device-objects.js';
import type { DeviceContext } from './device-context.js';

/** Answers the server's requests: Read, Observe, Discover, Write, Write-Attributes and Execute. */
/** A write taken but never answered (the uri-write-unanswered fault): its retransmissions get nothing either. */
const UNANSWERED = Symbol('unanswered');

export class ResourceServer {
  readonly #ctx: DeviceContext;

  constructor(ctx: DeviceContext) {
    this.#ctx = ctx;
  }

  handle(m: CoapMessage, from: PeerAddress, reply: (r: ResponseSpec) => void): void {
    if (this.#ctx.offline || this.#ctx.halted) return;
    const path = tryParsePath(uriPath(m));
    if (path === undefined) {
      reply({ code: Code.NOT_FOUND });
      return;
    }
    const canonical = formatPath(path);
    switch (m.code) {
      case Code.GET:
        if (uintOptionOf(m, CoapOption.ACCEPT) === ContentFormat.LINK_FORMAT)
          reply(this.#discover(path, canonical));
        else reply(this.#read(m, path, canonical, from));
        return;
      case Code.PUT:
      case Code.POST:
        if (m.code === Code.POST && (EXECUTABLES as readonly string[]).includes(canonical)) {
          reply(this.#execute(canonical as ExecutablePath));
        } else if (
          m.code === Code.POST &&
          pathDepth(path) === 3 &&
          resourceOperations(path.objectId, path.resourceId!) === 'E'
        ) {
          reply({ code: Code.NOT_FOUND });
        } else if (m.code === Code.PUT && m.payload.length === 0 && uriQuery(m).length > 0) {
          // Write-Attributes: accepted, notifications are sent on change anyway.
          reply({ code: pathExists(path, this.#ctx.records(), canonical) ? Code.CHANGED : Code.NOT_FOUND });
        } else {
          const response = this.#write(m, path, canonical);
          if (response !== UNANSWERED) reply(response);
        }
        return;
      default:
        reply({ code: Code.METHOD_NOT_ALLOWED });
    }
  }

  /** The value at `path` encoded as `format` (or the default format), as a response. */
  encodeAt(
    path: Lwm2mPath,
    canonical: string,
    format: ContentFormatId | undefined,
  ): ResponseSpec & { format?: ContentFormatId } {
    const all = this.#ctx.records();
    const records = all.filter((r) => isPrefixOf(path, tryParsePath(r.path)!));
    if (records.length === 0) {
      if (!pathExists(path, all, canonical)) return { code: Code.NOT_FOUND };
      if (pathDepth(path) >= 3) return { code: Code.METHOD_NOT_ALLOWED };
    }
    const chosen = format ?? this.#defaultFormat(path, records);
    if (!isSupportedFormat(chosen)) return { code: Code.NOT_ACCEPTABLE };
    try {
      const payload = encode(chosen, canonical, records, defaultModel);
      return {
        code: Code.CONTENT,
        format: chosen,
        options: [{ number: CoapOption.CONTENT_FORMAT, value: uintOption(chosen) }],
        payload,
      };
    } catch (error) {
      if (error instanceof EncodeError) return { code: Code.NOT_ACCEPTABLE };
      throw error;
    }
  }

  #defaultFormat(path: Lwm2mPath, records: readonly ResourceRecord[]): ContentFormatId {
    const single = records.length === 1 && records[0]!.path === formatPath(path) && pathDepth(path) >= 3;
    if (single) return ContentFormat.TEXT;
    return (this.#ctx.options.lwm2mVersion ?? '1.1') === '1.0' ? ContentFormat.TLV : ContentFormat.SENML_CBOR;
  }

  #read(m: CoapMessage, path: Lwm2mPath, canonical: string, from: PeerAddress): ResponseSpec {
    const notifications = this.#ctx.parts.notifications;
    const accept = uintOptionOf(m, CoapOption.ACCEPT) as ContentFormatId | undefined;
    const observe = uintOptionOf(m, CoapOption.OBSERVE);
    if (observe === 1) notifications.cancel(m.token);
    if (this.#refused(path, canonical, observe === 0)) return { code: Code.METHOD_NOT_ALLOWED };
    const answer = this.encodeAt(path, canonical, accept);
    const plain = pathDepth(path) === 2 && this.#ctx.faults.has('plain-instance-observe');
    if (observe !== 0 || plain || answer.code !== Code.CONTENT || answer.format === undefined) {
      return { code: answer.code, options: answer.options ?? [], payload: answer.payload ?? Buffer.alloc(0) };
    }
    notifications.observe({ token: m.token, path, format: answer.format, peer: from });
    return {
      code: answer.code,
      options: [
        { number: CoapOption.OBSERVE, value: uintOption(notifications.nextSeq()) },
        ...(answer.options ?? []),
      ],
      payload: answer.payload ?? Buffer.alloc(0),
    };
  }

  /** Whether the device's faults make it refuse this Read (or, `observe`, Observe). */
  #refused(path: Lwm2mPath, canonical: string, observe: boolean): boolean {
    const faults = this.#ctx.faults;
    if (observe && canonical === '/3/0/11' && faults.has('no-error-code-observe')) return true;
    if (pathDepth(path) !== 2) return false;
    return faults.has('no-instance-read') || (observe && faults.has('no-instance-observe'));
  }

  #discover(path: Lwm2mPath, canonical: string): ResponseSpec {
    const records = this.#ctx.records();
    if (path.objectId >= 0 && !pathExists(path, records, canonical)) return { code: Code.NOT_FOUND };
    const multiple = new Set(['/5/0/8', '/3/0/11']);
    const links =
      pathDepth(path) >= 3
        ? [canonical]
        : discoverPaths(path, records).filter((p) => isPrefixOf(path, tryParsePath(p)!));
    const body = serializeLinkFormat(
      links.map(
        (uri): Link => ({
          uri,
          params:
            uri === '/5'
              ? { ver: '1.2' }
              : multiple.has(uri)
                ? { dim: String(records.filter((r) => r.path.startsWith(`${uri}/`)).length) }
                : {},
        }),
      ),
    );
    return {
      code: Code.CONTENT,
      options: [{ number: CoapOption.CONTENT_FORMAT, value: uintOption(ContentFormat.LINK_FORMAT) }],
      payload: Buffer.from(body),
    };
  }

  #write(m: CoapMessage, path: Lwm2mPath, canonical: string): ResponseSpec | typeof UNANSWERED {
    const ctx = this.#ctx;
    if (!pathExists(path, ctx.records(), canonical)) return { code: Code.NOT_FOUND };
    const format = uintOptionOf(m, CoapOption.CONTENT_FORMAT) ?? ContentFormat.TEXT;
    if (!isSupportedFormat(format)) return { code: Code.UNSUPPORTED_CONTENT_FORMAT };
    const decoded = decode(format, canonical, m.payload, defaultModel);
    if (!decoded.ok) return { code: Code.BAD_REQUEST };
    for (const r of decoded.records) {
      if (!(WRITABLES as readonly string[]).includes(r.path)) return { code: Code.METHOD_NOT_ALLOWED };
      const target = tryParsePath(r.path);
      if (target === undefined || !isPrefixOf(path, target)) return { code: Code.BAD_REQUEST };
    }
    for (const r of decoded.records) {
      switch (r.path) {
        case '/1/0/1':
          if (typeof r.value === 'number' && r.value > 0) {
            ctx.values.lifetime = r.value;
            if (ctx.location !== undefined) ctx.parts.registration.afterContact();
          } else if (typeof r.value === 'bigint' && r.value > 0n) {
            ctx.values.lifetime = Number(r.value);
          } else return { code: Code.BAD_REQUEST };
          break;
        case '/1/0/7':
          ctx.values.binding = String(r.value);
          break;
        case '/5/0/1': {
          const uri = Buffer.isBuffer(r.value) ? r.value.toString('utf8') : String(r.value);
          const refused = ctx.parts.firmware.packageUriRefusal(uri);
          if (refused !== undefined) return { code: refused };
          if (uri !== '') ctx.packageUriWrites++;
          else ctx.packageUriResets++;
          ctx.parts.firmware.writePackageUri(uri);
          if (uri !== '' && ctx.faults.has('uri-write-unanswered') && ctx.packageUriWrites === 1)
            return UNANSWERED;
          break;
        }
      }
    }
    return { code: Code.CHANGED };
  }

  #execute(path: ExecutablePath): ResponseSpec {
    const { firmware, power, registration } = this.#ctx.parts;
    switch (path) {
      case '/5/0/2':
        this.#ctx.updateExecutes++;
        return { code: firmware.executeUpdate() ? Code.CHANGED : Code.METHOD_NOT_ALLOWED };
      case '/5/0/10':
        return { code: firmware.cancel() ? Code.CHANGED : Code.METHOD_NOT_ALLOWED };
      case '/3/0/4':
        setImmediate(() => void power.reboot());
        return { code: Code.CHANGED };
      case '/1/0/8':
        setImmediate(() => void registration.sendUpdate());
        return { code: Code.CHANGED };
    }
  }
}
