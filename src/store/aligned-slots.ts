/**
 * O_DIRECT wants the file offset, the length and the memory address of every write aligned to the disk's logical block
 * size. 4096 covers both 512-byte and 4K-native disks.
 */
export const DIRECT_IO_ALIGNMENT = 4096;

const WASM_PAGE = 64 * 1024;

/** The one WebAssembly API used here; its types come with the DOM library, which a Node build does not load. */
declare const WebAssembly: { Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer } };

/**
 * Fixed-size buffers whose addresses are page-aligned, for O_DIRECT writes. Node cannot allocate aligned memory, but V8
 * maps WebAssembly memory page-aligned, so views into one at multiples of 4096 are aligned too. A slot is taken for a
 * write and given back when the write is done; the pool adds a memory at a time, up to `maxMemories`, and after that
 * says no (the caller then writes through the page cache), so a burst of associations never waits here.
 */
export class AlignedSlots {
  readonly slotBytes: number;
  readonly #slotsPerMemory: number;
  readonly #maxMemories: number;
  readonly #free: Buffer[] = [];
  #memories = 0;

  constructor(o: { slotBytes: number; slotsPerMemory: number; maxMemories: number }) {
    if (o.slotBytes % DIRECT_IO_ALIGNMENT !== 0 || (o.slotBytes * o.slotsPerMemory) % WASM_PAGE !== 0) {
      throw new RangeError(`slots of ${o.slotBytes} bytes do not tile aligned WebAssembly pages`);
    }
    this.slotBytes = o.slotBytes;
    this.#slotsPerMemory = o.slotsPerMemory;
    this.#maxMemories = o.maxMemories;
  }

  take(): Buffer | undefined {
    if (this.#free.length === 0 && this.#memories < this.#maxMemories) {
      try {
        this.#grow();
      } catch {
        // V8 reserves address space for each WebAssembly memory; where a limit (ulimit -v) refuses it, the pool is full.
        this.#memories = this.#maxMemories;
      }
    }
    return this.#free.pop();
  }

  give(slot: Buffer): void {
    this.#free.push(slot);
  }

  #grow(): void {
    const memory = new WebAssembly.Memory({ initial: (this.slotBytes * this.#slotsPerMemory) / WASM_PAGE });
    this.#memories += 1;
    for (let i = 0; i < this.#slotsPerMemory; i += 1)
      this.#free.push(Buffer.from(memory.buffer, i * this.slotBytes, this.slotBytes));
  }
}

/**
 * One direct write: a 500 KB CT image goes out in one while it arrives and a small one at commit. On a virtual disk
 * every write costs a fixed slice of guest kernel time (the device is notified by a trapped I/O instruction), so fewer,
 * larger writes ingest faster: 512 KiB against 128 KiB measured +5% instances/s on a 2-core VM.
 */
export const DIRECT_SLOT_BYTES = 512 * 1024;

/** Slots for a thread's blob writers: 8 MiB per memory, at most 128 MiB (a writer holds one while it fills, one or two while they are written). */
export function directWriteSlots(): AlignedSlots {
  return new AlignedSlots({ slotBytes: DIRECT_SLOT_BYTES, slotsPerMemory: 16, maxMemories: 16 });
}
