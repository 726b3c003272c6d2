import { assert, assertEquals, assertThrows } from "../../tests/_assert.ts";
import {
  gatherWaitMs,
  openUdpReceiver,
  shortGatherUs,
  socketBufferCapacity,
  type UdpDatagram,
  type UdpReceiver,
} from "./udp_receiver.ts";

const ffi = Deno.permissions.querySync({ name: "ffi" }).state === "granted" &&
  Deno.build.os === "linux";
const MODES = ["listenDatagram", "recvmmsg"] as const;

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + n) & 255;
  return b;
}

/** The text a receiver gives the sender bound by `socket`: `ip:port`, IPv6 in brackets. */
function senderText(socket: Deno.DatagramConn): string {
  const { hostname, port } = socket.addr as Deno.NetAddr;
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

async function receiveCount(rx: UdpReceiver, count: number): Promise<UdpDatagram[]> {
  const got: UdpDatagram[] = [];
  const timer = setTimeout(() => rx.close(), 5000);
  try {
    while (got.length < count) {
      const batch = await rx.receive();
      if (batch.length === 0) break;
      for (const d of batch) {
        // A slot's DataView, when given, is what decodeMessage takes instead of making its own:
        // from the datagram's first octet, over all of it.
        if (d.view) {
          assert(d.view.buffer === d.data.buffer, "view of the same buffer");
          assertEquals(d.view.byteOffset, d.data.byteOffset);
          assert(d.view.byteLength >= d.data.length, "view over the whole datagram");
        }
        // The recvmmsg receiver's views are valid until the next receive(): copy.
        got.push({ data: d.data.slice(), address: d.address });
      }
    }
  } finally {
    clearTimeout(timer);
  }
  return got;
}

for (const mode of MODES) {
  for (const host of ["127.0.0.1", "::1"]) {
    Deno.test({
      name: `udp receiver (${mode}, ${host}): datagrams of 1 to 65507 octets, with their sender`,
      ignore: mode === "recvmmsg" && !ffi,
      async fn() {
        using rx = openUdpReceiver({ hostname: host, port: 0, mode, rcvbuf: 1 << 20 });
        assertEquals(rx.kind, mode);
        const tx = Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 });
        try {
          const sizes = [1, 1452, 2047, 2048, 2049, 9000, 65507];
          for (const n of sizes) {
            await tx.send(pattern(n), { transport: "udp", hostname: host, port: rx.port });
          }
          const got = await receiveCount(rx, sizes.length);
          assertEquals(got.map((d) => d.data), sizes.map(pattern));
          assertEquals(got.map((d) => d.address), sizes.map(() => senderText(tx)));
        } finally {
          tx.close();
        }
      },
    });
  }

  Deno.test({
    name: `udp receiver (${mode}): a batch of datagrams from two IPv4 and two IPv6 senders`,
    ignore: mode === "recvmmsg" && !ffi,
    async fn() {
      // The recvmmsg receiver keeps each sender's address text in a cache (IPv4 and IPv6), and
      // hands out each datagram with its slot's DataView (checked by receiveCount).
      for (const host of ["127.0.0.1", "::1"]) {
        using rx = openUdpReceiver({ hostname: host, port: 0, mode, rcvbuf: 1 << 20 });
        const senders = [0, 1].map(() =>
          Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 })
        );
        try {
          for (let i = 0; i < 6; i++) {
            await senders[i % 2]!.send(pattern(100 + i), {
              transport: "udp",
              hostname: host,
              port: rx.port,
            });
          }
          const got = await receiveCount(rx, 6);
          assertEquals(got.map((d) => d.data), [0, 1, 2, 3, 4, 5].map((i) => pattern(100 + i)));
          assertEquals(
            got.map((d) => d.address),
            [0, 1, 0, 1, 0, 1].map((i) => senderText(senders[i]!)),
          );
        } finally {
          for (const s of senders) s.close();
        }
      }
    },
  });

  Deno.test({
    name: `udp receiver (${mode}): hundreds of senders, each named right every time`,
    ignore: mode === "recvmmsg" && !ffi,
    async fn() {
      // Enough IPv6 senders that some share a set of the receiver's cache (about 20 sets of
      // two; three in one set, which evicts, in about two runs of three): an entry found in
      // either way of its set must name its own sender.
      const n = 300;
      for (const host of ["127.0.0.1", "::1"]) {
        using rx = openUdpReceiver({ hostname: host, port: 0, mode, rcvbuf: 4 << 20 });
        const senders = Array.from(
          { length: n },
          () => Deno.listenDatagram({ transport: "udp", hostname: host, port: 0 }),
        );
        try {
          // Fifty at a time: listenDatagram's socket keeps the default buffer.
          for (let round = 0; round < 2; round++) {
            for (let first = 0; first < n; first += 50) {
              const batch = senders.slice(first, first + 50);
              for (const [i, s] of batch.entries()) {
                await s.send(pattern(20 + i), { transport: "udp", hostname: host, port: rx.port });
              }
              const got = await receiveCount(rx, batch.length);
              assertEquals(got.map((d) => d.address), batch.map(senderText));
            }
          }
        } finally {
          for (const s of senders) s.close();
        }
      }
    },
  });

  Deno.test({
    name: `udp receiver (${mode}): close() ends a pending receive() with [] and frees the port`,
    ignore: mode === "recvmmsg" && !ffi,
    async fn() {
      const rx = openUdpReceiver({ hostname: "127.0.0.1", port: 0, mode });
      const pending = rx.receive();
      await new Promise((r) => setTimeout(r, 20));
      const t0 = performance.now();
      rx.close();
      assertEquals(await pending, []);
      assert(performance.now() - t0 < 500, "close() woke the pending receive at once");
      rx.close();
      assertEquals(await rx.receive(), []);
      const again = openUdpReceiver({ hostname: "127.0.0.1", port: rx.port, mode });
      assertEquals(again.port, rx.port);
      again.close();
    },
  });
}

