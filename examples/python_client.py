#!/usr/bin/python3
"""A radical-faas client in Python over plain gRPC, using the stubs generated into gen/.

Deploys a function while printing its build log as it streams, invokes it with a nested JSON
payload, and lists the deployed functions.

Needs Debian's python3-grpcio and python3-protobuf (they pair with the protoc that generated gen/),
so run it with /usr/bin/python3 and gen/ on the module path, against a running agent:

    PYTHONPATH=gen /usr/bin/python3 examples/python_client.py [--agent 127.0.0.1:5000] [--id hello-py]

With FAAS_AUTH_TOKEN set on the agent, pass the token with --token or FAAS_TOKEN. Against an
agent with TLS (FAAS_TLS_CERT), pass --cacert CA.pem (or FAAS_CACERT); with mutual TLS
(FAAS_TLS_CLIENT_CA) also --cert and --key (or FAAS_CERT and FAAS_KEY). Prints the result
as JSON on stdout (progress on stderr); exits 1 with the gRPC status code and message on an RPC
error.
"""

import argparse
import json
import os
import sys

import grpc
from google.protobuf import json_format, struct_pb2

from faas.v1 import agent_pb2, agent_pb2_grpc

HANDLER = '''
def handle(req):
    order = req["order"]
    total = sum(item["price"] * item["qty"] for item in order["items"])
    return {"customer": order["customer"]["name"], "total": total, "items": len(order["items"])}
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default=os.environ.get("FAAS_AGENT", "127.0.0.1:5000"), help="host:port of the agent")
    parser.add_argument("--id", default="hello-py", help="function id to deploy")
    parser.add_argument("--token", default=os.environ.get("FAAS_TOKEN", ""), help="bearer token, if the agent requires one")
    parser.add_argument("--cacert", default=os.environ.get("FAAS_CACERT", ""), help="CA certificate (PEM) of a TLS agent; turns on TLS")
    parser.add_argument("--cert", default=os.environ.get("FAAS_CERT", ""), help="client certificate (PEM) for mutual TLS")
    parser.add_argument("--key", default=os.environ.get("FAAS_KEY", ""), help="client key (PEM) for mutual TLS")
    args = parser.parse_args()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")

    metadata = [("authorization", f"Bearer {args.token}")] if args.token else []
    with open_channel(args) as channel:
        agent = agent_pb2_grpc.FaasAgentStub(channel)
        try:
            deploy(agent, args.id, metadata)
            result = invoke(agent, args.id, metadata)
            functions = agent.List(agent_pb2.ListRequest(), metadata=metadata, timeout=30).functions
        except grpc.RpcError as error:
            print(f"error: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    print(json.dumps({"result": result, "functions": [f.id for f in functions]}))
    return 0


def open_channel(args) -> grpc.Channel:
    """A TLS channel when --cacert or --cert is given (mutual TLS with --cert/--key), else plain text (h2c)."""
    if not (args.cacert or args.cert):
        return grpc.insecure_channel(args.agent)

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    credentials = grpc.ssl_channel_credentials(
        root_certificates=read(args.cacert) if args.cacert else None,
        private_key=read(args.key) if args.key else None,
        certificate_chain=read(args.cert) if args.cert else None,
    )
    return grpc.secure_channel(args.agent, credentials)


def deploy(agent: agent_pb2_grpc.FaasAgentStub, function_id: str, metadata) -> None:
    """Deploys HANDLER, printing phases and build-log lines to stderr as they stream in."""
    request = agent_pb2.DeployRequest(id=function_id, handler=HANDLER)
    for event in agent.Deploy(request, metadata=metadata, timeout=600):
        kind = event.WhichOneof("event")
        if kind == "phase":
            print(f"phase {agent_pb2.DeployPhase.Name(event.phase)}", file=sys.stderr)
        elif kind == "log":
            print(f"  [{event.log.source}] {event.log.line}", file=sys.stderr)
        elif kind == "function":
            print(f"deployed {event.function.id} revision {event.function.revision}", file=sys.stderr)


def invoke(agent: agent_pb2_grpc.FaasAgentStub, function_id: str, metadata):
    """Invokes the function with a nested JSON payload and returns its result as plain Python."""
    payload = {"order": {"customer": {"name": "Ada"}, "items": [{"price": 2.5, "qty": 2}, {"price": 10, "qty": 1}]}}
    value = json_format.ParseDict(payload, struct_pb2.Value())
    response = agent.Invoke(agent_pb2.InvokeRequest(id=function_id, payload=value), metadata=metadata, timeout=60)
    return json_format.MessageToDict(response.result)


if __name__ == "__main__":
    sys.exit(main())
