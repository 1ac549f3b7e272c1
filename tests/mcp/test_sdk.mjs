// SPDX-License-Identifier: MIT
// Drives pexos-run --mcp (stdio) and pexos-httpd's POST /mcp (Streamable
// HTTP) with the official MCP TypeScript client, and prints TAP.
//
//   node test_sdk.mjs core|outputs PEXOS_RUN PEXOS_HTTPD
//
// "core": initialize, the tool's schemas checked as JSON Schema, hello,
// numpy, an error, a timeout, concurrent calls, cancelled calls, malformed
// and huge messages. "outputs": a matplotlib figure as an image block and
// an output file as a resource block (these need the request's `outputs`
// and the response's `figures`/`files`, SPEC §1/§3).
import { spawn } from "node:child_process";
import http from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ResultSchema } from "@modelcontextprotocol/sdk/types.js";
import Ajv from "ajv";
import Ajv2020 from "ajv/dist/2020.js";
import { done, ok } from "./tap.mjs";

const [mode, pexosRun, pexosHttpd] = process.argv.slice(2);
async function attempt(what, fn) {
  try {
    await fn();
  } catch (e) {
    ok(false, what, e && e.stack ? e.stack : e);
  }
}

const TOKEN = "mcp-test-token-" + process.pid;
const HELLO = 'def main():\n    return {"message": "Hello, World!"}\n';
const NUMPY =
  "import numpy as np\nimport pandas as pd\n\ndef main():\n" +
  "    data = pd.DataFrame({'numbers': [1, 2, 3, 4, 5], 'squares': [1, 4, 9, 16, 25]})\n" +
  "    mean_value = np.mean(data['numbers'])\n" +
  '    return {"mean": mean_value, "data_shape": data.shape, "total_records": len(data)}\n';

// ---- the daemon ------------------------------------------------------------

function startDaemon() {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, PEXOS_TOKEN: TOKEN };
    const d = spawn(pexosHttpd, ["--listen", "127.0.0.1", "--port", "0",
      "--workers", "2", "--timeout", "10", "--max-body", String(4 << 20)],
      { env, stdio: ["ignore", "ignore", "pipe"] });
    let buf = "";
    const timer = setTimeout(() => reject(new Error("pexos-httpd did not log its port: " + buf)), 30000);
    d.stderr.on("data", (chunk) => {
      buf += chunk;
      const m = buf.match(/"port":(\d+)/) || buf.match(/listening on [^ ]*:(\d+)/);
      if (m && !d.port) {
        d.port = Number(m[1]);
        clearTimeout(timer);
        resolve(d);
      }
    });
    d.on("exit", (code) => reject(new Error(`pexos-httpd exited ${code}: ${buf}`)));
  });
}

// ---- the transports ----------------------------------------------------------

async function connect(kind, daemon) {
  const client = new Client({ name: "pexos-test", version: "1.0.0" });
  let transport;
  if (kind === "stdio") {
    transport = new StdioClientTransport({
      command: pexosRun,
      args: ["--mcp", "-j", "2", "--timeout", "10"],
      stderr: "inherit",
    });
  } else {
    transport = new StreamableHTTPClientTransport(
      new URL(`http://127.0.0.1:${daemon.port}/mcp`),
      { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } });
  }
  await client.connect(transport);
  return { client, transport };
}

const call = (client, args, options) =>
  client.callTool({ name: "run_python", arguments: args }, undefined, options);

// Checks what every tool result must be, then returns it.
function shape(kind, r, what) {
  ok(Array.isArray(r.content) && r.content[0] && r.content[0].type === "text",
    `${kind}: ${what}: content starts with a text block`, JSON.stringify(r).slice(0, 500));
  ok(r.structuredContent && typeof r.structuredContent === "object",
    `${kind}: ${what}: structuredContent is the response object`);
  return r;
}

// ---- core ------------------------------------------------------------------

