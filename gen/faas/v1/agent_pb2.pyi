from buf.validate import validate_pb2 as _validate_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DEPLOY_PHASE_BUILDING: DeployPhase
DEPLOY_PHASE_DEPLOYING: DeployPhase
DEPLOY_PHASE_PACKAGING: DeployPhase
DEPLOY_PHASE_READY: DeployPhase
DEPLOY_PHASE_UNSPECIFIED: DeployPhase
DEPLOY_PHASE_VALIDATING: DeployPhase
DESCRIPTOR: _descriptor.FileDescriptor
STREAMING_MODE_BUFFERED: StreamingMode
STREAMING_MODE_INCREMENTAL: StreamingMode
STREAMING_MODE_UNSPECIFIED: StreamingMode

class BuildLog(_message.Message):
    __slots__ = ["line", "phase", "source"]
    LINE_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    line: str
    phase: DeployPhase
    source: str
    def __init__(self, phase: _Optional[_Union[DeployPhase, str]] = ..., source: _Optional[str] = ..., line: _Optional[str] = ...) -> None: ...

class CancelInvocationRequest(_message.Message):
    __slots__ = ["invocation_id"]
    INVOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    invocation_id: str
    def __init__(self, invocation_id: _Optional[str] = ...) -> None: ...

class CancelInvocationResponse(_message.Message):
    __slots__ = ["invocation"]
    INVOCATION_FIELD_NUMBER: _ClassVar[int]
    invocation: Invocation
    def __init__(self, invocation: _Optional[_Union[Invocation, _Mapping]] = ...) -> None: ...

class CapabilitiesRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class CapabilitiesResponse(_message.Message):
    __slots__ = ["dry_run", "logs_follow", "options", "platform", "streaming", "traffic"]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    LOGS_FOLLOW_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    STREAMING_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    logs_follow: bool
    options: _containers.RepeatedScalarFieldContainer[str]
    platform: str
    streaming: StreamingMode
    traffic: bool
    def __init__(self, platform: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., dry_run: bool = ..., traffic: bool = ..., logs_follow: bool = ..., streaming: _Optional[_Union[StreamingMode, str]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ["function_id", "platform", "status"]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    platform: str
    status: str
    def __init__(self, status: _Optional[str] = ..., platform: _Optional[str] = ..., function_id: _Optional[str] = ...) -> None: ...

class DeployOptions(_message.Message):
    __slots__ = ["container_concurrency", "max_scale", "min_scale", "resources", "scale_to_zero_retention", "target", "timeout_seconds", "traffic", "workers"]
    CONTAINER_CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    MAX_SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_SCALE_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    SCALE_TO_ZERO_RETENTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    container_concurrency: int
    max_scale: int
    min_scale: int
    resources: Resources
    scale_to_zero_retention: str
    target: float
    timeout_seconds: int
    traffic: _containers.RepeatedCompositeFieldContainer[TrafficTarget]
    workers: int
    def __init__(self, min_scale: _Optional[int] = ..., max_scale: _Optional[int] = ..., target: _Optional[float] = ..., scale_to_zero_retention: _Optional[str] = ..., container_concurrency: _Optional[int] = ..., timeout_seconds: _Optional[int] = ..., resources: _Optional[_Union[Resources, _Mapping]] = ..., workers: _Optional[int] = ..., traffic: _Optional[_Iterable[_Union[TrafficTarget, _Mapping]]] = ...) -> None: ...

class DeployRequest(_message.Message):
    __slots__ = ["dry_run", "env", "handler", "id", "keep_env", "options", "params", "requirements"]
    class EnvEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ParamsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    HANDLER_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_ENV_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    dry_run: bool
    env: _containers.ScalarMap[str, str]
    handler: str
    id: str
    keep_env: _containers.RepeatedScalarFieldContainer[str]
    options: DeployOptions
    params: _containers.ScalarMap[str, str]
    requirements: str
    def __init__(self, id: _Optional[str] = ..., handler: _Optional[str] = ..., requirements: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., env: _Optional[_Mapping[str, str]] = ..., options: _Optional[_Union[DeployOptions, _Mapping]] = ..., dry_run: bool = ..., keep_env: _Optional[_Iterable[str]] = ...) -> None: ...

class DeployResponse(_message.Message):
    __slots__ = ["dry_run", "function", "log", "phase", "time"]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    LOG_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    dry_run: DryRun
    function: Function
    log: BuildLog
    phase: DeployPhase
    time: _timestamp_pb2.Timestamp
    def __init__(self, time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., phase: _Optional[_Union[DeployPhase, str]] = ..., log: _Optional[_Union[BuildLog, _Mapping]] = ..., function: _Optional[_Union[Function, _Mapping]] = ..., dry_run: _Optional[_Union[DryRun, _Mapping]] = ...) -> None: ...

class DryRun(_message.Message):
    __slots__ = ["differences", "kind", "object"]
    DIFFERENCES_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    differences: _containers.RepeatedScalarFieldContainer[str]
    kind: str
    object: _struct_pb2.Struct
    def __init__(self, kind: _Optional[str] = ..., object: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., differences: _Optional[_Iterable[str]] = ...) -> None: ...

class Function(_message.Message):
    __slots__ = ["created_at", "endpoint", "id", "image", "message", "platform", "python_version", "ready", "revision", "revisions", "state", "stats", "status", "traffic", "updated_at"]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    PYTHON_VERSION_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    REVISIONS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    created_at: _timestamp_pb2.Timestamp
    endpoint: str
    id: str
    image: str
    message: str
    platform: str
    python_version: str
    ready: bool
    revision: str
    revisions: _containers.RepeatedCompositeFieldContainer[Revision]
    state: str
    stats: FunctionStats
    status: str
    traffic: _containers.RepeatedCompositeFieldContainer[TrafficTarget]
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., image: _Optional[str] = ..., status: _Optional[str] = ..., ready: bool = ..., state: _Optional[str] = ..., platform: _Optional[str] = ..., endpoint: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., revision: _Optional[str] = ..., python_version: _Optional[str] = ..., message: _Optional[str] = ..., revisions: _Optional[_Iterable[_Union[Revision, _Mapping]]] = ..., traffic: _Optional[_Iterable[_Union[TrafficTarget, _Mapping]]] = ..., stats: _Optional[_Union[FunctionStats, _Mapping]] = ...) -> None: ...

class FunctionSource(_message.Message):
    __slots__ = ["env_names", "handler", "params", "requirements"]
    class ParamsEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ENV_NAMES_FIELD_NUMBER: _ClassVar[int]
    HANDLER_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    REQUIREMENTS_FIELD_NUMBER: _ClassVar[int]
    env_names: _containers.RepeatedScalarFieldContainer[str]
    handler: str
    params: _containers.ScalarMap[str, str]
    requirements: str
    def __init__(self, handler: _Optional[str] = ..., requirements: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., env_names: _Optional[_Iterable[str]] = ...) -> None: ...

class FunctionStats(_message.Message):
    __slots__ = ["cold_starts", "errors", "inflight", "intervals", "invocations", "last_invoked_at", "latency_p50_seconds", "latency_p99_seconds", "recent_errors", "recent_invocations", "window_seconds"]
    COLD_STARTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    INFLIGHT_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    LAST_INVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RECENT_ERRORS_FIELD_NUMBER: _ClassVar[int]
    RECENT_INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    cold_starts: int
    errors: int
    inflight: int
    intervals: _containers.RepeatedCompositeFieldContainer[StatsInterval]
    invocations: int
    last_invoked_at: _timestamp_pb2.Timestamp
    latency_p50_seconds: float
    latency_p99_seconds: float
    recent_errors: int
    recent_invocations: int
    window_seconds: int
    def __init__(self, invocations: _Optional[int] = ..., errors: _Optional[int] = ..., cold_starts: _Optional[int] = ..., inflight: _Optional[int] = ..., last_invoked_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., window_seconds: _Optional[int] = ..., recent_invocations: _Optional[int] = ..., recent_errors: _Optional[int] = ..., latency_p50_seconds: _Optional[float] = ..., latency_p99_seconds: _Optional[float] = ..., intervals: _Optional[_Iterable[_Union[StatsInterval, _Mapping]]] = ...) -> None: ...

class GetInvocationRequest(_message.Message):
    __slots__ = ["invocation_id"]
    INVOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    invocation_id: str
    def __init__(self, invocation_id: _Optional[str] = ...) -> None: ...

class GetInvocationResponse(_message.Message):
    __slots__ = ["invocation"]
    INVOCATION_FIELD_NUMBER: _ClassVar[int]
    invocation: Invocation
    def __init__(self, invocation: _Optional[_Union[Invocation, _Mapping]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ["function", "source"]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    function: Function
    source: FunctionSource
    def __init__(self, function: _Optional[_Union[Function, _Mapping]] = ..., source: _Optional[_Union[FunctionSource, _Mapping]] = ...) -> None: ...

class HealthCheck(_message.Message):
    __slots__ = ["message", "name", "ok"]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    message: str
    name: str
    ok: bool
    def __init__(self, name: _Optional[str] = ..., ok: bool = ..., message: _Optional[str] = ...) -> None: ...

class HealthRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class HealthResponse(_message.Message):
    __slots__ = ["checks", "isolation", "platform", "status", "version", "workflow"]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    checks: _containers.RepeatedCompositeFieldContainer[HealthCheck]
    isolation: str
    platform: str
    status: str
    version: str
    workflow: str
    def __init__(self, status: _Optional[str] = ..., platform: _Optional[str] = ..., workflow: _Optional[str] = ..., version: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[HealthCheck, _Mapping]]] = ..., isolation: _Optional[str] = ...) -> None: ...

class Invocation(_message.Message):
    __slots__ = ["attempts", "callback_status", "callback_url", "cold_start", "created_at", "error", "execution_time", "finished_at", "function_id", "idempotency_key", "invocation_id", "max_attempts", "next_attempt_at", "result", "started_at", "status"]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_STATUS_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    attempts: int
    callback_status: str
    callback_url: str
    cold_start: bool
    created_at: _timestamp_pb2.Timestamp
    error: InvocationError
    execution_time: float
    finished_at: _timestamp_pb2.Timestamp
    function_id: str
    idempotency_key: str
    invocation_id: str
    max_attempts: int
    next_attempt_at: _timestamp_pb2.Timestamp
    result: _struct_pb2.Value
    started_at: _timestamp_pb2.Timestamp
    status: str
    def __init__(self, invocation_id: _Optional[str] = ..., function_id: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., max_attempts: _Optional[int] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., execution_time: _Optional[float] = ..., cold_start: bool = ..., result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[_Union[InvocationError, _Mapping]] = ..., callback_url: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., callback_status: _Optional[str] = ..., next_attempt_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InvocationError(_message.Message):
    __slots__ = ["code", "http_status", "message", "metadata", "reason"]
    class MetadataEntry(_message.Message):
        __slots__ = ["key", "value"]
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CODE_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    code: str
    http_status: int
    message: str
    metadata: _containers.ScalarMap[str, str]
    reason: str
    def __init__(self, code: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., http_status: _Optional[int] = ...) -> None: ...

class InvokeAsyncRequest(_message.Message):
    __slots__ = ["callback_url", "id", "idempotency_key", "max_attempts", "payload"]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    callback_url: str
    id: str
    idempotency_key: str
    max_attempts: int
    payload: _struct_pb2.Value
    def __init__(self, id: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., callback_url: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., max_attempts: _Optional[int] = ...) -> None: ...

class InvokeAsyncResponse(_message.Message):
    __slots__ = ["duplicate", "invocation_id", "status"]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    duplicate: bool
    invocation_id: str
    status: str
    def __init__(self, invocation_id: _Optional[str] = ..., status: _Optional[str] = ..., duplicate: bool = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ["id", "payload"]
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    id: str
    payload: _struct_pb2.Value
    def __init__(self, id: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ["cold_start", "execution_time", "platform", "result", "status"]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    cold_start: bool
    execution_time: float
    platform: str
    result: _struct_pb2.Value
    status: str
    def __init__(self, result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., status: _Optional[str] = ..., execution_time: _Optional[float] = ..., platform: _Optional[str] = ..., cold_start: bool = ...) -> None: ...

class InvokeStreamEnd(_message.Message):
    __slots__ = ["chunks", "cold_start", "execution_time", "platform", "status"]
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    COLD_START_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    cold_start: bool
    execution_time: float
    platform: str
    status: str
    def __init__(self, status: _Optional[str] = ..., execution_time: _Optional[float] = ..., platform: _Optional[str] = ..., cold_start: bool = ..., chunks: _Optional[int] = ...) -> None: ...

class InvokeStreamRequest(_message.Message):
    __slots__ = ["id", "payload"]
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    id: str
    payload: _struct_pb2.Value
    def __init__(self, id: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ...) -> None: ...

class InvokeStreamResponse(_message.Message):
    __slots__ = ["chunk", "end"]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    chunk: _struct_pb2.Value
    end: InvokeStreamEnd
    def __init__(self, chunk: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., end: _Optional[_Union[InvokeStreamEnd, _Mapping]] = ...) -> None: ...

class ListInvocationsRequest(_message.Message):
    __slots__ = ["function_id", "page_size", "page_token", "status"]
    FUNCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    function_id: str
    page_size: int
    page_token: str
    status: str
    def __init__(self, function_id: _Optional[str] = ..., status: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListInvocationsResponse(_message.Message):
    __slots__ = ["invocations", "next_page_token"]
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    invocations: _containers.RepeatedCompositeFieldContainer[Invocation]
    next_page_token: str
    def __init__(self, invocations: _Optional[_Iterable[_Union[Invocation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ["functions"]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    functions: _containers.RepeatedCompositeFieldContainer[Function]
    def __init__(self, functions: _Optional[_Iterable[_Union[Function, _Mapping]]] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ["follow", "id", "tail"]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    follow: bool
    id: str
    tail: int
    def __init__(self, id: _Optional[str] = ..., follow: bool = ..., tail: _Optional[int] = ...) -> None: ...

class LogsResponse(_message.Message):
    __slots__ = ["line", "stream", "time"]
    LINE_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    line: str
    stream: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., stream: _Optional[str] = ..., line: _Optional[str] = ...) -> None: ...

class Resources(_message.Message):
    __slots__ = ["cpu_limit", "cpu_request", "gpu", "memory_limit", "memory_request"]
    CPU_LIMIT_FIELD_NUMBER: _ClassVar[int]
    CPU_REQUEST_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    MEMORY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_REQUEST_FIELD_NUMBER: _ClassVar[int]
    cpu_limit: str
    cpu_request: str
    gpu: int
    memory_limit: str
    memory_request: str
    def __init__(self, cpu_request: _Optional[str] = ..., cpu_limit: _Optional[str] = ..., memory_request: _Optional[str] = ..., memory_limit: _Optional[str] = ..., gpu: _Optional[int] = ...) -> None: ...

class Revision(_message.Message):
    __slots__ = ["content_hash", "created_at", "image", "name", "ready"]
    CONTENT_HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    content_hash: str
    created_at: _timestamp_pb2.Timestamp
    image: str
    name: str
    ready: bool
    def __init__(self, name: _Optional[str] = ..., content_hash: _Optional[str] = ..., image: _Optional[str] = ..., ready: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SetTrafficRequest(_message.Message):
    __slots__ = ["id", "traffic"]
    ID_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    id: str
    traffic: _containers.RepeatedCompositeFieldContainer[TrafficTarget]
    def __init__(self, id: _Optional[str] = ..., traffic: _Optional[_Iterable[_Union[TrafficTarget, _Mapping]]] = ...) -> None: ...

class SetTrafficResponse(_message.Message):
    __slots__ = ["function"]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    function: Function
    def __init__(self, function: _Optional[_Union[Function, _Mapping]] = ...) -> None: ...

class StatsInterval(_message.Message):
    __slots__ = ["errors", "invocations", "latency_p50_seconds", "latency_p99_seconds", "seconds", "start_time"]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    errors: int
    invocations: int
    latency_p50_seconds: float
    latency_p99_seconds: float
    seconds: int
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., seconds: _Optional[int] = ..., invocations: _Optional[int] = ..., errors: _Optional[int] = ..., latency_p50_seconds: _Optional[float] = ..., latency_p99_seconds: _Optional[float] = ...) -> None: ...

class TrafficTarget(_message.Message):
    __slots__ = ["latest", "percent", "revision", "tag", "url"]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    latest: bool
    percent: int
    revision: str
    tag: str
    url: str
    def __init__(self, revision: _Optional[str] = ..., latest: bool = ..., percent: _Optional[int] = ..., tag: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class WatchInvocationRequest(_message.Message):
    __slots__ = ["invocation_id"]
    INVOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    invocation_id: str
    def __init__(self, invocation_id: _Optional[str] = ...) -> None: ...

class WatchInvocationResponse(_message.Message):
    __slots__ = ["invocation"]
    INVOCATION_FIELD_NUMBER: _ClassVar[int]
    invocation: Invocation
    def __init__(self, invocation: _Optional[_Union[Invocation, _Mapping]] = ...) -> None: ...

class DeployPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class StreamingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
