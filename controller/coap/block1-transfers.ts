import { createHash } from 'node:crypto';
import type { ParsedPacket } from 'coap-packet';
import { normaliseAddress, type Peer, peerKey } from './address.js';
import { type BlockOption, blockSize, decodeBlock, encodeBlock } from './block-option.js';
import type { Answer } from './inbound-exchanges.js';
import { CoapOption, optionNumber, uintOption } from './options.js';
import { encodeUint } from './uint.js';

/** Bounds of the request bodies being received in blocks (RFC 7959 Block1). */
export interface Block1Limits {
  /** Largest body, in bytes; a larger one is refused with 4.13 and Size1. */
  readonly maxBodyBytes: number;
  /** Unfinished transfers one source address may hold. */
  readonly maxTransfersPerSource: number;
  /** Bytes the unfinished transfers of one source address may hold. */
  readonly maxBytesPerSource: number;
  readonly maxTransfers: number;
  readonly maxBytes: number;
  /** A transfer with no block for this long is dropped; a later block then gets 4.08. */
  readonly expiryMs: number;
}

export const DEFAULT_BLOCK1_LIMITS: Block1Limits = {
  maxBodyBytes: 64 * 1024,
  maxTransfersPerSource: 512,
  maxBytesPerSource: 2 * 1024 * 1024,
  maxTransfers: 4096,
  maxBytes: 16 * 1024 * 1024,
  expiryMs: 21_000,
};

/** Charged per transfer on top of its buffer: the key, the record and the map entries. */
const TRANSFER_OVERHEAD_BYTES = 256;

export type BlockOutcome =
  /** An intermediate block was stored: answer it (2.31 Continue). */
  | { readonly kind: 'continue'; readonly answer: Answer }
  /** The last block arrived: `request` carries the whole body and no Block1 option. */
  | {
      readonly kind: 'complete';
      readonly request: ParsedPacket;
      /** The Block1 option the final response echoes (RFC 7959 2.3). */
      readonly echo: { readonly name: number; readonly value: Buffer };
    }
  /** The block cannot be taken: answer it with this, the transfer (if any) is gone. */
  | { readonly kind: 'refused'; readonly answer: Answer; readonly reason: string };

interface Transfer {
  readonly key: string;
  readonly source: string;
  readonly szx: number;
  /** The number of the block expected next. */
  next: number;
  body: Buffer;
  length: number;
  /** Bytes charged to the source and the total: the buffer's capacity plus the overhead. */
  charged: number;
  lastBlockAt: number;
}

/** The bound a new transfer or block would cross: its source address's, or the server's. */
type Bound = 'source' | 'server';

interface SourceUsage {
  transfers: number;
  bytes: number;
}

/**
 * Reassembles request bodies sent in blocks, within fixed bounds: per body, per source address
 * and in total, with unfinished transfers dropped after `expiryMs`. Blocks must come in order with
 * one block size; anything else ends the transfer with 4.08 Request Entity Incomplete.
 */
export class Block1Transfers {
  readonly #limits: Block1Limits;
  readonly #now: () => number;
  /** By key, least recently active first. */
  readonly #transfers = new Map<string, Transfer>();
  readonly #sources = new Map<string, SourceUsage>();
  #bytes = 0;

  constructor(limits: Partial<Block1Limits> = {}, now: () => number = Date.now) {
    this.#limits = { ...DEFAULT_BLOCK1_LIMITS, ...limits };
    this.#now = now;
  }

  get limits(): Block1Limits {
    return this.#limits;
  }