async function schemas(kind, client) {
  const { tools } = await client.listTools();
  ok(tools.length === 1 && tools[0].name === "run_python", `${kind}: tools/list offers run_python`);
  const t = tools[0];
  const props = Object.keys(t.inputSchema.properties || {}).sort().join(",");
  ok(props === "files,memory_mb,outputs,script,stdin,timeout",
    `${kind}: inputSchema has the request fields of SPEC §10`, props);
  for (const [name, A] of [["draft-07", Ajv], ["2020-12", Ajv2020]]) {
    // strictRequired is ajv's own lint (a required name declared in the
    // same subschema), not JSON Schema: the oneOf names fields declared above
    const ajv = new A({ strict: true, strictRequired: false, allErrors: true });
    let vin, vout;
    try {
      vin = ajv.compile(t.inputSchema);
      vout = ajv.compile(t.outputSchema);
    } catch (e) {
      ok(false, `${kind}: both schemas compile as JSON Schema ${name}`, e.message);
      continue;
    }
    ok(true, `${kind}: both schemas compile as JSON Schema ${name}`);
    ok(vin({ script: HELLO, timeout: 2, files: [{ path: "a.txt", content: "x" }], outputs: ["*.csv"] }) &&
       !vin({}) && !vin({ script: 1 }) && !vin({ script: "", shell: true }),
      `${kind}: inputSchema (${name}) takes a request and refuses bad ones`);
    ok(vout({ result: null, stdout: "" }) &&
       vout({ error: "x", type: "Timeout" }) &&
       !vout({ error: "x", type: "NoSuchType" }) && !vout({ stdout: "" }),
      `${kind}: outputSchema (${name}) takes responses and refuses non-responses`);
  }
  return t;
}

async function core(kind, daemon) {
  const { client, transport } = await connect(kind, daemon);
  const info = client.getServerVersion();
  ok(info && info.name === "pexos", `${kind}: initialize: serverInfo names pexos`, JSON.stringify(info));
  ok(client.getServerCapabilities()?.tools, `${kind}: initialize: tools capability`);
  const tool = await schemas(kind, client);
  const vout = new Ajv2020().compile(tool.outputSchema);

  let r = shape(kind, await call(client, { script: HELLO }), "hello");
  ok(!r.isError && r.structuredContent.result?.message === "Hello, World!" &&
     r.content[0].text.includes("Hello, World!") && vout(r.structuredContent),
    `${kind}: hello: the result, as structured content and text`, JSON.stringify(r));

  r = shape(kind, await call(client, { script: NUMPY }), "numpy");
  const res = r.structuredContent.result || {};
  ok(!r.isError && res.mean === 3 && JSON.stringify(res.data_shape) === "[5,2]" &&
     res.total_records === 5, `${kind}: numpy and pandas`, JSON.stringify(r.structuredContent));

  r = shape(kind, await call(client, { script: "def main():\n    print('before')\n    return 1/0\n" }), "error");
  ok(r.isError === true && r.structuredContent.type === "ScriptError" &&
     /ZeroDivisionError/.test(r.structuredContent.error) &&
     /line 3/.test(r.structuredContent.traceback) && r.structuredContent.stdout === "before\n" &&
     /ScriptError/.test(r.content[0].text) && /traceback/.test(r.content[0].text) && vout(r.structuredContent),
    `${kind}: an exception: isError, ScriptError, traceback, stdout`, JSON.stringify(r));

  const t0 = Date.now();
  r = shape(kind, await call(client, { script: "def main():\n    while True:\n        pass\n", timeout: 1 }), "timeout");
  ok(r.isError === true && r.structuredContent.type === "Timeout" && Date.now() - t0 < 8000,
    `${kind}: an endless loop with timeout 1: Timeout`, JSON.stringify(r.structuredContent));

  await concurrent(kind, client);
  await cancelled(kind, client);
  await malformed(kind, client, daemon);
  await huge(kind, client, daemon);

  r = await call(client, { script: HELLO });
  ok(!r.isError, `${kind}: after all that, hello still works`);
  await client.close();
  return transport;
}

