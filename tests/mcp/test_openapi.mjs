// SPDX-License-Identifier: MIT
// The OpenAPI document: valid OpenAPI 3.1 (swagger-parser), served by the
// daemon as committed, and every response a daemon gives -- a set sent
// here that reaches every status, plus each response the http/daemon test
// recorded in PEXOS_RESPONSE_LOG -- allowed by the document: its status
// listed for that path and method, its Content-Type listed, its body valid
// against the schema (ajv, JSON Schema 2020-12). Prints TAP.
//
//   node test_openapi.mjs OPENAPI.json PEXOS_HTTPD [RESPONSE_LOG]
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020.js";
import { done, ok } from "./tap.mjs";

const [docPath, pexosHttpd, responseLog] = process.argv.slice(2);

const TOKEN = "openapi-token-" + process.pid;

function startDaemon() {
  return new Promise((resolve, reject) => {
    const d = spawn(pexosHttpd, ["--listen", "127.0.0.1", "--port", "0", "--workers", "1",
      "--queue", "1", "--pool", "0", "--timeout", "5", "--max-body", String(1 << 20)],
    { env: { ...process.env, PEXOS_TOKEN: TOKEN }, stdio: ["ignore", "ignore", "pipe"] });
    let buf = "";
    d.stderr.on("data", (c) => {
      buf += c;
      const m = buf.match(/"port":(\d+)/);
      if (m && !d.port) { d.port = Number(m[1]); resolve(d); }
    });
    d.on("exit", (code) => reject(new Error(`pexos-httpd exited ${code}: ${buf}`)));
  });
}

function send(port, method, path, body, headers = {}) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => { data += c; });
      res.on("end", () => resolve({ method, path, status: res.statusCode,
        content_type: res.headers["content-type"] || "", body: data }));
    });
    req.on("error", (e) => resolve({ method, path, status: 0, error: e.message }));
    if (body !== undefined) req.write(body);
    req.end();
  });
}

const json = { "Content-Type": "application/json" };
const auth = { Authorization: `Bearer ${TOKEN}`, ...json };
const run = (script, extra = {}) => JSON.stringify({ script, ...extra });
const rpc = (id, method, params) => JSON.stringify({ jsonrpc: "2.0", id, method, params });

async function exercise(port) {
  const sleepy = run("import time\ndef main():\n    time.sleep(1)\n    return 1\n");
  const busy = await Promise.all([1, 2, 3].map(() => send(port, "POST", "/execute", sleepy, auth)));
  const set = [
    ...busy,
    await send(port, "POST", "/execute", run("def main():\n    return {'a': [1, 2]}\n", { stats: true }), auth),
    await send(port, "POST", "/execute", run("def main(:\n"), auth),
    await send(port, "POST", "/execute", run("x = 1\n"), auth),
    await send(port, "POST", "/execute", run("main = 3\n"), auth),
    await send(port, "POST", "/execute", "{not json", auth),
    await send(port, "POST", "/execute", JSON.stringify({ script: "", shell: 1 }), auth),
    await send(port, "POST", "/execute", run("def main():\n    raise ValueError('x')\n"), auth),
    await send(port, "POST", "/execute", run("def main():\n    return {1, 2}\n"), auth),
    await send(port, "POST", "/execute", run("def main():\n    while True: pass\n", { timeout: 1 }), auth),
    await send(port, "POST", "/execute", run("import os\ndef main():\n    os.abort()\n"), auth),
    await send(port, "POST", "/execute", run("def main():\n    return 1\n")),
    await send(port, "POST", "/execute", run("def main():\n    return 1\n"), { ...auth, "Content-Type": "text/plain" }),
    await send(port, "POST", "/execute", "x".repeat(2 << 20), auth),
    await send(port, "GET", "/execute"),
    await send(port, "GET", "/nowhere"),
    await send(port, "GET", "/health"),
    await send(port, "GET", "/metrics"),
    await send(port, "GET", "/openapi.json"),
    await send(port, "POST", "/mcp", rpc(1, "initialize", { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } }), auth),
    await send(port, "POST", "/mcp", rpc(2, "tools/list"), auth),
    await send(port, "POST", "/mcp", rpc(3, "tools/call", { name: "run_python", arguments: { script: "def main():\n    return 42\n" } }), auth),
    await send(port, "POST", "/mcp", rpc(4, "no/such"), auth),
    await send(port, "POST", "/mcp", JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), auth),
    await send(port, "POST", "/mcp", "[]", auth),
    await send(port, "POST", "/mcp", rpc(5, "ping"), { ...auth, "MCP-Protocol-Version": "1999-01-01" }),
    await send(port, "GET", "/mcp"),
  ];
  return set;
}