  /** Unfinished transfers and the bytes charged for them. */
  get usage(): { readonly transfers: number; readonly bytes: number; readonly sources: number } {
    return { transfers: this.#transfers.size, bytes: this.#bytes, sources: this.#sources.size };
  }

  /** Takes one block of a request; `raw` is its Block1 option value. */
  receive(packet: ParsedPacket, peer: Peer, raw: Buffer): BlockOutcome {
    const now = this.#now();
    this.expire(now);
    const block = decodeBlock(raw);
    if (block === undefined) return refuse('4.00', 'malformed Block1 option');
    const size = blockSize(block.szx);
    const payload = packet.payload;
    if (payload.length > size)
      return refuse('4.00', `block of ${payload.length} bytes exceeds its size ${size}`);
    if (block.more && payload.length !== size) {
      return refuse(
        '4.00',
        `block ${block.num} of ${payload.length} bytes is not the last yet shorter than ${size}`,
      );
    }
    const key = transferKey(packet, peer);
    const current = this.#transfers.get(key);
    if (block.num === 0) {
      if (current !== undefined) this.#drop(current);
    } else if (current === undefined) {
      return refuse('4.08', `block ${block.num} without the blocks before it`);
    } else if (block.szx !== current.szx) {
      this.#drop(current);
      return refuse('4.08', 'block size changed during the transfer');
    } else if (block.num !== current.next) {
      this.#drop(current);
      return refuse('4.08', `block ${block.num} out of order, expected ${current.next}`);
    }

    const end = block.num * size + payload.length;
    // Size1 in a request announces the whole body's size (RFC 7959 4).
    const announced = uintOption(packet.options, CoapOption.SIZE1);
    if (end > this.#limits.maxBodyBytes || (announced ?? 0) > this.#limits.maxBodyBytes) {
      if (current !== undefined && block.num !== 0) this.#drop(current);
      return this.#tooLarge();
    }

    if (block.num === 0 && !block.more) {
      return complete(packet, Buffer.from(payload), block);
    }
    // `current` is undefined only for block 0 here.
    const transfer =
      current === undefined || block.num === 0 ? this.#start(key, peer, block.szx, now) : current;
    if (typeof transfer === 'string') return this.#busy(transfer);
    const full = this.#fit(transfer, end);
    if (full !== undefined) {
      this.#drop(transfer);
      return this.#busy(full);
    }
    payload.copy(transfer.body, transfer.length);
    transfer.length = end;
    transfer.next = block.num + 1;
    transfer.lastBlockAt = now;
    // Most recently active last: expiry walks from the front.
    this.#transfers.delete(key);
    this.#transfers.set(key, transfer);
    if (block.more) {
      return {
        kind: 'continue',
        answer: { code: '2.31', options: [{ name: CoapOption.BLOCK1, value: raw }] },
      };
    }
    const body = Buffer.from(transfer.body.subarray(0, transfer.length));
    this.#drop(transfer);
    return complete(packet, body, block);
  }

  /** Drops the transfers idle for `expiryMs` or longer. */
  expire(now: number): void {
    for (const transfer of this.#transfers.values()) {
      if (now - transfer.lastBlockAt < this.#limits.expiryMs) return;
      this.#drop(transfer);
    }
  }

  clear(): void {
    this.#transfers.clear();
    this.#sources.clear();
    this.#bytes = 0;
  }

  /** A new transfer, or which bound refuses it. */
  #start(key: string, peer: Peer, szx: number, now: number): Transfer | Bound {
    const source = normaliseAddress(peer.address);
    const usage = this.#sources.get(source) ?? { transfers: 0, bytes: 0 };
    if (usage.transfers >= this.#limits.maxTransfersPerSource) return 'source';
    // The server is full: the least recently active transfer gives way (refusing instead would let
    // a few flooding addresses lock every device out of block-wise requests).
    if (this.#transfers.size >= this.#limits.maxTransfers) this.#evictOldest(undefined);
    usage.transfers++;
    this.#sources.set(source, usage);
    const transfer: Transfer = {
      key,
      source,
      szx,
      next: 0,
      body: Buffer.alloc(0),
      length: 0,
      charged: 0,
      lastBlockAt: now,
    };
    this.#transfers.set(key, transfer);
    return transfer;
  }

  /** Grows the transfer's buffer to hold `end` bytes; undefined when it fits, else the bound in the way. */
  #fit(transfer: Transfer, end: number): Bound | undefined {
    if (end <= transfer.body.length) return undefined;
    const capacity = Math.min(Math.max(end, transfer.body.length * 2, 1024), this.#limits.maxBodyBytes);
    const charge = capacity + TRANSFER_OVERHEAD_BYTES - transfer.charged;
    const usage = this.#sources.get(transfer.source);
    if (usage === undefined) return 'source';
    if (usage.bytes + charge > this.#limits.maxBytesPerSource) return 'source';
    while (this.#bytes + charge > this.#limits.maxBytes) {
      if (!this.#evictOldest(transfer)) return 'server';
    }
    // allocUnsafeSlow: a buffer of its own, never a slice pinning a shared pool.
    const body = Buffer.allocUnsafeSlow(capacity);
    transfer.body.copy(body, 0, 0, transfer.length);
    transfer.body = body;
    transfer.charged += charge;
    usage.bytes += charge;
    this.#bytes += charge;
    return undefined;
  }

  /** Drops the least recently active transfer other than `keep`; false when there is none. */
  #evictOldest(keep: Transfer | undefined): boolean {
    for (const transfer of this.#transfers.values()) {
      if (transfer === keep) continue;
      this.#drop(transfer);
      return true;
    }
    return false;
  }

  #drop(transfer: Transfer): void {
    if (this.#transfers.get(transfer.key) !== transfer) return;
    this.#transfers.delete(transfer.key);
    this.#bytes -= transfer.charged;
    const usage = this.#sources.get(transfer.source);
    if (usage === undefined) return;
    usage.transfers--;
    usage.bytes -= transfer.charged;
    if (usage.transfers <= 0) this.#sources.delete(transfer.source);
  }

  #tooLarge(): BlockOutcome {
    return {
      kind: 'refused',
      reason: `body larger than ${this.#limits.maxBodyBytes} bytes`,
      answer: {
        code: '4.13',
        options: [{ name: CoapOption.SIZE1, value: encodeUint(this.#limits.maxBodyBytes) }],
      },
    };
  }

  /** Too many unfinished transfers from this source (4.29), or a body the whole budget cannot hold (5.03). */
  #busy(bound: Bound): BlockOutcome {
    const perSource = bound === 'source';
    const maxAge = encodeUint(Math.ceil(this.#limits.expiryMs / 1000));
    return {
      kind: 'refused',
      reason: perSource
        ? 'too many unfinished block-wise requests from this address'
        : 'too many unfinished block-wise requests',
      answer: { code: perSource ? '4.29' : '5.03', options: [{ name: CoapOption.MAX_AGE, value: maxAge }] },
    };
  }
}

function refuse(code: string, reason: string): BlockOutcome {
  return { kind: 'refused', reason, answer: { code, payload: Buffer.from(reason) } };
}

function complete(packet: ParsedPacket, body: Buffer, block: BlockOption): BlockOutcome {
  return {
    kind: 'complete',
    request: {
      ...packet,
      options: packet.options.filter((o) => {
        const n = optionNumber(o);
        return n !== CoapOption.BLOCK1 && n !== CoapOption.SIZE1;
      }),
      payload: body,
    },
    echo: { name: CoapOption.BLOCK1, value: encodeBlock(block) },
  };
}

/**
 * The blocks of one body share the peer, the method and the request's URI; the token may change
 * between blocks (RFC 7959 2.5), so it is not part of the key.
 */
function transferKey(packet: ParsedPacket, peer: Peer): string {
  // Hashed: a URI may be most of a datagram, and a key is held as long as its transfer.
  const hash = createHash('sha256').update(packet.code);
  for (const o of packet.options) {
    const n = optionNumber(o);
    if (n !== CoapOption.URI_PATH && n !== CoapOption.URI_QUERY) continue;
    hash.update(`/${n}:${o.value.length}:`).update(o.value);
  }
  return `${peerKey(peer)}#${hash.digest('base64')}`;
}