// -j 2 / --workers 2: two slow calls overlap, and a fast one sent after a
// slow one is answered first.
async function concurrent(kind, client) {
  const slow = "import time\ndef main():\n    time.sleep(1.5)\n    return 'slow'\n";
  const done = [];
  const t0 = Date.now();
  const a = call(client, { script: slow }).then((r) => { done.push("slow"); return r; });
  await new Promise((res) => setTimeout(res, 100));
  const b = call(client, { script: HELLO }).then((r) => { done.push("fast"); return r; });
  const pinged = client.ping().then(() => { done.push("ping"); });
  await Promise.all([a, b, pinged]);
  ok(done.indexOf("fast") < done.indexOf("slow") && done.indexOf("ping") < done.indexOf("slow"),
    `${kind}: a fast call and a ping sent after a slow call are answered first`, done.join(","));
  const t1 = Date.now();
  const rs = await Promise.all([call(client, { script: slow }), call(client, { script: slow })]);
  const took = Date.now() - t1;
  ok(rs.every((r) => r.structuredContent?.result === "slow") && took < 2900,
    `${kind}: two 1.5 s calls at once take less than 2.9 s (${took} ms)`);
  ok(Date.now() - t0 > 1500, `${kind}: the slow call did sleep`);
}

// A call the client gives up on (an AbortSignal: the client sends
// notifications/cancelled) ends its run. Both threads (-j 2 / --workers 2)
// hold an aborted 30 s call (--timeout 10); the next call is answered at
// once only if both runs were ended.
async function cancelled(kind, client) {
  const slow = "import time\ndef main():\n    time.sleep(30)\n    return 'finished'\n";
  const aborts = [new AbortController(), new AbortController()];
  const calls = aborts.map((a) =>
    call(client, { script: slow }, { signal: a.signal }).then(() => "answered", (e) => e));
  await new Promise((res) => setTimeout(res, 1500));
  aborts.forEach((a) => a.abort("no longer needed"));
  const outcomes = await Promise.all(calls);
  ok(outcomes.every((o) => o !== "answered"), `${kind}: aborted calls are rejected by the client`,
    outcomes.map(String).join("; "));
  const t0 = Date.now();
  const r = await call(client, { script: HELLO });
  const took = Date.now() - t0;
  ok(!r.isError && took < 5000,
    `${kind}: after two aborted 30 s calls, the next call is answered in ${took} ms (under 5 s): their runs were ended`);
}

async function malformed(kind, client, daemon) {
  const expectError = async (p, code, what) => {
    try {
      await p;
      ok(false, `${kind}: ${what}: JSON-RPC error ${code}`, "it succeeded");
    } catch (e) {
      ok(e.code === code, `${kind}: ${what}: JSON-RPC error ${code}`, `${e.code} ${e.message}`);
    }
  };
  await expectError(client.request({ method: "no/such/method", params: {} }, ResultSchema),
    -32601, "an unknown method");
  await expectError(call(client, { script: 42 }), -32602, "a number as script");
  await expectError(call(client, { script: HELLO, shell: "rm -rf /" }), -32602, "an unknown argument");
  await expectError(client.callTool({ name: "shell", arguments: { script: HELLO } }), -32602, "an unknown tool");
  if (kind === "http") {
    const post = (body, headers = {}) => fetch(`http://127.0.0.1:${daemon.port}/mcp`, {
      method: "POST", body,
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json",
        Accept: "application/json, text/event-stream", ...headers },
    });
    let r = await post("{not json");
    let j = await r.json().catch(() => null);
    ok(r.status === 400 && j?.error?.code === -32700 && j.id === null,
      "http: a body that is not JSON: 400 and a parse error", `${r.status} ${JSON.stringify(j)}`);
    r = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { Authorization: "Bearer wrong" });
    ok(r.status === 401, "http: a wrong token: 401", r.status);
    r = await fetch(`http://127.0.0.1:${daemon.port}/mcp`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    ok(r.status === 405 && /POST/.test(r.headers.get("allow") || ""), "http: GET /mcp: 405, Allow: POST", r.status);
    r = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { "MCP-Protocol-Version": "1999-01-01" });
    ok(r.status === 400, "http: an unsupported MCP-Protocol-Version: 400", r.status);
    r = await post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
    ok(r.status === 202, "http: a notification: 202 Accepted", r.status);
  }
}

