import { DTLS_1_2, MAX_PLAINTEXT } from './constants.js';
import { type DtlsRecord, encodeRecord } from './record-codec.js';
import type { RecordProtection } from './record-protection.js';
import { ReplayWindow } from './replay-window.js';

interface ReadState {
  readonly protection: RecordProtection | undefined;
  /**
   * None in epoch 0: RFC 6347 4.1.2.6 moves the window only for a record whose MAC verified, and
   * plaintext has none. A forged plaintext record with a high sequence number would otherwise push
   * the client's own handshake records out of the window; repeated handshake messages are known
   * by their message_seq instead.
   */
  readonly window: ReplayWindow | undefined;
}

interface WriteState {
  readonly protection: RecordProtection | undefined;
  nextSeq: number;
}

const MAX_SEQ = 2 ** 48 - 1;

/**
 * The record layer state of one peer: per epoch, the protection and the replay window of what it
 * receives, and the protection and next sequence number of what is sent. Epoch 0 is plaintext.
 */
export class RecordState {
  // Epochs 0 and 1 only (no renegotiation): fields, not maps, a few hundred bytes less per session.
  #read0: ReadState | undefined = { protection: undefined, window: undefined };
  #read1: ReadState | undefined;
  readonly #write0: WriteState;
  #write1: WriteState | undefined;
  #writeEpoch = 0;

  /** `firstWriteSeq`: epoch 0 starts above the HelloVerifyRequest's number (RFC 6347 4.2.1). */
  constructor(firstWriteSeq: number) {
    this.#write0 = { protection: undefined, nextSeq: firstWriteSeq };
  }

  get writeEpoch(): number {
    return this.#writeEpoch;
  }

  canRead(epoch: number): boolean {
    return this.#readState(epoch) !== undefined;
  }

  installRead(_epoch: 1, protection: RecordProtection): void {
    this.#read1 = { protection, window: new ReplayWindow() };
  }

  /** Later records are sent in `epoch`; epoch 0 stays usable for retransmitted flights. */
  installWrite(epoch: 1, protection: RecordProtection): void {
    this.#write1 = { protection, nextSeq: 0 };
    this.#writeEpoch = epoch;
  }

  /** Once the handshake is over, epoch 0 is needed no more (it holds a replay window). */
  dropEpochZeroRead(): void {
    this.#read0 = undefined;
  }

  #readState(epoch: number): ReadState | undefined {
    return epoch === 0 ? this.#read0 : epoch === 1 ? this.#read1 : undefined;
  }

  #writeState(epoch: number): WriteState | undefined {
    return epoch === 0 ? this.#write0 : epoch === 1 ? this.#write1 : undefined;
  }

  /**
   * The plaintext of a record, or undefined when its epoch is unknown, it is a replay, fails
   * authentication or is longer than a record may be (RFC 5246 6.2.1; discarded, RFC 6347 4.1.2.7).
   */
  open(record: DtlsRecord): Buffer | undefined {
    const state = this.#readState(record.epoch);
    if (state === undefined || state.window?.check(record.seq) === false) return undefined;
    const plain =
      state.protection === undefined ? record.fragment : state.protection.open(record, record.fragment);
    if (plain === undefined || plain.length > MAX_PLAINTEXT) return undefined;
    state.window?.accept(record.seq);
    return plain;
  }

  /** A record's bytes, protected for `epoch` (the current write epoch unless given); undefined once the sequence numbers run out. */
  seal(type: number, payload: Buffer, epoch = this.#writeEpoch): Buffer | undefined {
    const state = this.#writeState(epoch);
    if (state === undefined || state.nextSeq > MAX_SEQ) return undefined;
    const header = { type, version: DTLS_1_2, epoch, seq: state.nextSeq++ };
    const fragment = state.protection === undefined ? payload : state.protection.seal(header, payload);
    return encodeRecord({ ...header, fragment });
  }

  /** Bytes a record in `epoch` adds to its payload, header included. */
  overhead(epoch = this.#writeEpoch): number {
    return 13 + (this.#writeState(epoch)?.protection?.overhead ?? 0);
  }
}