Deno.test({
  name: "udp receiver (recvmmsg): a datagram longer than maxDatagramSize is counted and skipped",
  ignore: !ffi,
  async fn() {
    using rx = openUdpReceiver({
      hostname: "127.0.0.1",
      port: 0,
      mode: "recvmmsg",
      maxDatagramSize: 1000,
    });
    const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port: rx.port };
      await tx.send(pattern(1001), to);
      await tx.send(pattern(1000), to);
      const got = await receiveCount(rx, 1);
      assertEquals(got.map((d) => d.data), [pattern(1000)]);
      assertEquals(rx.truncated, 1);
    } finally {
      tx.close();
    }
  },
});

Deno.test({
  name:
    "udp receiver (recvmmsg): a batch of only over-long datagrams does not end receive() with []",
  ignore: !ffi,
  async fn() {
    // [] means closed to the collector, which would stop taking UDP for good.
    using rx = openUdpReceiver({
      hostname: "127.0.0.1",
      port: 0,
      mode: "recvmmsg",
      maxDatagramSize: 100,
    });
    const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port: rx.port };
      const pending = rx.receive();
      await tx.send(pattern(500), to);
      await new Promise((r) => setTimeout(r, 100));
      await tx.send(pattern(50), to);
      const got = await pending;
      assertEquals(got.map((d) => d.data.slice()), [pattern(50)]);
      assertEquals(rx.truncated, 1);
    } finally {
      tx.close();
    }
  },
});

Deno.test({
  name: "udp receiver (recvmmsg): datagrams the full socket buffer dropped are counted",
  ignore: !ffi,
  async fn() {
    // The smallest buffer the kernel allows holds a few datagrams; 200 overflow it.
    using rx = openUdpReceiver({ hostname: "127.0.0.1", port: 0, mode: "recvmmsg", rcvbuf: 1 });
    assertEquals(rx.drops, 0);
    const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const to = { transport: "udp" as const, hostname: "127.0.0.1", port: rx.port };
      for (let i = 0; i < 200; i++) await tx.send(pattern(1400), to);
      // Every datagram sent is either received or counted as dropped, and the count is there
      // as soon as the drops happen (no datagram after them needed).
      assert((rx.drops ?? 0) > 0, `drops ${rx.drops}`);
      let received = 0;
      const deadline = Date.now() + 5000;
      while (received + rx.drops! < 200 && Date.now() < deadline) {
        received += (await rx.receive()).length;
      }
      assertEquals(received + rx.drops!, 200, `received ${received}, dropped ${rx.drops}`);
      assert(rx.rcvbuf !== undefined && rx.rcvbuf > 0);
      rx.close();
      // The count stays readable after close.
      assertEquals(received + rx.drops!, 200);
    } finally {
      tx.close();
    }
  },
});

