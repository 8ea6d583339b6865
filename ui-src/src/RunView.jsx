// Run, watch and debug workflows: the workflow picker, the run form, the run picker, the graph and the detail panel.
import { useCallback, useEffect, useRef, useState } from "react";
import { api, enc, executors } from "./api.js";
import { Graph, Legend, STATUS, badgeText } from "./Graph.jsx";
import { SchemaForm, readForm, useForm } from "./SchemaForm.jsx";

const FINAL = new Set(["succeeded", "failed", "skipped", "cancelled", "paused"]);
const RUN_ICONS = { running: "▶", succeeded: "✓", failed: "✗", paused: "‖", cancelled: "■", unfinished: "?" };

export function applyItem(state, item) {
  if (!state || item.run_id !== state.run_id || item.workflow !== state.workflow) return state;
  const s = { ...state, nodes: { ...state.nodes } };
  const entryOf = (name) => (s.nodes[name] = { node: name, arguments: {}, ...(s.nodes[name] || {}) });
  switch (item.type) {
    case "run.started":
      s.status = "running";
      s.error = null;
      for (const name of Object.keys(s.nodes)) s.nodes[name] = { ...s.nodes[name], stale: true };
      return s;
    case "run.finished":
      s.status = item.status;
      return s;
    case "run.error":
      s.status = "failed";
      s.error = item.error;
      return s;
    case "run.cancelled":
      s.status = "cancelled";
      for (const [name, status] of Object.entries(item.nodes || {})) entryOf(name).status = status;
      return s;
    case "node.arguments": {
      const entry = entryOf(item.node);
      entry.arguments = { ...(entry.arguments || {}), [item.call_id]: item.arguments };
      return s;
    }
    default: {
      if (!item.node) return s;
      const entry = entryOf(item.node);
      // An event older than the state the page loaded never moves a settled node back (a resume marks nodes stale).
      if (FINAL.has(entry.status) && !entry.stale && !FINAL.has(item.status)) return s;
      entry.stale = false;
      entry.status = item.status;
      if (item.type === "node.retrying") {
        entry.attempt = item.attempt;
        entry.last_error = item.error;
      }
      if (item.run) Object.assign(entry, item.run, { node: item.node });
      if (item.status === "paused") entry.pause = item.pause;
      else delete entry.pause;
      return s;
    }
  }
}

