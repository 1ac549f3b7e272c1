// SPDX-License-Identifier: MIT
// TAP for the node tests: ok() prints one line (and the detail of a
// failure as comments), done() the plan and the exit status.
let n = 0;
let failed = 0;

export function ok(cond, what, detail) {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? "ok" : "not ok"} ${n} - ${what}`);
  if (!cond && detail !== undefined)
    console.log(`# ${String(detail).split("\n").join("\n# ")}`);
  return cond;
}

export function done() {
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}
