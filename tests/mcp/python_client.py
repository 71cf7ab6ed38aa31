"""Drives an MCP server with the official Python SDK's client and reports
what it saw, as JSON on stdout; the Rust test decides what is right.

Usage: python_client.py PLAN_JSON

The plan names the transport ("http": url, headers; "stdio": command,
args, env), the protocol mode ("auto" probes the newest version, "legacy"
forces the initialize handshake), the calls to make, each with its
arguments, whether to ask for progress, and a time after which to cancel,
whether to list the resources and read each (and the URIs in "read"),
and resource URIs to listen to for updates ("listen").
"""

import asyncio
import json
import sys

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def failure(error):
    data = {"type": type(error).__name__, "message": str(error)}
    inner = getattr(error, "error", None)
    if inner is not None and hasattr(inner, "code"):
        data["code"] = inner.code
    return data


async def run(plan):
    if plan["transport"] == "http":
        http = httpx2.AsyncClient(headers=plan.get("headers", {}), timeout=60)
        server = streamable_http_client(plan["url"], http_client=http)
    else:
        server = StdioServerParameters(
            command=plan["command"], args=plan.get("args", []), env=plan.get("env")
        )
    report = {"calls": []}
    try:
        async with Client(server, mode=plan.get("mode", "auto")) as client:
            report["protocol_version"] = client.protocol_version
            info = client.server_info
            report["server"] = dump(info) if info is not None else None
            listed = await client.list_tools()
            report["tools"] = [dump(tool) for tool in listed.tools]
            for call in plan.get("calls", []):
                report["calls"].append(await make(client, call))
            if "listen" in plan:
                report["listened"] = await listen(client, plan["listen"])
            if plan.get("resources"):
                listed = await client.list_resources()
                report["resources"] = [dump(r) for r in listed.resources]
                report["reads"] = []
                uris = [str(r.uri) for r in listed.resources] + plan.get("read", [])
                for uri in uris:
                    try:
                        read = await client.read_resource(uri)
                        report["reads"].append({"uri": uri, "result": dump(read)})
                    except Exception as error:  # noqa: BLE001
                        report["reads"].append({"uri": uri, "error": failure(error)})
    except Exception as error:  # noqa: BLE001 - reported, judged by the test
        report["failure"] = failure(error)
    return report


async def listen(client, spec):
    """Listens to resource updates; says so in `ready_file` once the
    server acknowledged, and stops after `events` updates or `timeout`."""
    updated = []
    async with client.listen(resource_subscriptions=spec["uris"]) as subscription:
        honored = list(subscription.honored.resource_subscriptions or [])
        with open(spec["ready_file"], "w") as ready:
            ready.write("listening")
        with anyio.move_on_after(spec.get("timeout", 30)):
            async for event in subscription:
                updated.append({"type": type(event).__name__, "uri": getattr(event, "uri", None)})
                if len(updated) >= spec.get("events", 1):
                    break
    return {"honored": honored, "updated": updated}


async def make(client, call):
    seen = {"name": call["name"], "progress": []}

    async def progress(value, total, message):
        seen["progress"].append({"progress": value, "total": total, "message": message})

    callback = progress if call.get("progress") else None
    try:
        cancel_after = call.get("cancel_after")
        if cancel_after is None:
            result = await client.call_tool(
                call["name"], call.get("arguments", {}), progress_callback=callback
            )
            seen["result"] = dump(result)
        else:
            seen["cancelled"] = True
            with anyio.move_on_after(cancel_after):
                result = await client.call_tool(
                    call["name"], call.get("arguments", {}), progress_callback=callback
                )
                seen["cancelled"] = False
                seen["result"] = dump(result)
    except Exception as error:  # noqa: BLE001
        seen["error"] = failure(error)
    return seen


def main():
    plan = json.loads(sys.argv[1])
    report = asyncio.run(run(plan))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