async function huge(kind, client, daemon) {
  // over the 1 MiB script limit: the run's failure, not the protocol's
  const big = "def main():\n    return 1\n" + "#".repeat(80) .concat("\n").repeat(14000);
  let r = await call(client, { script: big });
  ok(r.isError === true && r.structuredContent?.type === "InvalidRequest" && /script/.test(r.structuredContent.error),
    `${kind}: a 1.1 MiB script: InvalidRequest as a tool result`, JSON.stringify(r.structuredContent).slice(0, 300));
  if (kind === "http") {
    // over --max-body (4 MiB): refused on its headers, before the body
    // is read (a client still sending then sees its connection reset)
    const status = await new Promise((resolve) => {
      const req = http.request({ host: "127.0.0.1", port: daemon.port, path: "/mcp", method: "POST",
        headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json",
          "Content-Length": String(5 << 20) } });
      req.on("response", (res) => { resolve(res.statusCode); req.destroy(); });
      req.on("error", (e) => resolve(e.message));
      req.flushHeaders();
    });
    ok(status === 413, "http: a 5 MiB message: 413 on its headers", status);
    // under it, but 3 MiB: read whole, the library's limit answers
    r = await call(client, { script: HELLO, stdin: "x".repeat(3 << 20) });
    ok(r.isError === true && r.structuredContent?.type === "InvalidRequest",
      "http: a 3 MiB message: read whole, InvalidRequest as a tool result", JSON.stringify(r.structuredContent).slice(0, 300));
  } else {
    // a 3 MiB stdin: over the 1 MiB stdin limit, and read whole
    r = await call(client, { script: HELLO, stdin: "x".repeat(3 << 20) });
    ok(r.isError === true && r.structuredContent?.type === "InvalidRequest",
      "stdio: a 3 MiB message: read whole, InvalidRequest as a tool result", JSON.stringify(r.structuredContent).slice(0, 300));
  }
}

// ---- outputs: figures and files -------------------------------------------

function pngSize(b64) {
  const buf = Buffer.from(b64, "base64");
  const sig = buf.subarray(0, 8).toString("hex") === "89504e470d0a1a0a";
  return sig && buf.subarray(12, 16).toString() === "IHDR"
    ? { w: buf.readUInt32BE(16), h: buf.readUInt32BE(20) } : null;
}

async function outputs(kind, daemon) {
  const { client } = await connect(kind, daemon);
  const vout = new Ajv2020().compile((await client.listTools()).tools[0].outputSchema);
  let r = shape(kind, await call(client, {
    script: "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n" +
      "def main():\n    plt.figure(figsize=(4, 3), dpi=50)\n    plt.plot([1, 2, 3], [1, 4, 9])\n    return 'plotted'\n",
  }), "figure");
  const img = r.content.find((b) => b.type === "image");
  const fig = (r.structuredContent.figures || [])[0];
  const size = img && pngSize(img.data);
  ok(!r.isError && img && img.mimeType === "image/png" && size && fig &&
     size.w === fig.width && size.h === fig.height && fig.content_base64 === undefined &&
     vout(r.structuredContent),
    `${kind}: a matplotlib figure: an image block whose PNG decodes, its size in structuredContent`,
    JSON.stringify(r.structuredContent).slice(0, 400));

  r = shape(kind, await call(client, {
    script: "import os\ndef main():\n    os.makedirs('out', exist_ok=True)\n" +
      "    open('out/result.csv', 'w').write('x,y\\n1,2\\n')\n    open('out/raw.bin', 'wb').write(bytes([0, 1, 255]))\n    return 2\n",
    outputs: ["out/*"],
  }), "output files");
  const res = r.content.filter((b) => b.type === "resource").map((b) => b.resource);
  const csv = res.find((x) => /result\.csv$/.test(x.uri));
  const bin = res.find((x) => /raw\.bin$/.test(x.uri));
  ok(!r.isError && csv && csv.text === "x,y\n1,2\n" && csv.mimeType === "text/csv" &&
     bin && Buffer.from(bin.blob || "", "base64").equals(Buffer.from([0, 1, 255])) &&
     (r.structuredContent.files || []).length === 2 && vout(r.structuredContent),
    `${kind}: output files: a text resource and a blob resource`, JSON.stringify(r).slice(0, 600));
  await client.close();
}

// ---- main ------------------------------------------------------------------

let daemon;
try {
  daemon = await startDaemon();
  ok(true, "pexos-httpd started");
} catch (e) {
  ok(false, "pexos-httpd started", e.message);
}
for (const kind of ["stdio", "http"]) {
  if (kind === "http" && !daemon) continue;
  await attempt(`${kind}: ${mode}`, () => (mode === "outputs" ? outputs(kind, daemon) : core(kind, daemon)));
}
if (daemon) daemon.kill("SIGTERM");
done();
