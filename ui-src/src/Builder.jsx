// The drag-and-drop builder: tools from the catalogue become nodes; connecting them is checked against their
// schemas; the server validates with create_workflow's own errors; the JSON saved is Workflow.from_json's format.
import { useCallback, useEffect, useMemo, useState } from "react";
import { ReactFlow, ReactFlowProvider, Background, Controls, Handle, Position, MarkerType, addEdge, useNodesState, useEdgesState, useReactFlow } from "@xyflow/react";
import { api } from "./api.js";
import { Flags } from "./Playground.jsx";
import { layout } from "./layout.js";

const FORMAT = "armorer-workflow/1";
const BOX_W = 210;
const BOX_H = 80;

// The first spot of a 3-wide grid that no box covers, for nodes added with the "add" button.
function freeSlot(nodes) {
  for (let i = 0; ; i += 1) {
    const at = { x: 40 + (i % 3) * (BOX_W + 60), y: 40 + Math.floor(i / 3) * (BOX_H + 70) };
    const taken = nodes.some((n) => Math.abs(n.position.x - at.x) < BOX_W + 20 && Math.abs(n.position.y - at.y) < BOX_H + 20);
    if (!taken) return at;
  }
}
const OPS = ["truthy", "falsy", "exists", "eq", "ne", "gt", "ge", "lt", "le", "in", "not_in"];

const typeOf = (spec) => (spec ? (Array.isArray(spec.type) ? spec.type.filter((t) => t !== "null").join("|") : spec.type || (spec.anyOf ? spec.anyOf.map((s) => s.type).filter((t) => t && t !== "null").join("|") : null)) : null);
const params = (data) => Object.keys((data.schema && data.schema.properties) || {});
const outputs = (data) => (data.output_schema && data.output_schema.properties ? Object.keys(data.output_schema.properties) : null);

// What a connection feeds: the target parameters that get data from the source, and any problem with it.
export function checkLink(source, target) {
  const wanted = params(target);
  const mapped = Object.entries(target.inputs || {}).filter(([, from]) => from === source.name || from.startsWith(`${source.name}.`));
  if (Object.keys(target.inputs || {}).length) {
    return mapped.length ? { ok: true, text: `maps ${mapped.map(([p]) => p).join(", ")}` } : { ok: false, text: `${target.name}'s inputs take nothing from ${source.name}` };
  }
  const produced = outputs(source);
  if (produced) {
    const shared = produced.filter((key) => wanted.includes(key));
    const clash = shared.filter((key) => {
      const a = typeOf(source.output_schema.properties[key]);
      const b = typeOf(target.schema.properties[key]);
      return a && b && a !== b && !(a === "integer" && b === "number");
    });
    if (clash.length) return { ok: false, text: `type mismatch on ${clash.join(", ")}` };
    if (shared.length) return { ok: true, text: `feeds ${shared.join(", ")}` };
  }
  if (wanted.includes(source.name)) return { ok: true, text: `feeds ${source.name}` };
  if (!produced && typeOf(source.output_schema) === "object") return { ok: true, text: "merges its output" };
  return { ok: false, text: `no parameter of ${target.name} receives ${source.name}'s output: map one` };
}

function BuilderNode({ data, selected }) {
  const extras = [data.map_over ? `for each ${data.map_over}` : null, data.retry > 1 ? `retry ×${data.retry}` : null, data.timeout_s ? `timeout ${data.timeout_s}s` : null, data.trigger === "any" ? "trigger any" : null].filter(Boolean);
  return (
    <div className={`step bnode${selected ? " chosen" : ""}`} data-node={data.name}>
      <Handle type="target" position={Position.Top} />
      <div className="step-name">{data.name}</div>
      <div className="step-tool">{data.tool} <Flags tool={data} /></div>
      <div className="step-badge">{extras.join(" · ") || "\u00a0"}</div>
      <Handle type="source" position={Position.Bottom} />
    </div>
  );
}
const nodeTypes = { bnode: BuilderNode };

