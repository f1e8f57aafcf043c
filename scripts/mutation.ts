/**
 * Mutation testing (`deno task mutation [module.ts …]`), by hand, not in CI:
 * StrykerJS mutates one module at a time and runs, for each mutant, the Deno
 * tests of that module (its own test file plus the shared ones it leans on),
 * without type checking, through Stryker's command test runner. Prints each
 * module's score — killed (or timed out) over all mutants that ran — and
 * writes the JSON reports to `reports/mutation/`.
 *
 * @module
 */

/**
 * The tests that exercise waiting, scopes, delivery and the scopes' signals
 * (private: exercised through every public module's tests).
 */
const WAITING_TESTS = [
  "test/greenlet_test.ts",
  "test/timeout_test.ts",
  "test/lock_test.ts",
  "test/linkable_test.ts",
  "test/wait_test.ts",
  "test/hub_test.ts",
  "test/join_all_test.ts",
  "test/monitor_test.ts",
  "test/patch_test.ts",
];

/** Each module and the test files that exercise it. */
const MODULES: Record<string, string[]> = {
  "_core/waiter.ts": WAITING_TESTS,
  "_core/scope.ts": WAITING_TESTS,
  "_core/cancel.ts": WAITING_TESTS,
  "_core/signals.ts": WAITING_TESTS,
  "greenlet.ts": [
    "test/greenlet_test.ts",
    "test/join_all_test.ts",
    "test/hub_test.ts",
    "test/timeout_test.ts",
    "test/monitor_test.ts",
    "test/pool_test.ts", // spawnAt, quiet members, spawn sites after a wait
    "test/inspect_test.ts",
  ],
  "timeout.ts": ["test/timeout_test.ts", "test/greenlet_test.ts"],
  "lock.ts": ["test/lock_test.ts"],
  "linkable.ts": [
    "test/linkable_test.ts",
    "test/greenlet_test.ts",
    "test/lock_test.ts",
  ],
  "join_all.ts": ["test/join_all_test.ts"],
  "event.ts": ["test/event_test.ts"],
  "queue.ts": ["test/queue_test.ts"],
  "local.ts": ["test/local_test.ts"],
  "pool.ts": ["test/pool_test.ts"],
  "_imap.ts": ["test/pool_test.ts"], // private: the map engine of pool.ts
  "wait.ts": ["test/wait_test.ts"],
  "hub.ts": ["test/hub_test.ts"],
  "_core/run_queue.ts": ["test/hub_test.ts", "test/greenlet_test.ts"],
  "_core/timers.ts": ["test/hub_test.ts", "test/timeout_test.ts"],
  "_core/timer_heap.ts": [
    "test/hub_test.ts",
    "test/testing_test.ts",
    "test/timeout_test.ts",
    "test/wait_test.ts", // wait() is quiet only once no timer is left
    "test/patch_test.ts", // clearTimeout, run info's list of timers
  ],
  // private: the one binary heap, under PriorityQueue and the timer heap
  "_util/heap.ts": [
    "test/queue_test.ts", // PriorityQueue: lowest first, ties in put order
    "test/hub_test.ts", // timer order, a clock that goes back, cancels
    "test/testing_test.ts", // virtual time: timers fire by deadline
    "test/timeout_test.ts",
    "test/patch_test.ts", // clearTimeout, run info's list of timers
  ],
  "_core/quiescence.ts": ["test/hub_test.ts", "test/wait_test.ts"],
  "monitor.ts": ["test/monitor_test.ts"],
  "_patch/timers.ts": ["test/patch_test.ts"],
  "_patch/io.ts": ["test/patch_test.ts"],
  "_patch/sync.ts": ["test/patch_test.ts"],
  "patch.ts": ["test/patch_test.ts"],
  "socket.ts": ["test/socket_test.ts"],
  "_net/conn.ts": ["test/socket_test.ts"],
};

const asked = Deno.args.length > 0 ? Deno.args : Object.keys(MODULES);
for (const m of asked) {
  if (!(m in MODULES)) {
    throw new RangeError(
      `Cannot run mutation testing: unknown module, received "${m}" (known: ${
        Object.keys(MODULES).join(", ")
      })`,
    );
  }
}

const deno = Deno.execPath();
await Deno.mkdir("reports/mutation", { recursive: true });
await Deno.mkdir(".stryker-tmp", { recursive: true });
const scores: string[] = [];
for (const module of asked) {
  const name = module.replace(/\.ts$/, "").replaceAll("/", "_");
  const config = {
    mutate: [module],
    testRunner: "command",
    commandRunner: {
      command: `${deno} test --no-check --allow-all --quiet ${
        MODULES[module].join(" ")
      }`,
    },
    coverageAnalysis: "off",
    concurrency: 2,
    // Generous: on a loaded 2-core machine a whole test run can take 30 s,
    // and Stryker counts a run past its limit as a detected mutant.
    timeoutMS: 60_000,
    reporters: ["clear-text", "json"],
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    ignorePatterns: ["npm", "reports", "coverage", "bench", "examples"],
    tempDirName: ".stryker-tmp",
    cleanTempDir: true,
  };
  const configFile = `.stryker-tmp/${name}.config.json`;
  await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2));
  const status = await new Deno.Command("node", {
    args: [
      "node_modules/@stryker-mutator/core/bin/stryker.js",
      "run",
      configFile,
    ],
    // small property runs: each mutant's tests take seconds
    env: { PROPERTY_RUNS: "20", NO_COLOR: "1" },
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) throw new Error(`Stryker failed on ${module}`);
  const report = JSON.parse(
    await Deno.readTextFile(`reports/mutation/${name}.json`),
  ) as {
    files: Record<string, { mutants: { status: string }[] }>;
  };
  const count: Record<string, number> = {};
  for (const file of Object.values(report.files)) {
    for (const m of file.mutants) count[m.status] = (count[m.status] ?? 0) + 1;
  }
  const killed = (count.Killed ?? 0) + (count.Timeout ?? 0);
  const ran = killed + (count.Survived ?? 0) + (count.NoCoverage ?? 0);
  scores.push(
    `${module}: ${killed}/${ran} killed (${(100 * killed / ran).toFixed(1)} %)${
      count.CompileError ? `, ${count.CompileError} compile errors` : ""
    }${count.RuntimeError ? `, ${count.RuntimeError} runtime errors` : ""}`,
  );
}
console.log(`\nMutation scores:\n  ${scores.join("\n  ")}`);
