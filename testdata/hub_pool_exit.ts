/**
 * A program that uses `getHub().threadpool` (a task, an error, a task whose
 * thread is terminated) and ends: it must exit by itself, its hub having
 * closed the pool (test/threadpool_test.ts).
 *
 * @module
 */
import process from "node:process";
import { getHub, spawn } from "../mod.ts";
import "../threadpool.ts";

const pool = getHub().threadpool;
const add = "data:text/javascript,export const add = (a, b) => a + b;" +
  "export const spin = () => { for (;;); };" +
  "export const fail = () => { throw new Error('boom'); };";
console.log(`add: ${await pool.apply(`${add}#add`, 1, 2)}`);
console.log(
  `fail: ${await pool.apply(`${add}#fail`).catch((e: Error) => e.message)}`,
);
const g = spawn(() => pool.apply(`${add}#spin`));
setTimeout(() => g.kill(), 50);
await g.join();
console.log(`spin killed: ${g.dead}`);
process.on("exit", () => console.log(`at exit, closed: ${pool.closed}`));
