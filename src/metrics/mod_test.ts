import { assertEquals } from "../../tests/_assert.ts";
import { formatPrometheus } from "./mod.ts";

Deno.test("formatPrometheus: counters, gauges, labels with escapes", () => {
  assertEquals(
    formatPrometheus([
      { name: "a_total", help: "A.", type: "counter", value: 3 },
      {
        name: "b",
        help: "B.",
        type: "gauge",
        samples: [{ labels: { sink: 'x"y\\z\n' }, value: 1.5 }, { labels: {}, value: NaN }],
      },
    ]),
    '# HELP a_total A.\n# TYPE a_total counter\na_total 3\n# HELP b B.\n# TYPE b gauge\nb{sink="x\\"y\\\\z\\n"} 1.5\nb{} NaN\n',
  );
});
