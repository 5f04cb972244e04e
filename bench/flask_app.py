"""Baseline for bench/run.ts: the same handler module served the conventional way, Flask on waitress.

Usage: /usr/bin/python3 bench/flask_app.py HANDLER_PATH PORT
POST any path with a JSON body; answers jsonify(handle(body)). Waitress runs with its defaults
(4 threads) except for its queue-depth warnings, which are silenced.
"""

import importlib.util
import logging
import sys

from flask import Flask, jsonify, request
from waitress import serve

handler_path, port = sys.argv[1], int(sys.argv[2])
spec = importlib.util.spec_from_file_location("handler", handler_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
handle = module.handle

app = Flask(__name__)


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def invoke(path):
    return jsonify(handle(request.get_json(force=True)))


# "Task queue depth is N" is logged at WARNING on every queued request under load.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)
serve(app, host="127.0.0.1", port=port, _quiet=True)
