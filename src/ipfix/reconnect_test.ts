import { assertEquals } from "../../tests/_assert.ts";
import { Reconnector } from "./reconnect.ts";

Deno.test("Reconnector: backoff doubles up to its cap, resets after a stable connection", async () => {
  let closed = false;
  let attempt = 0;
  let now = 0;
  const waits: number[] = [];
  const r: Reconnector = new Reconnector({
    initialBackoffMs: 1,
    maxBackoffMs: 4,
    clock: () => now,
    isClosed: () => closed,
    connect: () => {
      attempt++;
      // Fail four times, then a connection that lasts 10 s, then fail again and stop.
      if (attempt === 5) return Promise.resolve();
      if (attempt === 7) closed = true;
      return Promise.reject(new Error("refused"));
    },
    disconnect: () => {},
    onConnected: () => {
      now += 10_000;
      queueMicrotask(() => r.lost());
    },
    onFailure: (_e, ms) => waits.push(ms),
  });
  await r.run();
  // The stable connection reset the backoff: 1 ms after it, so the next failures wait 2 and 4
  // (without the reset, 4 and 4).
  assertEquals(waits, [1, 2, 4, 4, 2, 4]);
  assertEquals(attempt, 7);
});

Deno.test("Reconnector: by default the first wait is 1 s and waits double up to 30 s", async () => {
  let attempt = 0;
  const slept: number[] = [];
  const failures: number[] = [];
  const r = new Reconnector({
    clock: () => 0,
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    isClosed: () => attempt >= 9,
    connect: () => {
      attempt++;
      return Promise.reject(new Error("refused"));
    },
    disconnect: () => {},
    onConnected: () => {},
    onFailure: (_e, ms) => failures.push(ms),
  });
  await r.run();
  assertEquals(failures, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assertEquals(slept, failures.slice(0, -1), "no wait once closed");
});

Deno.test("Reconnector: closed while connecting drops the new connection; wake ends a wait", async () => {
  let closed = false;
  let dropped = 0;
  const r = new Reconnector({
    initialBackoffMs: 60_000,
    maxBackoffMs: 60_000,
    clock: Date.now,
    isClosed: () => closed,
    connect: () => {
      closed = true;
      return Promise.resolve();
    },
    disconnect: () => dropped++,
    onConnected: () => {
      throw new Error("not connected after close");
    },
    onFailure: () => {},
  });
  await r.run();
  assertEquals(dropped, 1);
  // A long backoff wait ends at once on wake().
  closed = false;
  const r2 = new Reconnector({
    initialBackoffMs: 60_000,
    maxBackoffMs: 60_000,
    clock: Date.now,
    isClosed: () => closed,
    connect: () => Promise.reject(new Error("refused")),
    disconnect: () => {},
    onConnected: () => {},
    onFailure: () => {
      closed = true;
      queueMicrotask(() => r2.wake());
    },
  });
  await r2.run();
});
