/**
 * Short-lived garbage made on purpose, so that V8 frees dead ArrayBuffers soon.
 *
 * A buffer's memory goes back only when a garbage collection finds its JavaScript object
 * dead. A thread that passes large buffers along (the service worker's download chunks; the
 * grid worker's socket messages and decrypted segments) makes few JavaScript objects, so its
 * minor collections, which free young dead buffers and cost little when almost nothing else
 * lives, come rarely, and the major ones wait until tens of MiB of dead buffers have piled up
 * in each such thread. A few KiB of garbage per buffer brings a minor collection every few
 * MiB. bench:web, 1 GiB download (2026-12-07): the renderer's peak above rest 101-110 MiB
 * with this in both threads, against 207-227 without (five runs each; Chromium's CPU for the
 * download 22.1-27.7 s against 22.0-25.8).
 */

/** JavaScript heap made per byte passed along (1/32 left the grid worker's pile as it was). */
const GARBAGE_PER_BYTE = 1 / 8;
/**
 * Elements per array: 64 KiB of small integers (4 bytes each with V8's compressed
 * pointers), a young object of the ordinary kind (larger arrays go elsewhere).
 */
const ELEMENTS = 16_384;
/** Holds the last array until the next, so that no compiler drops the allocation as unused. */
const held: unknown[] = [null];

/** Called per buffer passed along, with its size. */
export function passedAlong(bytes: number): void {
  for (let left = Math.ceil((bytes * GARBAGE_PER_BYTE) / 4); left > 0; left -= ELEMENTS)
    held[0] = new Array(Math.min(left, ELEMENTS)).fill(0);
}