Deno.test({
  name: "udp receiver (recvmmsg): a busy socket still lets timers run",
  ignore: !ffi,
  async fn() {
    using rx = openUdpReceiver({ hostname: "127.0.0.1", port: 0, mode: "recvmmsg" });
    const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port: rx.port };
    let fired = 0;
    const timer = setInterval(() => fired++, 10);
    let sending = true;
    const sender = (async () => {
      while (sending) await tx.send(pattern(100), to);
    })();
    try {
      // Handling each batch takes a while, so that the socket never runs dry.
      const end = performance.now() + 300;
      while (performance.now() < end) {
        await rx.receive();
        const busy = performance.now() + 1;
        while (performance.now() < busy) { /* work */ }
      }
      assert(fired >= 5, `the 10 ms interval fired ${fired} times in 300 ms`);
    } finally {
      sending = false;
      clearInterval(timer);
      await sender;
      tx.close();
    }
  },
});

Deno.test({
  name: "udp receiver (recvmmsg): a steady flow into a small buffer still lets I/O run",
  ignore: !ffi,
  async fn() {
    // A small buffer and datagrams every fraction of a millisecond: the receiver waits for them
    // on its own thread, and must still give the event loop's I/O its turn.
    using rx = openUdpReceiver({ hostname: "127.0.0.1", port: 0, rcvbuf: 4096, mode: "recvmmsg" });
    const dir = await Deno.makeTempDir({ prefix: "flowvis-udp-io-" });
    const flood = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        "--unstable-net",
        `const s = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
         const to = { transport: "udp", hostname: "127.0.0.1", port: ${rx.port} };
         const d = new Uint8Array(100);
         const end = Date.now() + 6_000;
         while (Date.now() < end) {
           try { Deno.statSync("${dir}/stop"); break; } catch { /* go on */ }
           for (let i = 0; i < 100; i++) await s.send(d, to);
         }`,
      ],
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const server = (async () => {
      for await (const conn of echo) {
        const buf = new Uint8Array(4);
        try {
          for (let n; (n = await conn.read(buf)) !== null;) await conn.write(buf.subarray(0, n));
        } catch {
          /* closed */
        } finally {
          conn.close();
        }
      }
    })();
    let received = 0;
    let receiving = true;
    const loop = (async () => {
      while (receiving) received += (await rx.receive()).length;
    })();
    let exited = false;
    const status = flood.status.then((s) => {
      exited = true;
      return s;
    });
    try {
      while (received < 2000 && !exited) await new Promise((r) => setTimeout(r, 10));
      assert(!exited, "the flood ended before the receiver took 2000 datagrams");
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: echo.addr.port });
      const back = new Uint8Array(4);
      for (let i = 0; i < 100; i++) {
        await conn.write(new Uint8Array([i, 1, 2, 3]));
        let got = 0;
        while (got < 4) got += (await conn.read(back.subarray(got))) ?? 4;
        assertEquals(back[0], i);
      }
      conn.close();
      const before = received;
      while (received === before && !exited) await new Promise((r) => setTimeout(r, 10));
      assert(!exited, "100 TCP round trips took longer than the 6 s flood");
    } finally {
      await Deno.writeTextFile(`${dir}/stop`, "");
      await status;
      receiving = false;
      rx.close();
      await loop;
      echo.close();
      await server;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("udp receiver: argument errors", () => {
  assertThrows(
    () => openUdpReceiver({ hostname: "localhost", port: 0, mode: "recvmmsg" }),
    TypeError,
    "expected an IP address",
  );
  assertThrows(
    () => openUdpReceiver({ hostname: "127.0.0.1", port: 0, mode: "recvmmsg", batch: 0 }),
    RangeError,
  );
  assertThrows(
    () => openUdpReceiver({ hostname: "127.0.0.1", port: 65536, mode: "recvmmsg" }),
    RangeError,
  );
});

Deno.test("udp receiver: auto mode takes recvmmsg with FFI on Linux, listenDatagram otherwise", () => {
  using ip = openUdpReceiver({ hostname: "127.0.0.1", port: 0 });
  assertEquals(ip.kind, ffi ? "recvmmsg" : "listenDatagram");
  // recvmmsg binds IP literals only: a host name takes the fallback.
  using name = openUdpReceiver({ hostname: "localhost", port: 0 });
  assertEquals(name.kind, "listenDatagram");
});

Deno.test({
  name: "udp receiver: the socket buffer holds at least the datagrams the gathering wait counts on",
  ignore: !ffi,
  async fn() {
    // The receiver waits for datagrams to gather only while its socket buffer can hold
    // several milliseconds of traffic, by socketBufferCapacity: the kernel must hold that many.
    for (const rcvbuf of [65536, 262144]) {
      const rx = openUdpReceiver({ hostname: "127.0.0.1", port: 0, rcvbuf, mode: "recvmmsg" });
      const tx = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      try {
        const want = socketBufferCapacity(rx.rcvbuf!, 1452);
        assert(want > 0, `capacity of ${rx.rcvbuf} octets`);
        const d = pattern(1452);
        for (let i = 0; i < 2 * want + 50; i++) {
          await tx.send(d, { transport: "udp", hostname: "127.0.0.1", port: rx.port });
        }
        let held = 0;
        while (true) {
          const batch = await Promise.race([
            rx.receive(),
            new Promise<UdpDatagram[]>((r) => setTimeout(() => r([]), 300)),
          ]);
          if (batch.length === 0) break;
          held += batch.length;
        }
        assert(held >= want, `kernel held ${held} datagrams, the estimate is ${want}`);
        assert(held < 2 * want + 50, `some datagrams must have been dropped (${held})`);
      } finally {
        tx.close();
        rx.close();
      }
    }
  },
});

Deno.test("socketBufferCapacity: the kernel's charge per datagram, conservatively", () => {
  // Measured on Linux 6.18 over loopback: 4 MiB held 1820 datagrams of 1452 octets, 208 KiB 92.
  assertEquals(socketBufferCapacity(4194304, 1452), 1638);
  assertEquals(socketBufferCapacity(212992, 1452), 83);
  assertEquals(socketBufferCapacity(212992, 100), 138);
  assertEquals(socketBufferCapacity(0, 1452), 0);
});

Deno.test("gatherWaitMs: waits only while the socket buffer has room to spare", () => {
  // 1638 datagrams: a 4 MiB buffer of 1452-octet datagrams.
  const cap = 1638;
  // Datagrams seldom: the longest wait, in any buffer that holds one.
  assertEquals(gatherWaitMs(cap, 0, 0), 8);
  assertEquals(gatherWaitMs(83, 1, 0), 8);
  // The wait shrinks as the rate grows: half of what the buffer holds beyond 5 ms.
  assertEquals(gatherWaitMs(cap, 100, 0), 5); // holds 16.4 ms
  assertEquals(gatherWaitMs(cap, 234, 0), 1); // 7.0 ms: 1.38M records/s of 5.9 records each
  // A buffer that holds less than 7 ms, or an unknown rate: ask again at once.
  assertEquals(gatherWaitMs(cap, 235, 0), 0);
  assertEquals(gatherWaitMs(83, 17, 0), 0); // the default 208 KiB at 100k records/s: 4.9 ms
  assertEquals(gatherWaitMs(cap, Infinity, 0), 0);
  assertEquals(gatherWaitMs(0, 1, 0), 0);
  // The last stretch between drained asks filled more than half the buffer: at once too.
  assertEquals(gatherWaitMs(cap, 100, 819), 5);
  assertEquals(gatherWaitMs(cap, 100, 820), 0);
  assertEquals(gatherWaitMs(cap, 100, NaN), 0);
});

Deno.test("shortGatherUs: sleeps on the thread only as long as a small buffer allows", () => {
  // The default 208 KiB buffer: 83 datagrams of 1452 octets.
  const cap = 83;
  // 100k records/s of 5.9 records a datagram: it holds 4.9 ms, half of 2.9 ms beyond 2 ms.
  assertEquals(shortGatherUs(cap, 17, 0), 1000);
  assertEquals(shortGatherUs(cap, 26, 0), 596); // 3.19 ms
  // Under 2.5 ms (a quarter of a millisecond to sleep): wait for the next datagram instead.
  assertEquals(shortGatherUs(5, 2, 0), 250); // 2.5 ms exactly
  assertEquals(shortGatherUs(5, 2.01, 0), 0);
  assertEquals(shortGatherUs(cap, 34, 0), 0); // 200k records/s: 2.44 ms
  assertEquals(shortGatherUs(cap, Infinity, 0), 0);
  assertEquals(shortGatherUs(0, 1, 0), 0);
  // At most 1 ms, however slow the rate.
  assertEquals(shortGatherUs(1638, 1, 0), 1000);
  // The last stretch filled more than half the buffer: no sleep.
  assertEquals(shortGatherUs(cap, 17, 41), 1000);
  assertEquals(shortGatherUs(cap, 17, 42), 0);
  assertEquals(shortGatherUs(cap, 17, NaN), 0);
});
