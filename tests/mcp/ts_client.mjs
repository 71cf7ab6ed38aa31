// Drives an MCP server with the official TypeScript SDK's client and
// reports what it saw, as JSON on stdout; the Rust test decides what is
// right.
//
// Usage: node ts_client.mjs PLAN_JSON
//
// The plan is the Python client's: the transport ("http": url, headers;
// "stdio": command, args, env) and the calls, each with its arguments,
// whether to ask for progress, and a time after which to cancel.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

function failure(error) {
  return { type: error?.constructor?.name ?? "Error", message: String(error?.message ?? error), code: error?.code };
}

async function make(client, call) {
  const seen = { name: call.name, progress: [] };
  const options = {};
  if (call.progress) {
    options.onprogress = (p) => seen.progress.push({ progress: p.progress, total: p.total, message: p.message });
  }
  let timer;
  if (call.cancel_after !== undefined) {
    const controller = new AbortController();
    options.signal = controller.signal;
    timer = setTimeout(() => controller.abort("cancelled by the test"), call.cancel_after * 1000);
  }
  try {
    seen.result = await client.callTool({ name: call.name, arguments: call.arguments ?? {} }, undefined, options);
    seen.cancelled = false;
  } catch (error) {
    seen.error = failure(error);
    seen.cancelled = options.signal?.aborted ?? false;
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

async function run(plan) {
  const transport =
    plan.transport === "http"
      ? new StreamableHTTPClientTransport(new URL(plan.url), { requestInit: { headers: plan.headers ?? {} } })
      : new StdioClientTransport({ command: plan.command, args: plan.args ?? [], env: plan.env, stderr: "pipe" });
  const client = new Client({ name: "host-harness-test", version: "1.0.0" });
  const report = { calls: [] };
  try {
    await client.connect(transport);
    report.protocol_version = transport.protocolVersion ?? null;
    report.server = client.getServerVersion() ?? null;
    const listed = await client.listTools();
    report.tools = listed.tools;
    for (const call of plan.calls ?? []) {
      report.calls.push(await make(client, call));
    }
  } catch (error) {
    report.failure = failure(error);
  } finally {
    await client.close().catch(() => {});
  }
  return report;
}

const report = await run(JSON.parse(process.argv[2]));
process.stdout.write(JSON.stringify(report) + "\n");
