"""InvokeStream client for test/stream.test.ts: calls a function as a stream through the generated
stubs in gen/ with Debian's python3-grpcio and prints one JSON line per message as it arrives
(flushed, so the test sees the first chunk while the handler still runs), then {"code": ...} for a
failure.

Usage: PYTHONPATH=gen /usr/bin/python3 test/python/stream_client.py HOST:PORT FUNCTION_ID PAYLOAD_JSON
"""

import json
import sys

import grpc
from google.protobuf import json_format, struct_pb2

from faas.v1 import agent_pb2, agent_pb2_grpc


def main():
    target, function_id, payload = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    value = struct_pb2.Value()
    json_format.ParseDict(payload, value)
    with grpc.insecure_channel(target) as channel:
        stub = agent_pb2_grpc.FaasAgentStub(channel)
        try:
            for message in stub.InvokeStream(agent_pb2.InvokeStreamRequest(id=function_id, payload=value)):
                print(json.dumps(json_format.MessageToDict(message)), flush=True)
        except grpc.RpcError as error:
            print(json.dumps({"code": error.code().name, "details": error.details()}), flush=True)


if __name__ == "__main__":
    main()
