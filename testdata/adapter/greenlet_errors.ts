// Run by hub_test.ts: the adapter fails a test whose greenlet failed
// unexpectedly, and passes one that declared it.
import assert from "node:assert/strict";
import { spawn } from "../../mod.ts";
import { capturingErrors, test } from "../../test/test_adapter.ts";

test("undeclared", async () => {
  await spawn(function thrower() {
    throw new TypeError("boom");
  }).join();
});

test("declared", async () => {
  await capturingErrors(async (errors) => {
    await spawn(function thrower() {
      throw new TypeError("boom");
    }).join();
    assert.deepEqual(errors, ["thrower: TypeError: boom"]);
  });
});
