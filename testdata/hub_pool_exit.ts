import { getHub } from "../mod.ts";
import "../threadpool.ts";
const add = "data:text/javascript,export const add = (a, b) => a + b;#add";
console.log(await getHub().threadpool.apply(add, 1, 2));
