"""Interop client for test/interop-python.test.ts: drives a running agent through the Python stubs in
gen/ with Debian's python3-grpcio and prints one JSON report on stdout, which the test asserts on.

Usage: PYTHONPATH=gen /usr/bin/python3 test/python/interop.py HOST:PORT FUNCTION_ID
"""

import json
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory, struct_pb2
from google.rpc import error_details_pb2

from faas.v1 import agent_pb2, agent_pb2_grpc


def status_class():
    """google.rpc.Status, built at run time: Debian's python3-protobuf does not ship google.rpc."""
    file = descriptor_pb2.FileDescriptorProto(name="interop/status.proto", package="google.rpc", syntax="proto3")
    file.dependency.append("google/protobuf/any.proto")
    message = file.message_type.add(name="Status")
    label, types = descriptor_pb2.FieldDescriptorProto, descriptor_pb2.FieldDescriptorProto
    message.field.add(name="code", number=1, type=types.TYPE_INT32, label=label.LABEL_OPTIONAL)
    message.field.add(name="message", number=2, type=types.TYPE_STRING, label=label.LABEL_OPTIONAL)
    message.field.add(name="details", number=3, type=types.TYPE_MESSAGE, type_name=".google.protobuf.Any", label=label.LABEL_REPEATED)
    pool = descriptor_pool.Default()
    pool.Add(file)
    return message_factory.MessageFactory(pool).GetPrototype(pool.FindMessageTypeByName("google.rpc.Status"))


Status = status_class()


def failure(error: grpc.RpcError) -> dict:
    """An RPC error as code, message and the ErrorInfo reason from grpc-status-details-bin."""
    reason = None
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            for detail in Status.FromString(value).details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reason = info.reason
    return {"code": error.code().name, "message": error.details(), "reason": reason}


def call(fn):
    try:
        return {"ok": fn()}
    except grpc.RpcError as error:
        return {"error": failure(error)}


def main() -> None:
    target, function_id = sys.argv[1], sys.argv[2]
    report = {"grpc_module": grpc.__file__, "grpc_version": grpc.__version__}
    with grpc.insecure_channel(target) as channel:
        agent = agent_pb2_grpc.FaasAgentStub(channel)

        handler = 'import sys\nprint("importing", flush=True)\ndef handle(req):\n    return {"echo": req, "depth": req["a"]["b"]["c"][2]["d"]}\n'
        events = []
        for event in agent.Deploy(agent_pb2.DeployRequest(id=function_id, handler=handler), timeout=120):
            kind = event.WhichOneof("event")
            if kind == "phase":
                events.append({"phase": agent_pb2.DeployPhase.Name(event.phase)})
            elif kind == "log":
                events.append({"log": event.log.line, "source": event.log.source})
            else:
                events.append({"function": event.function.id, "ready": event.function.ready})
        report["deploy"] = events

        payload = {"a": {"b": {"c": [1, "two", {"d": [True, None, 3.5]}]}}, "unicode": "héllo ✓", "empty": {}}
        value = json_format.ParseDict(payload, struct_pb2.Value())
        response = agent.Invoke(agent_pb2.InvokeRequest(id=function_id, payload=value), timeout=60)
        report["invoke"] = {"result": json_format.MessageToDict(response.result), "status": response.status, "platform": response.platform}

        report["list"] = [f.id for f in agent.List(agent_pb2.ListRequest(), timeout=30).functions]
        report["get"] = call(lambda: agent.Get(agent_pb2.GetRequest(id=function_id), timeout=30).function.id)

        report["errors"] = {
            "invoke_unknown": call(lambda: agent.Invoke(agent_pb2.InvokeRequest(id="no-such-fn"), timeout=30).status),
            "get_bad_id": call(lambda: agent.Get(agent_pb2.GetRequest(id="Bad_ID"), timeout=30).function.id),
            "deploy_no_handler": call(lambda: [e.WhichOneof("event") for e in agent.Deploy(agent_pb2.DeployRequest(id="no-handler"), timeout=30)]),
            "deploy_syntax_error": call(
                lambda: [e.WhichOneof("event") for e in agent.Deploy(agent_pb2.DeployRequest(id="broken-py", handler="def handle(:\n"), timeout=60)]
            ),
            "invoke_raises": call(lambda: agent.Invoke(agent_pb2.InvokeRequest(id=function_id, payload=struct_pb2.Value(string_value="x")), timeout=30).status),
        }
        report["delete"] = call(lambda: agent.Delete(agent_pb2.DeleteRequest(id=function_id), timeout=30).status)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