function Json({ value }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

function NodePanel({ wfKey, run, name, graphNode, onClose, reload }) {
  const entry = (run && run.nodes[name]) || null;
  const calls = entry ? Object.entries(entry.arguments || {}) : [];
  const firstArgs = calls.length ? calls[0][1] : {};
  const [argsText, setArgsText] = useState(JSON.stringify(firstArgs, null, 2));
  const [reason, setReason] = useState("");
  const [inputText, setInputText] = useState("{}");
  const asked = entry && Array.isArray(entry.results) ? entry.results.find((r) => r.action && r.action.type === "input") : null;
  const inputSchema = asked ? asked.action.schema_ || asked.action.schema || null : null;
  const [message, setMessage] = useState(null);
  useEffect(() => setArgsText(JSON.stringify(firstArgs, null, 2)), [name, run && run.run_id, calls.length]);
  const act = async (action, body) => {
    setMessage(null);
    try {
      await api(`/api/runs/${enc(wfKey)}/${enc(run.run_id)}/${action}`, body);
      setMessage({ ok: true, text: `${action} sent` });
      reload();
    } catch (e) {
      const details = Array.isArray(e.body.details) ? `: ${e.body.details.join("; ")}` : "";
      setMessage({ ok: false, text: `${e.message}${details}` });
    }
  };
  const debug = (action) => {
    let body = { node: name };
    if (argsText.trim() !== JSON.stringify(firstArgs, null, 2).trim()) {
      try {
        body.arguments = JSON.parse(argsText);
      } catch (e) {
        setMessage({ ok: false, text: "the arguments are not valid JSON" });
        return;
      }
    }
    act(action, body);
  };
  const results = entry && Array.isArray(entry.results) ? entry.results : [];
  const fanned = graphNode && graphNode.map_over;
  return (
    <aside className="panel" aria-label="node details">
      <div className="panel-head">
        <h2>{name}</h2>
        <button className="link" onClick={onClose} aria-label="close details">✕</button>
      </div>
      <div className="muted">{graphNode ? graphNode.tool : "spliced at run time"}{fanned ? ` · for each ${graphNode.map_over}` : ""}</div>
      <p><span className={`badge st-${entry ? entry.status : "none"}`}>{badgeText(entry)}</span></p>
      {!entry ? <p className="muted">Not run in this run.</p> : (
        <dl className="facts">
          {entry.attempts !== undefined ? <><dt>attempts</dt><dd data-fact="attempts">{entry.attempts}</dd></> : null}
          {entry.duration_ms !== undefined ? <><dt>duration</dt><dd data-fact="duration">{Number(entry.duration_ms).toFixed(1)} ms</dd></> : null}
          {entry.started_at ? <><dt>started</dt><dd>{new Date(entry.started_at * 1000).toLocaleTimeString()}</dd></> : null}
          {entry.restored ? <><dt>restored</dt><dd>from a checkpoint</dd></> : null}
          {entry.reason && entry.status !== "paused" ? <><dt>reason</dt><dd data-fact="reason">{entry.reason}</dd></> : null}
        </dl>
      )}
      {entry && entry.status === "retrying" && entry.last_error ? <div className="error">attempt {entry.attempt} failed: {entry.last_error.message}</div> : null}
      {entry && entry.pause && entry.pause.kind === "approval" ? (
        <section className="approval" aria-label="approval">
          <h3>Approval requested</h3>
          <p data-fact="approval-message">{entry.pause.message}</p>
          <input aria-label="rejection reason" placeholder="reason (for a rejection)" value={reason} onChange={(e) => setReason(e.target.value)} />
          <div className="buttons">
            <button className="primary" onClick={() => act("approve", { node: name, granted: true })}>Approve</button>
            <button className="danger" onClick={() => act("approve", { node: name, granted: false, reason: reason || undefined })}>Reject</button>
          </div>
        </section>
      ) : null}
      {entry && entry.pause && entry.pause.kind === "input" ? (
        <section className="approval" aria-label="input request">
          <h3>Input requested</h3>
          <p data-fact="input-message">{entry.pause.message}</p>
          {inputSchema ? <pre className="json small">{JSON.stringify(inputSchema, null, 2)}</pre> : null}
          <textarea id="pause-input" aria-label="input (JSON)" rows={4} value={inputText} onChange={(e) => setInputText(e.target.value)} />
          <div className="buttons">
            <button className="primary" onClick={() => {
              let value;
              try { value = JSON.parse(inputText); } catch (e) { setMessage({ ok: false, text: "the input is not valid JSON" }); return; }
              act("approve", { node: name, granted: true, input: value });
            }}>Send input</button>
            <button className="danger" onClick={() => act("approve", { node: name, granted: false })}>Reject</button>
          </div>
        </section>
      ) : null}
      {entry && entry.pause && entry.pause.kind === "breakpoint" ? (
        <section className="debug" aria-label="breakpoint">
          <h3>Paused before the call</h3>
          <label htmlFor="debug-args">Resolved arguments (edit to change the next call; checked against the tool's schema)</label>
          <textarea id="debug-args" rows={Math.min(14, argsText.split("\n").length + 1)} value={argsText} onChange={(e) => setArgsText(e.target.value)} disabled={calls.length > 1} />
          {calls.length > 1 ? <p className="muted">A fanned-out node: its calls run with their own arguments.</p> : null}
          <div className="buttons">
            <button className="primary" onClick={() => debug("step")}>Step</button>
            <button onClick={() => debug("continue")}>Continue</button>
          </div>
        </section>
      ) : null}
      {message ? <div className={message.ok ? "note" : "error"} role="status">{message.text}</div> : null}
      {calls.length && !(entry.pause && entry.pause.kind === "breakpoint") ? (
        <section><h3>Arguments</h3>{calls.map(([id, args]) => <div key={id}><div className="muted small">{id}</div><Json value={args} /></div>)}</section>
      ) : null}
      {entry && entry.approval ? <section><h3>Decision applied</h3><Json value={entry.approval} /></section> : null}
      {entry && entry.error ? <section className="error-box"><h3>Error</h3><div data-fact="error">{entry.error.category} · {entry.error.code}: {entry.error.message}</div></section> : null}
      {entry && entry.status === "succeeded" ? <section><h3>Result</h3><Json value={entry.output} /></section> : null}
      {results.length > 1 || (fanned && results.length) ? (
        <section aria-label="items"><h3>Items ({results.length})</h3>
          <ol className="items">
            {results.map((r, i) => <li key={i} className={`item-${r.outcome}`}>{r.outcome === "success" ? "✓" : r.outcome === "error" ? "✗" : "‖"} <code>{JSON.stringify(r.outcome === "success" ? r.result : (r.error ? r.error.message : r.content))}</code></li>)}
          </ol>
        </section>
      ) : null}
    </aside>
  );
}

export function RunView({ feed, connected, initial }) {
  const [workflows, setWorkflows] = useState([]);
  const [wfKey, setWfKey] = useState(initial || null);
  const [graph, setGraph] = useState(null);
  const [history, setHistory] = useState([]);
  const [runId, setRunId] = useState(null);
  const [run, setRun] = useState(null);
  const [node, setNode] = useState(null);
  const [executor, setExecutor] = useState(executors[0]);
  const [breakpoints, setBreakpoints] = useState(new Set());
  const [error, setError] = useState(null);
  const form = useForm();
  const pending = useRef(null);
  const selection = useRef({});
  selection.current = { wfKey, runId };

  useEffect(() => {
    api("/api/workflows").then((list) => {
      setWorkflows(list);
      if (!wfKey && list.length) setWfKey(list[0].name);
    });
  }, []);
  const loadHistory = useCallback(() => {
    if (!wfKey) return;
    api(`/api/runs?workflow=${enc(wfKey)}`).then((runs) => {
      setHistory(runs);
      // A page opened while a run is going shows that run, rather than an empty graph.
      const going = runs.find((r) => r.status === "running");
      if (going && !selection.current.runId && selection.current.wfKey === wfKey) setRunId(going.run_id);
    }).catch(() => {});
  }, [wfKey]);
  useEffect(() => {
    if (!wfKey) return;
    setGraph(null); setRun(null); setRunId(null); setNode(null); setBreakpoints(new Set()); form.setRaw({});
    api(`/api/workflows/${enc(wfKey)}`).then(setGraph).catch((e) => setError(e.message));
    loadHistory();
    if (window.location.pathname !== `/workflows/${enc(wfKey)}`) window.history.replaceState(null, "", `/workflows/${enc(wfKey)}`);
  }, [wfKey]);

  const loadRun = useCallback(async (key, id) => {
    if (!key || !id) return;
    pending.current = [];
    try {
      let state = await api(`/api/runs/${enc(key)}/${enc(id)}`);
      for (const item of pending.current || []) state = applyItem(state, item);
      if (selection.current.wfKey === key && selection.current.runId === id) setRun(state);
    } catch (e) {
      setError(e.message);
    } finally {
      pending.current = null;
    }
  }, []);
  useEffect(() => { loadRun(wfKey, runId); }, [wfKey, runId]);

  // Live items: applied to the run on screen; buffered while its state is being fetched; history refreshed.
  useEffect(() => feed.subscribe((item) => {
    if (item.type === "hello") {
      loadRun(selection.current.wfKey, selection.current.runId);
      loadHistory();
      return;
    }
    if (item.workflow !== selection.current.wfKey) return;
    if (pending.current) pending.current.push(item);
    else setRun((state) => applyItem(state, item));
    if (item.type.startsWith("run.")) loadHistory();
  }), [feed, loadRun, loadHistory]);

  // A run of another process is followed by polling the store while it is unfinished.
  useEffect(() => {
    if (!run || run.live || (run.status !== "unfinished" && run.status !== "running")) return undefined;
    const timer = setInterval(() => loadRun(wfKey, runId), 2000);
    return () => clearInterval(timer);
  }, [run && run.live, run && run.status, wfKey, runId]);

  const start = async () => {
    setError(null);
    const { values, problems } = readForm(graph.input_schema, form.raw);
    form.setProblems(problems);
    if (Object.keys(problems).length) return;
    try {
      const { run_id } = await api("/api/runs", { workflow: wfKey, inputs: values, executor, breakpoints: [...breakpoints] });
      setRun({ workflow: wfKey, run_id, status: "running", nodes: {}, live: true, breakpoints: [...breakpoints] });
      setRunId(run_id);
      setNode(null);
      loadHistory();
    } catch (e) {
      setError(e.message);
    }
  };
  const cancel = async () => {
    try { await api(`/api/runs/${enc(wfKey)}/${enc(runId)}/cancel`, {}); } catch (e) { setError(e.message); }
  };
  const toggle = (name) => {
    const next = new Set(breakpoints);
    if (next.has(name)) next.delete(name); else next.add(name);
    setBreakpoints(next);
  };
  const shownBreakpoints = run && run.breakpoints ? new Set(run.breakpoints) : breakpoints;
  return (
    <div className="runview">
      <aside className="sidebar">
        <label htmlFor="workflow-picker">Workflow</label>
        <select id="workflow-picker" value={wfKey || ""} onChange={(e) => setWfKey(e.target.value)}>
          {workflows.map((w) => <option key={w.name} value={w.name}>{w.name} ({w.nodes} {w.nodes === 1 ? "node" : "nodes"})</option>)}
        </select>
        {graph ? (
          <section aria-label="run form">
            <h3>Inputs</h3>
            <SchemaForm schema={graph.input_schema} raw={form.raw} setRaw={form.setRaw} problems={form.problems} idPrefix="input" />
            <label htmlFor="executor">Executor</label>
            <select id="executor" value={executor} onChange={(e) => setExecutor(e.target.value)}>
              {executors.map((x) => <option key={x} value={x}>{x}</option>)}
            </select>
            <details className="bps">
              <summary>Breakpoints ({breakpoints.size})</summary>
              {graph.nodes.map((n) => (
                <label key={n.id} className="check"><input type="checkbox" checked={breakpoints.has(n.id)} onChange={() => toggle(n.id)} aria-label={`breakpoint ${n.id}`} /> pause before {n.id}</label>
              ))}
            </details>
            <div className="buttons">
              <button className="primary" onClick={start}>{breakpoints.size ? "Debug" : "Run"}</button>
              {run && run.live && run.status === "running" ? <button className="danger" onClick={cancel}>Cancel run</button> : null}
            </div>
            {error ? <div className="error" role="alert">{error}</div> : null}
            {graph.exportable ? <a href={`/workflows/${enc(wfKey)}.json`} download={`${wfKey}.json`}>structure as JSON</a> : <p className="muted small" title={graph.export_error}>No JSON form: {graph.export_error}</p>}
          </section>
        ) : null}
        <section aria-label="runs">
          <h3>Runs</h3>
          {!history.length ? <p className="muted">No runs yet.</p> : null}
          <ul className="runs">
            {history.map((h) => (
              <li key={h.run_id}>
                <button className={`run-item${h.run_id === runId ? " chosen" : ""}`} data-run={h.run_id} onClick={() => { setRunId(h.run_id); setNode(null); }}>
                  <span className={`badge st-${h.status}`}>{RUN_ICONS[h.status] || "·"} {h.status}</span>
                  <span className="run-id">{h.run_id.slice(0, 8)}</span>
                  <span className="muted small">{h.started_at ? new Date(h.started_at * 1000).toLocaleTimeString() : ""}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      </aside>
      <main className="canvas-wrap">
        <div className="runbar" role="status" id="run-status">
          {run ? <>run <code>{run.run_id.slice(0, 8)}</code>: <strong data-run-status={run.status}>{run.status}</strong>{run.error ? <span className="error-inline"> — {run.error}</span> : null}{!run.live ? <span className="muted"> (from the checkpoint store)</span> : null}</> : "No run selected: start one, or pick one from the list."}
        </div>
        <Legend />
        <div className="canvas">
          {graph ? <Graph graph={graph} runNodes={run ? run.nodes : null} breakpoints={shownBreakpoints} selected={node} onSelect={setNode} /> : null}
        </div>
      </main>
      {node && graph ? <NodePanel key={node} wfKey={wfKey} run={run} name={node} graphNode={graph.nodes.find((n) => n.id === node)} onClose={() => setNode(null)} reload={() => loadRun(wfKey, runId)} /> : null}
    </div>
  );
}
