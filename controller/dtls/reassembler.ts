import type { HandshakeFragment } from './handshake-codec.js';

/** A whole handshake message, in order. */
export interface HandshakeMessage {
  readonly msgType: number;
  /** The epoch its fragments came in (all of them: a message split across epochs is refused). */
  readonly epoch: number;
  readonly messageSeq: number;
  readonly body: Buffer;
}

export interface ReassemblyLimits {
  /** Largest message body accepted. */
  readonly maxMessageBytes: number;
  /** Messages ahead of the next expected one that may be buffered. */
  readonly maxAhead: number;
}

interface Partial {
  readonly msgType: number;
  readonly epoch: number;
  readonly body: Buffer;
  readonly have: Uint8Array;
  missing: number;
}

/**
 * Reassembles handshake messages from fragments (RFC 6347 4.2.3) and hands them out in message_seq
 * order. Bounded: `maxAhead` partial messages of at most `maxMessageBytes` each. A fragment that
 * contradicts an earlier one (type or length) is ignored.
 */
export class Reassembler {
  readonly #limits: ReassemblyLimits;
  readonly #partials = new Map<number, Partial>();
  #next: number;

  constructor(next: number, limits: ReassemblyLimits) {
    this.#next = next;
    this.#limits = limits;
  }

  /** The message_seq expected next. */
  get next(): number {
    return this.#next;
  }

  /** Adds one fragment; returns the messages it completes, in order. Old and far-future ones are dropped. */
  add(fragment: HandshakeFragment, epoch: number): HandshakeMessage[] {
    const seq = fragment.messageSeq;
    if (seq < this.#next || seq >= this.#next + this.#limits.maxAhead) return [];
    if (fragment.length > this.#limits.maxMessageBytes) return [];
    let partial = this.#partials.get(seq);
    if (partial === undefined) {
      partial = {
        msgType: fragment.msgType,
        epoch,
        body: Buffer.alloc(fragment.length),
        have: new Uint8Array(fragment.length),
        missing: fragment.length,
      };
      this.#partials.set(seq, partial);
    } else if (
      partial.msgType !== fragment.msgType ||
      partial.epoch !== epoch ||
      partial.body.length !== fragment.length
    ) {
      return [];
    }
    const { fragmentOffset: offset, body } = fragment;
    for (let i = 0; i < body.length; i++) {
      if (partial.have[offset + i] === 0) {
        partial.have[offset + i] = 1;
        partial.missing--;
      }
    }
    body.copy(partial.body, offset);
    const done: HandshakeMessage[] = [];
    for (;;) {
      const head = this.#partials.get(this.#next);
      if (head === undefined || head.missing > 0) break;
      this.#partials.delete(this.#next);
      done.push({ msgType: head.msgType, epoch: head.epoch, messageSeq: this.#next, body: head.body });
      this.#next++;
    }
    return done;
  }
}