function reaches(edges, from, to) {
  const seen = new Set();
  const stack = [from];
  while (stack.length) {
    const at = stack.pop();
    if (at === to) return true;
    if (seen.has(at)) continue;
    seen.add(at);
    edges.filter((e) => e.source === at).forEach((e) => stack.push(e.target));
  }
  return false;
}

function describeWhen(when) {
  if (!when) return null;
  const subject = when.path || "output";
  return ["truthy", "falsy", "exists"].includes(when.op) ? `${subject} ${when.op}` : `${subject} ${when.op} ${JSON.stringify(when.value)}`;
}

function Canvas({ tools, onAdded }) {
  const [nodes, setNodes, onNodesChange] = useNodesState([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState([]);
  const [name, setName] = useState("my_workflow");
  const [query, setQuery] = useState("");
  const [picked, setPicked] = useState(null);
  const [notice, setNotice] = useState(null);
  const [saved, setSaved] = useState("");
  const flow = useReactFlow();

  const byName = useMemo(() => Object.fromEntries(nodes.map((n) => [n.id, n.data])), [nodes]);
  // Edge labels: the condition, or what the link feeds, recomputed as nodes and mappings change.
  const shownEdges = edges.map((e) => {
    const check = byName[e.source] && byName[e.target] ? checkLink(byName[e.source], byName[e.target]) : { ok: true, text: "" };
    const when = describeWhen(e.data && e.data.when);
    return { ...e, label: when ? `when ${when}` : check.text, className: `${when ? "conditional" : ""}${check.ok ? "" : " bad"}`, data: { ...e.data, check },
      markerEnd: { type: MarkerType.ArrowClosed }, labelBgPadding: [4, 2] };
  });

  const addTool = useCallback((tool, position) => {
    setNodes((current) => {
      let base = tool.name.replace(/[^A-Za-z0-9_.-]/g, "_");
      let unique = base;
      for (let i = 2; current.some((n) => n.id === unique); i += 1) unique = `${base}_${i}`;
      const at = position || freeSlot(current);
      return [...current, { id: unique, type: "bnode", position: at, style: { width: BOX_W }, data: { ...tool, tool: tool.id, name: unique, inputs: {}, retry: 1, timeout_s: null, trigger: "all", map_over: null } }];
    });
  }, [setNodes]);

  const onDrop = (event) => {
    event.preventDefault();
    const id = event.dataTransfer.getData("application/armorer-tool");
    const tool = tools.find((t) => t.id === id);
    if (tool) addTool(tool, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
  };
  const isValidConnection = (c) => c.source !== c.target && !edges.some((e) => e.source === c.source && e.target === c.target) && !reaches(edges, c.target, c.source);
  const onConnect = (c) => {
    const check = checkLink(byName[c.source], byName[c.target]);
    setNotice(check.ok ? { ok: true, text: `${c.source} → ${c.target}: ${check.text}` } : { ok: false, text: `${c.source} → ${c.target}: ${check.text}` });
    setEdges((current) => addEdge({ ...c, id: `${c.source}->${c.target}`, data: { when: null } }, current));
  };
  const updateNode = (id, patch) => setNodes((current) => current.map((n) => (n.id === id ? { ...n, data: { ...n.data, ...patch } } : n)));
  const rename = (id, next) => {
    if (!next || next === id || nodes.some((n) => n.id === next) || /[/\s]/.test(next)) return setNotice({ ok: false, text: `cannot rename ${id} to ${JSON.stringify(next)}` });
    const swap = (s) => (s === id ? next : s.startsWith(`${id}.`) ? next + s.slice(id.length) : s);
    setNodes((current) => current.map((n) => ({ ...n, ...(n.id === id ? { id: next } : {}), data: { ...n.data, ...(n.id === id ? { name: next } : {}), inputs: Object.fromEntries(Object.entries(n.data.inputs || {}).map(([p, s]) => [p, swap(s)])) } })));
    setEdges((current) => current.map((e) => ({ ...e, id: `${swap(e.source)}->${swap(e.target)}`, source: swap(e.source), target: swap(e.target) })));
    setPicked({ kind: "node", id: next });
  };

  const toJson = () => ({
    format: FORMAT, name, inputs: null, entry: null,
    nodes: Object.fromEntries(nodes.map((n) => {
      const d = n.data;
      const entry = { tool: d.tool };
      if (Object.keys(d.inputs || {}).length) entry.inputs = d.inputs;
      if (d.map_over) entry.map_over = d.map_over;
      if (d.trigger === "any") entry.trigger = "any";
      if (d.retry > 1) entry.retry = { attempts: d.retry };
      if (d.timeout_s) entry.timeout_s = d.timeout_s;
      return [n.id, entry];
    })),
    edges: edges.map((e) => (e.data && e.data.when ? { from: e.source, to: e.target, when: e.data.when } : { from: e.source, to: e.target })),
  });
  const fromJson = (data) => {
    if (!data || data.format !== FORMAT) throw new Error(`not a workflow JSON (format ${FORMAT})`);
    const loaded = Object.entries(data.nodes || {}).map(([id, entry]) => {
      const tool = tools.find((t) => t.id === entry.tool || t.name === entry.tool);
      if (!tool) throw new Error(`node ${id}: no tool ${entry.tool} in the catalogue`);
      const retry = typeof entry.retry === "number" ? entry.retry : entry.retry ? entry.retry.attempts : 1;
      return { id, data: { ...tool, tool: tool.id, name: id, inputs: entry.inputs || {}, map_over: entry.map_over || null, trigger: entry.trigger || "all", retry, timeout_s: entry.timeout_s || null } };
    });
    const links = [];
    for (const item of data.edges || []) {
      for (const s of [].concat(item.from)) for (const t of [].concat(item.to)) links.push({ id: `${s}->${t}`, source: s, target: t, data: { when: item.when || null } });
    }
    const sized = loaded.map((n) => ({ id: n.id, width: BOX_W }));
    const { placed } = layout(sized, links.map((l) => ({ ...l, label: null })));
    setNodes(loaded.map((n) => ({ ...n, type: "bnode", style: { width: BOX_W }, position: { x: placed[n.id].x, y: placed[n.id].y } })));
    setEdges(links);
    setName(data.name || "workflow");
    setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1 }), 0);
  };
  const validate = async () => {
    try {
      await api("/api/builder/validate", toJson());
      setNotice({ ok: true, text: "valid: create_workflow accepts it" });
      return true;
    } catch (e) {
      setNotice({ ok: false, text: `${e.body.details && e.body.details.type ? e.body.details.type + ": " : ""}${e.message}` });
      return false;
    }
  };
  const save = () => setSaved(JSON.stringify(toJson(), null, 2));
  const load = () => {
    try { fromJson(JSON.parse(saved)); setNotice({ ok: true, text: "loaded" }); } catch (e) { setNotice({ ok: false, text: `cannot load: ${e.message}` }); }
  };
  const addToWorkflows = async () => {
    try {
      const { name: added } = await api("/api/workflows", toJson());
      onAdded(added);
    } catch (e) {
      setNotice({ ok: false, text: e.message });
    }
  };
  const downloadUrl = useMemo(() => (saved ? URL.createObjectURL(new Blob([saved], { type: "application/json" })) : null), [saved]);

  const node = picked && picked.kind === "node" ? nodes.find((n) => n.id === picked.id) : null;
  const edge = picked && picked.kind === "edge" ? edges.find((e) => e.id === picked.id) : null;
  const upstream = node ? edges.filter((e) => e.target === node.id).map((e) => byName[e.source]).filter(Boolean) : [];
  const shownTools = tools.filter((t) => `${t.id} ${t.description} ${t.tags.join(" ")}`.toLowerCase().includes(query.toLowerCase()));
  return (
    <div className="builder">
      <aside className="sidebar">
        <label htmlFor="catalogue-search">Catalogue</label>
        <input id="catalogue-search" type="search" placeholder="search tools" value={query} onChange={(e) => setQuery(e.target.value)} />
        <ul className="catalogue">
          {shownTools.map((t) => (
            <li key={t.id} className="tool-card" draggable data-tool={t.id} onDragStart={(e) => { e.dataTransfer.setData("application/armorer-tool", t.id); e.dataTransfer.effectAllowed = "move"; }}>
              <strong>{t.name}</strong> <Flags tool={t} />
              <div className="muted small">{(t.description || "").split("\n")[0]}</div>
              <button className="link small" onClick={() => addTool(t)} aria-label={`add ${t.name}`}>add</button>
            </li>
          ))}
        </ul>
      </aside>
      <main className="canvas-wrap">
        <div className="toolbar">
          <label htmlFor="wf-name">Name</label>
          <input id="wf-name" value={name} onChange={(e) => setName(e.target.value)} />
          <button onClick={() => { const { placed } = layout(nodes.map((n) => ({ id: n.id, width: BOX_W })), edges.map((e) => ({ ...e, label: null })));
            setNodes((cur) => cur.map((n) => ({ ...n, position: { x: placed[n.id].x, y: placed[n.id].y } })));
            setTimeout(() => flow.fitView({ padding: 0.2, maxZoom: 1 }), 0); }}>Tidy</button>
          <button onClick={validate}>Validate</button>
          <button onClick={save}>Save JSON</button>
          <button onClick={load}>Load JSON</button>
          <button className="primary" onClick={async () => { if (await validate()) addToWorkflows(); }}>Add to workflows</button>
        </div>
        {notice ? <div className={notice.ok ? "note" : "error"} role="status" id="builder-notice">{notice.text}</div> : null}
        <div className="canvas" onDrop={onDrop} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }}>
          <ReactFlow nodes={nodes} edges={shownEdges} nodeTypes={nodeTypes} onNodesChange={onNodesChange} onEdgesChange={onEdgesChange}
            onConnect={onConnect} isValidConnection={isValidConnection} onNodeClick={(e, n) => setPicked({ kind: "node", id: n.id })}
            onEdgeClick={(e, ed) => setPicked({ kind: "edge", id: ed.id })} onPaneClick={() => setPicked(null)} deleteKeyCode={["Delete", "Backspace"]}
            proOptions={{ hideAttribution: true }} fitView fitViewOptions={{ padding: 0.2, maxZoom: 1 }} maxZoom={1.5}>
            <Background gap={24} />
            <Controls />
          </ReactFlow>
        </div>
        <details className="saved" open={Boolean(saved)}>
          <summary>Workflow JSON (paste one here and press Load)</summary>
          <textarea aria-label="workflow json" rows={10} value={saved} onChange={(e) => setSaved(e.target.value)} />
          {downloadUrl ? <a href={downloadUrl} download={`${name}.json`}>download {name}.json</a> : null}
        </details>
      </main>
      {node ? (
        <aside className="panel" aria-label="node settings">
          <div className="panel-head"><h2>{node.id}</h2><button className="link" onClick={() => setPicked(null)} aria-label="close settings">✕</button></div>
          <div className="muted">{node.data.tool}</div>
          <div className="field"><label htmlFor="node-name">name</label>
            <input id="node-name" defaultValue={node.id} key={node.id} onBlur={(e) => rename(node.id, e.target.value.trim())} /></div>
          <div className="field"><label htmlFor="map-over">map_over (fan out over a list parameter)</label>
            <select id="map-over" value={node.data.map_over || ""} onChange={(e) => updateNode(node.id, { map_over: e.target.value || null })}>
              <option value="">— none —</option>{params(node.data).map((p) => <option key={p} value={p}>{p}</option>)}
            </select></div>
          <div className="field"><label htmlFor="retry">retry (attempts)</label>
            <input id="retry" type="number" min="1" value={node.data.retry} onChange={(e) => updateNode(node.id, { retry: Math.max(1, parseInt(e.target.value || "1", 10)) })} /></div>
          <div className="field"><label htmlFor="timeout">timeout_s</label>
            <input id="timeout" type="number" min="0" step="any" value={node.data.timeout_s || ""} onChange={(e) => updateNode(node.id, { timeout_s: e.target.value ? Number(e.target.value) : null })} /></div>
          <div className="field"><label htmlFor="trigger">trigger</label>
            <select id="trigger" value={node.data.trigger} onChange={(e) => updateNode(node.id, { trigger: e.target.value })}><option value="all">all</option><option value="any">any</option></select></div>
          <h3>Inputs</h3>
          <p className="muted small">Leave all on "merged" to merge upstream outputs; mapping any parameter replaces the merge.</p>
          {params(node.data).map((p) => (
            <div className="field" key={p}><label htmlFor={`map-${p}`}>{p} <span className="muted">({typeOf(node.data.schema.properties[p]) || "any"})</span></label>
              <select id={`map-${p}`} value={(node.data.inputs || {})[p] || ""} onChange={(e) => {
                const next = { ...(node.data.inputs || {}) };
                if (e.target.value) next[p] = e.target.value; else delete next[p];
                updateNode(node.id, { inputs: next });
              }}>
                <option value="">merged</option>
                {upstream.flatMap((u) => [...new Set([u.name, ...(outputs(u) || []).map((k) => `${u.name}.${k}`), `${u.name}.${p}`])]).map((s) => <option key={s} value={s}>{s}</option>)}
                <option value={`$inputs.${p}`}>$inputs.{p}</option>
              </select></div>
          ))}
        </aside>
      ) : null}
      {edge ? (
        <aside className="panel" aria-label="edge settings">
          <div className="panel-head"><h2>{edge.source} → {edge.target}</h2><button className="link" onClick={() => setPicked(null)} aria-label="close settings">✕</button></div>
          <h3>when</h3>
          <div className="field"><label htmlFor="when-op">condition</label>
            <select id="when-op" value={edge.data && edge.data.when ? edge.data.when.op : ""} onChange={(e) => setEdges((cur) => cur.map((x) => (x.id === edge.id ? { ...x, data: { ...x.data, when: e.target.value ? { path: "", ...(x.data.when || {}), op: e.target.value } : null } } : x)))}>
              <option value="">always</option>{OPS.map((op) => <option key={op} value={op}>{op}</option>)}
            </select></div>
          {edge.data && edge.data.when ? (
            <>
              <div className="field"><label htmlFor="when-path">path into {edge.source}'s output ("" = all of it)</label>
                <input id="when-path" value={edge.data.when.path || ""} onChange={(e) => setEdges((cur) => cur.map((x) => (x.id === edge.id ? { ...x, data: { ...x.data, when: { ...x.data.when, path: e.target.value } } } : x)))} /></div>
              {!["truthy", "falsy", "exists"].includes(edge.data.when.op) ? (
                <div className="field"><label htmlFor="when-value">value (JSON)</label>
                  <input id="when-value" defaultValue={JSON.stringify(edge.data.when.value ?? null)} onBlur={(e) => {
                    let value;
                    try { value = JSON.parse(e.target.value); } catch (err) { setNotice({ ok: false, text: "the condition's value must be JSON" }); return; }
                    setEdges((cur) => cur.map((x) => (x.id === edge.id ? { ...x, data: { ...x.data, when: { ...x.data.when, value } } } : x)));
                  }} /></div>
              ) : null}
            </>
          ) : null}
          <p className={shownEdges.find((x) => x.id === edge.id).data.check.ok ? "note" : "error"}>{shownEdges.find((x) => x.id === edge.id).data.check.text}</p>
        </aside>
      ) : null}
    </div>
  );
}

export function Builder({ onAdded }) {
  const [tools, setTools] = useState([]);
  useEffect(() => { api("/api/tools").then(setTools); }, []);
  return <ReactFlowProvider><Canvas tools={tools} onAdded={onAdded} /></ReactFlowProvider>;
}
