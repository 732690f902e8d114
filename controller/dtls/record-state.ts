import { DTLS_1_2, MAX_PLAINTEXT } from './constants.js';
import { type DtlsRecord, encodeRecord } from './record-codec.js';
import type { RecordProtection } from './record-protection.js';
import { ReplayWindow } from './replay-window.js';

const MAX_SEQ = 2 ** 48 - 1;

/**
 * The record layer state of one peer: per epoch, the protection and the replay window of what it
 * receives, and the protection and next sequence number of what is sent. Epoch 0 is plaintext.
 *
 * Epochs 0 and 1 only (no renegotiation), as plain fields: an idle session keeps one object here.
 * Epoch 0 has no replay window: RFC 6347 4.1.2.6 moves the window only for a record whose MAC
 * verified, and plaintext has none. A forged plaintext record with a high sequence number would
 * otherwise push the client's own handshake records out of the window; repeated handshake
 * messages are known by their message_seq instead.
 */
export class RecordState {
  #epochZero = true;
  #read1: RecordProtection | undefined;
  #window1: ReplayWindow | undefined;
  #write0Seq: number;
  #write1: RecordProtection | undefined;
  #write1Seq = 0;

  /** `firstWriteSeq`: epoch 0 starts above the HelloVerifyRequest's number (RFC 6347 4.2.1). */
  constructor(firstWriteSeq: number) {
    this.#write0Seq = firstWriteSeq;
  }

  get writeEpoch(): number {
    return this.#write1 === undefined ? 0 : 1;
  }

  canRead(epoch: number): boolean {
    return epoch === 0 ? this.#epochZero : epoch === 1 && this.#read1 !== undefined;
  }

  installRead(_epoch: 1, protection: RecordProtection): void {
    this.#read1 = protection;
    this.#window1 = new ReplayWindow();
  }

  /** Later records are sent in `epoch`; epoch 0 stays usable for retransmitted flights. */
  installWrite(_epoch: 1, protection: RecordProtection): void {
    this.#write1 = protection;
    this.#write1Seq = 0;
  }

  /** Once the handshake is over, epoch 0 is needed no more, either way. */
  dropEpochZero(): void {
    this.#epochZero = false;
  }

  /**
   * The plaintext of a record, or undefined when its epoch is unknown, it is a replay, fails
   * authentication or is longer than a record may be (RFC 5246 6.2.1; discarded, RFC 6347 4.1.2.7).
   */
  open(record: DtlsRecord): Buffer | undefined {
    if (record.epoch === 0) {
      if (!this.#epochZero || record.fragment.length > MAX_PLAINTEXT) return undefined;
      return record.fragment;
    }
    const protection = this.#read1;
    const window = this.#window1;
    if (record.epoch !== 1 || protection === undefined || window === undefined) return undefined;
    if (!window.check(record.seq)) return undefined;
    const plain = protection.open(record, record.fragment);
    if (plain === undefined || plain.length > MAX_PLAINTEXT) return undefined;
    window.accept(record.seq);
    return plain;
  }

  /** A record's bytes, protected for `epoch` (the current write epoch unless given); undefined once the sequence numbers run out. */
  seal(type: number, payload: Buffer, epoch = this.writeEpoch): Buffer | undefined {
    if (epoch === 0) {
      if (!this.#epochZero || this.#write0Seq > MAX_SEQ) return undefined;
      return encodeRecord({ type, version: DTLS_1_2, epoch, seq: this.#write0Seq++, fragment: payload });
    }
    const protection = this.#write1;
    if (epoch !== 1 || protection === undefined || this.#write1Seq > MAX_SEQ) return undefined;
    const header = { type, version: DTLS_1_2, epoch, seq: this.#write1Seq++ };
    return encodeRecord({ ...header, fragment: protection.seal(header, payload) });
  }

  /** Bytes a record in `epoch` adds to its payload, header included. */
  overhead(epoch = this.writeEpoch): number {
    return 13 + (epoch === 1 ? (this.#write1?.overhead ?? 0) : 0);
  }
}
