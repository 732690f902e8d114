import type { InboundRequest } from './inbound-exchanges.js';
import { CoapOption, stringOptions } from './options.js';

/** Serves one request: answers it exactly once (an exception is answered 5.00 by the server). */
export type RequestHandler = (req: InboundRequest) => void;

/** Request handlers by Uri-Path prefix; the longest matching prefix serves. */
export class Routes {
  readonly #routes: { readonly prefix: readonly string[]; readonly handler: RequestHandler }[] = [];

  /** `pathPrefix` as a path ('/fw/'); its segments must start the request's Uri-Path. */
  add(pathPrefix: string, handler: RequestHandler): void {
    const prefix = pathPrefix.split('/').filter((s) => s !== '');
    this.#routes.push({ prefix, handler });
    this.#routes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The handler for a request, or undefined when no prefix matches. */
  find(req: InboundRequest): RequestHandler | undefined {
    const path = stringOptions(req.packet.options, CoapOption.URI_PATH);
    return this.#routes.find((r) => r.prefix.every((seg, i) => path[i] === seg))?.handler;
  }
}
