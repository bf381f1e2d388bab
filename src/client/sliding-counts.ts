/** Slots of a window: the counts forget the oldest tenth of the window at a time. */
const SLOTS = 10;

/**
 * Two counts over a sliding window (`windowMs`, in ten slots, no timer): what the retry budget (calls and
 * retries) and adaptive throttling (requests and accepts) weigh. Moving the window empties the slots that
 * fell out of it. @internal
 */
export class SlidingCounts {
  readonly #slotMs: number;
  readonly #first = new Float64Array(SLOTS);
  readonly #second = new Float64Array(SLOTS);
  #firstTotal = 0;
  #secondTotal = 0;
  #slot: number;

  constructor(windowMs: number) {
    this.#slotMs = windowMs / SLOTS;
    this.#slot = Math.floor(Date.now() / this.#slotMs);
  }

  /** The first count over the window ending at `now`. */
  first(now: number): number {
    this.#advance(now);
    return this.#firstTotal;
  }

  /** The second count over the window ending at `now`. */
  second(now: number): number {
    this.#advance(now);
    return this.#secondTotal;
  }

  /** Adds to the first count (and, when `alsoSecond`, to the second) at `now`. */
  addFirst(now: number, alsoSecond = false): void {
    const index = this.#advance(now);
    this.#first[index]! += 1;
    this.#firstTotal += 1;
    if (alsoSecond) {
      this.#second[index]! += 1;
      this.#secondTotal += 1;
    }
  }

  /** Adds to the second count at `now`. */
  addSecond(now: number): void {
    const index = this.#advance(now);
    this.#second[index]! += 1;
    this.#secondTotal += 1;
  }

  /** Moves the window to `now`, emptying the slots that fell out of it; returns the current slot. */
  #advance(now: number): number {
    const slot = Math.floor(now / this.#slotMs);
    if (slot > this.#slot) {
      const expired = Math.min(slot - this.#slot, SLOTS);
      for (let step = 1; step <= expired; step++) {
        const index = (this.#slot + step) % SLOTS;
        this.#firstTotal -= this.#first[index]!;
        this.#secondTotal -= this.#second[index]!;
        this.#first[index] = 0;
        this.#second[index] = 0;
      }
      this.#slot = slot;
    }
    return this.#slot % SLOTS;
  }
}
