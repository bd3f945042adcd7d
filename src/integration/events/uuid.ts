import { randomFillSync } from 'node:crypto';

/** Random bytes an id takes: bytes 8-15 (the variant then takes the top two bits of byte 8). */
const RANDOM_BYTES_PER_ID = 8;

/** Ids served per draw from the operating system (one `getrandom` call instead of one per id). */
const IDS_PER_DRAW = 512;

/**
 * Creates UUIDv7 ids (RFC 9562): 48-bit Unix milliseconds, then random bits. Ids made by one
 * generator are strictly increasing, also within one millisecond (a 12-bit counter in `rand_a`).
 */
export class UuidV7Generator {
  private lastMs = -1;
  private counter = 0;
  private readonly random = Buffer.allocUnsafe(RANDOM_BYTES_PER_ID * IDS_PER_DRAW);
  private randomAt = this.random.length;
  private readonly bytes = Buffer.alloc(16);

  constructor(private readonly now: () => number = Date.now) {}

  next(): string {
    let ms = this.now();
    if (ms <= this.lastMs) {
      ms = this.lastMs;
      this.counter++;
      if (this.counter > 0xfff) {
        // Counter exhausted within one millisecond: borrow the next millisecond.
        ms = ++this.lastMs;
        this.counter = 0;
      }
    } else {
      this.lastMs = ms;
      this.counter = 0;
    }
    if (this.randomAt === this.random.length) {
      randomFillSync(this.random);
      this.randomAt = 0;
    }
    const bytes = this.bytes;
    this.random.copy(bytes, 8, this.randomAt, this.randomAt + RANDOM_BYTES_PER_ID);
    this.randomAt += RANDOM_BYTES_PER_ID;
    bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
    bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
    bytes[2] = (ms >>> 24) & 0xff;
    bytes[3] = (ms >>> 16) & 0xff;
    bytes[4] = (ms >>> 8) & 0xff;
    bytes[5] = ms & 0xff;
    bytes[6] = 0x70 | ((this.counter >>> 8) & 0x0f);
    bytes[7] = this.counter & 0xff;
    bytes[8] = 0x80 | (bytes[8]! & 0x3f);
    const hex = bytes.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

const defaultGenerator = new UuidV7Generator();

/** A new UUIDv7 (time-ordered). */
export function uuidv7(): string {
  return defaultGenerator.next();
}

/** The millisecond timestamp encoded in a UUIDv7. */
export function uuidv7Timestamp(id: string): number {
  return parseInt(id.replace(/-/g, '').slice(0, 12), 16);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a canonical UUID string (any version). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}
