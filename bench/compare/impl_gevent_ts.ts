/**
 * gevent-ts on Deno, from the sources: one `bench:compare` workload per
 * process (`deno run -A bench/compare/impl_gevent_ts.ts W1 '{…}'`).
 *
 * @module
 */
import * as lib from "../../mod.ts";
import { main } from "./harness.ts";
import { workloads } from "./workloads_gevent_ts.ts";

await main("gevent-ts-deno", workloads(lib));
