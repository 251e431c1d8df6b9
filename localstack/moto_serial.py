"""moto_server that handles one request at a time (`CCAAS_MOTO_SERIAL=1 localstack/up`).

Threaded moto checks a DynamoDB condition and writes the item without a lock, so two racing
conditional writes can both land; DynamoDB never lets them. Served one request at a time, each
conditional write is atomic, as on AWS, and the store contract's concurrent-writers property
(shared/dynamo/tests/contract.rs) tests our adapter rather than moto's threading. Same arguments
as moto_server.
"""

import moto.server as server

_run_simple = server.run_simple


def _serial(*args, **kwargs):
    kwargs["threaded"] = False
    return _run_simple(*args, **kwargs)


server.run_simple = _serial

if __name__ == "__main__":
    server.main()
