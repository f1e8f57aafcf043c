/**
 * Producer and consumers over a bounded Queue: back-pressure.
 *
 * One producer makes 8 jobs as fast as it can; two consumers take them and
 * each job costs them three switches of work. `Queue(3)` holds at most
 * three jobs, so the producer waits whenever the consumers fall behind —
 * memory stays bounded however fast it produces. `close()` ends the
 * consumers' `for await` once the last job is taken. The output is the
 * same on every run: only `sleep(0)` switches, no timers. A `put` that
 * does not block does not switch (as in gevent), so the producer fills the
 * queue before the consumers first run.
 *
 * Run: `deno run examples/06_producer_consumer.ts`
 *
 * @module
 */
import { joinAll, Queue, sleep, spawn } from "../mod.ts";

const jobs = new Queue<number>(3);

async function producer(count: number): Promise<void> {
  for (let job = 1; job <= count; job++) {
    if (jobs.full()) {
      console.log(
        `producer: queue full (${jobs.qsize()}), waits with job ${job}`,
      );
    }
    await jobs.put(job);
    console.log(`producer: put job ${job}`);
  }
  jobs.close();
  console.log("producer: done, queue closed");
}

async function consumer(name: string): Promise<number> {
  let done = 0;
  for await (const job of jobs) {
    console.log(`  ${name}: working on job ${job}`);
    for (let step = 0; step < 3; step++) await sleep(0); // the work
    done++;
  }
  console.log(`  ${name}: no more jobs`);
  return done;
}

const p = spawn(producer, 8);
const consumers = [
  spawn(consumer, "consumer A"),
  spawn(consumer, "consumer B"),
];
await joinAll([p, ...consumers]);
const [a, b] = consumers.map((c) => c.value);
console.log(
  `all 8 jobs done: A did ${a}, B did ${b}; never more than 3 queued`,
);
