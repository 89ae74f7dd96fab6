/**
 * A bounded async queue: a producer pushes items with a size, a consumer takes them in
 * order. push waits while the queue holds more than `maxBytes`, so a fast producer stays a
 * bounded distance ahead. Lets the encoder keep working while writes wait on servers.
 */
export class BoundedQueue<T> {
  readonly #items: { item: T; size: number }[] = [];
  readonly #maxBytes: number;
  #bytes = 0;
  #ended = false;
  #error: unknown = undefined;
  #failed = false;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Adds an item; waits while the queue is over its bound. Throws if the queue was failed. */
  async push(item: T, size: number): Promise<void> {
    while (!this.#failed && this.#bytes > 0 && this.#bytes + size > this.#maxBytes) {
      await new Promise<void>((resolve) => {
        this.#wakeProducer = resolve;
      });
    }
    if (this.#failed) throw this.#error;
    this.#items.push({ item, size });
    this.#bytes += size;
    this.#wakeConsumer?.();
  }

  /** No more items will come. */
  end(): void {
    this.#ended = true;
    this.#wakeConsumer?.();
  }

  /** Stops both sides: the consumer's next take and the producer's next push throw `error`. */
  fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#wakeConsumer?.();
    this.#wakeProducer?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.#failed) throw this.#error;
      const next = this.#items.shift();
      if (next) {
        this.#bytes -= next.size;
        this.#wakeProducer?.();
        yield next.item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#wakeConsumer = resolve;
      });
    }
  }
}
