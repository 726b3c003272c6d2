import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { formatFlowQuery, parseFlowQuery } from "./flow_query.ts";
import { QueryParameterError } from "./flow_record_query.ts";

Deno.test("parseFlowQuery: every parameter, canonical values", () => {
  assertEquals(
    parseFlowQuery(
      "?srcip=FD00::1&proto=tcp&dstport=443&sourcePodNamespace=shop&sourcePodName=web-0" +
        "&destinationPodNamespace=db&destinationPodName=pg-1&since=1700000000&until=1700003600&limit=50",
    ),
    {
      srcip: "fd00::1",
      proto: 6,
      dstport: 443,
      sourcePodNamespace: "shop",
      sourcePodName: "web-0",
      destinationPodNamespace: "db",
      destinationPodName: "pg-1",
      since: 1700000000,
      until: 1700003600,
      limit: 50,
    },
  );
  assertEquals(parseFlowQuery(""), {});
  assertEquals(parseFlowQuery("limit=&sourcePodName="), {});
  assertEquals(parseFlowQuery("limit=5&limit=5"), { limit: 5 });
});

Deno.test("parseFlowQuery: bad, unknown, oversized and conflicting parameters name themselves", () => {
  const bad: [string, string | undefined][] = [
    ["limit=0", "limit"],
    ["limit=100001", "limit"],
    ["limit=-1", "limit"],
    ["limit=1e3", "limit"],
    ["since=yesterday", "since"],
    ["until=99999999999", "until"],
    ["sourcePodName=Web_0", "sourcePodName"],
    ["destinationPodNamespace=" + "a".repeat(300), "destinationPodNamespace"],
    ["sourcePodNamespace=a%00b", "sourcePodNamespace"],
    ["srcport=70000", "srcport"],
    ["dstip=10.0.0.256", "dstip"],
    ["limit=1&limit=2", "limit"],
    ["podName=x", "podName"],
    ["x=" + "y".repeat(5000), undefined],
  ];
  for (const [q, parameter] of bad) {
    const e = assertThrows(() => parseFlowQuery(q), QueryParameterError);
    assertEquals(e.parameter, parameter, q);
  }
});

Deno.test("formatFlowQuery writes what parseFlowQuery reads", () => {
  const q = { dstip: "10.0.0.2", proto: 17, sourcePodNamespace: "shop", since: 5, limit: 10 };
  assertEquals(
    formatFlowQuery(q),
    "dstip=10.0.0.2&proto=17&sourcePodNamespace=shop&since=5&limit=10",
  );
  assertEquals(parseFlowQuery(formatFlowQuery(q)), q);
  assertEquals(formatFlowQuery({}), "");
});