function checker(doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const cache = new Map();
  return (r) => {
    const item = doc.paths[r.path];
    const op = item?.[r.method === "HEAD" ? "get" : r.method.toLowerCase()];
    // a path the document does not have: NotFound; a method a path does
    // not list: MethodNotAllowed (the document's description says so)
    const resp = !item ? (r.status === 404 ? doc.components.responses.NotFound : null)
      : !op ? (r.status === 405 ? doc.components.responses.MethodNotAllowed : null)
        : op.responses[String(r.status)] || op.responses.default;
    if (r.method === "HEAD") return resp ? null : `HEAD ${r.path}: status ${r.status} is not listed for GET`;
    if (!resp) return `${r.method} ${r.path}: status ${r.status} is not listed`;
    if (!resp.content) return r.body === "" ? null : `${r.method} ${r.path} ${r.status}: a body where the document has none`;
    const type = r.content_type.split(";")[0].trim();
    const media = resp.content[type];
    if (!media) return `${r.method} ${r.path} ${r.status}: Content-Type ${type} is not listed`;
    if (type !== "application/json" || !media.schema) return null;
    let body;
    try { body = JSON.parse(r.body); } catch (e) { return `${r.method} ${r.path} ${r.status}: not JSON: ${r.body.slice(0, 200)}`; }
    const key = `${r.path} ${r.method} ${r.status} ${type}`;
    if (!cache.has(key)) cache.set(key, ajv.compile(media.schema));
    const v = cache.get(key);
    return v(body) ? null : `${r.method} ${r.path} ${r.status}: ${ajv.errorsText(v.errors)}: ${r.body.slice(0, 300)}`;
  };
}

const committed = JSON.parse(readFileSync(docPath, "utf8"));
let doc;
try {
  await SwaggerParser.validate(structuredClone(committed));
  ok(true, "openapi.json is a valid OpenAPI 3.1 document (swagger-parser)");
  doc = await SwaggerParser.dereference(structuredClone(committed));
} catch (e) {
  ok(false, "openapi.json is a valid OpenAPI 3.1 document (swagger-parser)", e.message);
}
ok(committed.openapi === "3.1.0", "it says OpenAPI 3.1.0");
const types = committed.components?.schemas?.Response?.properties?.type?.enum || [];
ok(["InvalidRequest", "SyntaxError", "MissingMain", "InvalidMain", "ScriptError", "NotSerializable",
  "Timeout", "MemoryLimit", "ResultTooLarge", "Killed", "Busy", "SandboxError"].every((t) => types.includes(t)),
"every error type is in the Response schema", types.join(","));
ok(["/execute", "/health", "/metrics", "/mcp", "/openapi.json"].every((p) => committed.paths[p]),
  "every endpoint is in the document");

let daemon;
try {
  daemon = await startDaemon();
  const served = await send(daemon.port, "GET", "/openapi.json");
  ok(served.status === 200 && JSON.stringify(JSON.parse(served.body)) === JSON.stringify(committed),
    "GET /openapi.json serves the committed document", served.body.slice(0, 200));
  if (doc) {
    const check = checker(doc);
    const set = await exercise(daemon.port);
    const statuses = [...new Set(set.map((r) => r.status))].sort().join(",");
    ok(statuses === "200,202,400,401,404,405,413,415,422,503",
      "the set sent here reaches every status but 403, 408 and 500", statuses);
    const bad = set.map(check).filter(Boolean);
    ok(bad.length === 0, `each of the ${set.length} responses sent here is allowed by the document`, bad.join("\n"));
  }
} catch (e) {
  ok(false, "a daemon to ask", e.message);
} finally {
  if (daemon) daemon.kill("SIGTERM");
}
if (doc && responseLog && existsSync(responseLog)) {
  const lines = readFileSync(responseLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const check = checker(doc);
  const bad = lines.map(check).filter(Boolean);
  ok(lines.length > 0 && bad.length === 0,
    `each of the ${lines.length} responses http/daemon received is allowed by the document`,
    bad.slice(0, 20).join("\n"));
} else {
  console.log(`# no ${responseLog || "response log"}: run http/daemon first to check its responses too`);
}
done();
