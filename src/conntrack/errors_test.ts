import { assertEquals, assertInstanceOf, assertStringIncludes } from "../../tests/_assert.ts";
import { ConntrackError, errnoName, errorFromErrno } from "./errors.ts";

Deno.test("errorFromErrno: EPERM and EACCES say what privilege is needed", () => {
  for (const [n, name] of [[1, "EPERM"], [13, "EACCES"]] as const) {
    const e = errorFromErrno("Cannot dump the conntrack table", n, "Operation not permitted");
    assertInstanceOf(e, ConntrackError);
    assertEquals(e.code, "permission-denied");
    assertEquals(e.errno, n);
    assertStringIncludes(e.message, `(${name}): needs root or CAP_NET_ADMIN`);
  }
});

Deno.test("errorFromErrno: other errno values are netlink failures with the errno", () => {
  const e = errorFromErrno("Cannot dump the conntrack table", 105, "No buffer space available");
  assertEquals(e.code, "netlink-failure");
  assertEquals(e.errno, 105);
  assertEquals(
    e.message,
    "Cannot dump the conntrack table: netlink failure: No buffer space available (ENOBUFS)",
  );
  assertEquals(e.name, "ConntrackError");
  assertStringIncludes(errorFromErrno("x", 0, "").message, "errno not set");
});

Deno.test("errnoName names common values and numbers the others", () => {
  assertEquals(errnoName(93), "EPROTONOSUPPORT");
  assertEquals(errnoName(4095), "errno 4095");
});
