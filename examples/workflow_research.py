"""A support-research workflow: classify a question, research each topic in spliced nodes, answer, escalate.

Shows: inputs merged from upstream outputs and mapped explicitly; a conditional branch (escalate only urgent
questions); a fan-out over the topics; a node that plans the research at run time (an `Expansion`); per-node
retry; live node events; checkpoints; the Mermaid diagram. With ``--ray`` the same workflow also runs on Ray (a
task per node, data passed between workers as object refs) and the two runs are compared.

    .venv/bin/python examples/workflow_research.py
    .venv/bin/python examples/workflow_research.py --ray
"""

from __future__ import annotations

import asyncio
import sys

from armorer_ray import Toolbox, tool
from armorer_ray.stores import MemoryStore
from armorer_ray.workflow import Condition, Edge, Expansion, Node, RunResult, Workflow, create_workflow

DOCS = {
    "refund": ["Refunds take 5 business days.", "Refunds go back to the original card."],
    "shipping": ["Standard shipping takes 3 days."],
    "account": ["Passwords reset from the login page."],
}


@tool(read_only=True)
def classify(question: str) -> dict[str, object]:
    """Find the topics a support question touches and whether it is urgent."""
    lowered = question.lower()
    return {"topics": [topic for topic in DOCS if topic in lowered], "urgent": "urgent" in lowered}


@tool(read_only=True)
def search_docs(topic: str) -> list[str]:
    """Look a topic up in the help center."""
    return DOCS.get(topic, [])


@tool(read_only=True)
def plan_research(topics: list[str]) -> Expansion:
    """Decide the research at run time: one search per topic, then a node that merges the notes."""
    nodes: dict[str, Node] = {f"search_{t}": Node("search_docs", arguments={"topic": t}) for t in topics}
    nodes["merge"] = Node("merge_notes")
    return Expansion(nodes=nodes, edges=[(name, "merge") for name in nodes if name != "merge"], output="merge")


@tool(read_only=True, extra_arguments="allow")
def merge_notes(**parts: list[str]) -> list[str]:
    """Merge the notes of every search, in topic order."""
    return [note for name in sorted(parts) if isinstance(parts[name], list) for note in parts[name]]


@tool(read_only=True)
def count_words(note: str) -> int:
    """Count the words of a note."""
    return len(note.split())


@tool
def draft_answer(question: str, notes: list[str], sizes: list[int]) -> str:
    """Draft the answer from the research notes."""
    return f"Q: {question}\nA: " + " ".join(notes) + f" ({sum(sizes)} words of sources)"


@tool(mutates=True)
def escalate(question: str) -> str:
    """Page the on-call agent."""
    return f"paged on-call for: {question!r}"


def build() -> Workflow:
    box = Toolbox([classify, search_docs, plan_research, merge_notes, count_words, draft_answer, escalate],
                  name="support")
    return create_workflow(
        nodes={
            "classify": classify,
            "research": Node(plan_research, inputs={"topics": "classify.topics"}, retry=2),
            "sizes": Node(count_words, inputs={"note": "research"}, map_over="note"),
            "answer": Node(draft_answer, inputs={"question": "$inputs.question", "notes": "research",
                                                 "sizes": "sizes"}),
            "escalate": Node(escalate, inputs={"question": "$inputs.question"}),
        },
        edges=[("classify", "research"), ("research", "sizes"), (["research", "sizes"], "answer"),
               Edge("classify", "escalate", when=Condition(path="urgent"))],
        toolbox=box, inputs=["question"], name="support-research")


def show(run: RunResult) -> None:
    for name, node in run.nodes.items():
        print(f"  {name:<26} {node.status:<10} {node.reason or ''}")
    for name, output in run.outputs.items():
        print(f"output {name}: {output}")


async def main(use_ray: bool) -> int:
    wf = build()
    print(wf.to_mermaid())
    wf.events.on("node.succeeded", lambda event: print(f"  done: {event.detail['node']}"))
    question = {"question": "URGENT: my refund and shipping are late"}
    store = MemoryStore()
    print("\nlocal run:")
    local = await wf.run(question, checkpoint=store, run_id="ticket-1")
    show(local)
    resumed = await wf.run(question, checkpoint=store, run_id="ticket-1")
    print(f"\nresumed from checkpoints: {sum(n.restored for n in resumed.nodes.values())} nodes restored, "
          f"same outputs: {resumed.outputs == local.outputs}")
    if use_ray:
        print("\nray run:")
        on_ray = await wf.run(question, executor="ray")
        show(on_ray)
        same = {n: (r.status, r.output) for n, r in on_ray.nodes.items()} == \
            {n: (r.status, r.output) for n, r in local.nodes.items()}
        print(f"\nsame results on both executors: {same}")
        return 0 if same else 1
    return 0 if local.ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main("--ray" in sys.argv)))
