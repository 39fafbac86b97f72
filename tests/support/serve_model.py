"""Serves a GGUF model over llama.cpp's own HTTP server (OpenAI- and Anthropic-compatible
endpoints), for kairos's end-to-end model test. Usage: serve_model.py MODEL.gguf PORT.
Runs until killed. Needs the `xllamacpp` wheel (pip install xllamacpp)."""

import sys
import time

import xllamacpp

model, port = sys.argv[1], int(sys.argv[2])
params = xllamacpp.CommonParams()
params.model.path = model
params.model_alias = {"smollm2-135m"}
params.use_jinja = True
params.hostnames = ["127.0.0.1"]
params.port = port
params.n_ctx = 4096
params.cpuparams.n_threads = 2
params.cpuparams_batch.n_threads = 2
params.sampling.temp = 0
server = xllamacpp.Server(params)
print("serving", flush=True)
while True:
    time.sleep(3600)
