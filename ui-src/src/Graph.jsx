// The workflow drawn with React Flow: boxes placed and edges routed by dagre (layout.js), pan and zoom built in.
import { useEffect, useMemo } from "react";
import { ReactFlow, Background, Controls, Handle, Position, MarkerType, EdgeLabelRenderer, useNodesInitialized, useReactFlow } from "@xyflow/react";
import { layout, nodeWidth, roundedPath } from "./layout.js";

export const STATUS = {
  queued: { icon: "…", text: "queued" },
  started: { icon: "▶", text: "running" },
  retrying: { icon: "↻", text: "retrying" },
  succeeded: { icon: "✓", text: "succeeded" },
  failed: { icon: "✗", text: "failed" },
  skipped: { icon: "⤼", text: "skipped" },
  cancelled: { icon: "■", text: "cancelled" },
  paused: { icon: "‖", text: "paused" },
};

export function badgeText(entry) {
  if (!entry || !entry.status) return "not run";
  const known = STATUS[entry.status];
  if (!known) return "unknown";
  if (entry.status === "retrying" && entry.attempt) return `${known.icon} retrying (attempt ${entry.attempt} failed)`;
  if (entry.status === "paused" && entry.pause) return `${known.icon} ${entry.pause.kind === "breakpoint" ? "at breakpoint" : `waits for ${entry.pause.kind}`}`;
  return `${known.icon} ${known.text}`;
}

function StepNode({ data }) {
  const status = data.entry && STATUS[data.entry.status] ? data.entry.status : "none";
  return (
    <div className={`step st-${status}${data.spliced ? " spliced" : ""}${data.selected ? " chosen" : ""}`} data-node={data.id} data-status={status} title={data.id}>
      <Handle type="target" position={Position.Top} isConnectable={false} />
      <div className="step-name">{data.breakpoint ? <span className="bp" title="breakpoint">●</span> : null}{data.id}</div>
      <div className="step-tool">{data.spliced ? "spliced at run time" : data.tool}{data.map_over ? ` · for each ${data.map_over}` : ""}</div>
      <div className="step-badge">{badgeText(data.entry)}</div>
      <Handle type="source" position={Position.Bottom} isConnectable={false} />
    </div>
  );
}

function RoutedEdge({ id, data, markerEnd }) {
  const route = data.route;
  if (!route) return null;
  const cls = `react-flow__edge-path routed${data.conditional ? " conditional" : ""}${data.spliced ? " spliced" : ""}`;
  return (
    <>
      <path id={id} className={cls} d={roundedPath(route.points)} markerEnd={markerEnd} data-from={data.source} data-to={data.target} fill="none" />
      {route.label ? (
        <EdgeLabelRenderer>
          <div className="edge-label" data-edge={id} style={{ transform: `translate(-50%, -50%) translate(${route.label.x}px, ${route.label.y}px)`, width: route.label.width, height: route.label.height }}>
            {data.label}
          </div>
        </EdgeLabelRenderer>
      ) : null}
    </>
  );
}

const nodeTypes = { step: StepNode };

// Fits the graph into view once its boxes are in place, and again whenever its shape changes (a splice).
function AutoFit({ signature }) {
  const { fitView } = useReactFlow();
  const ready = useNodesInitialized();
  useEffect(() => {
    if (ready) fitView({ padding: 0.15, maxZoom: 1 });
  }, [ready, signature]);
  return null;
}
const edgeTypes = { routed: RoutedEdge };

// Nodes of the structure, plus nodes spliced in at run time (named "<parent>/<child>"), each hung under its parent.
export function withSpliced(graph, runNodes) {
  const known = new Set(graph.nodes.map((n) => n.id));
  const nodes = [...graph.nodes];
  const edges = graph.edges.map((e, i) => ({ ...e, id: `e${i}` }));
  const extra = Object.keys(runNodes || {}).filter((name) => !known.has(name)).sort();
  for (const name of extra) {
    const parent = name.slice(0, name.lastIndexOf("/"));
    nodes.push({ id: name, tool: "", spliced: true });
    known.add(name);
    if (parent && known.has(parent)) edges.push({ id: `s:${name}`, source: parent, target: name, label: null, conditional: false, spliced: true });
  }
  return { nodes, edges };
}

export function Graph({ graph, runNodes, breakpoints, selected, onSelect }) {
  const shape = useMemo(() => withSpliced(graph, runNodes), [graph, Object.keys(runNodes || {}).sort().join("\n")]);
  const placedKey = shape.nodes.map((n) => n.id).join("|") + "#" + shape.edges.map((e) => e.id).join("|");
  const placed = useMemo(() => {
    const sized = shape.nodes.map((n) => ({ ...n, width: nodeWidth([n.id + "  ", n.tool || "spliced at run time", n.map_over ? `${n.tool} · for each ${n.map_over}` : "", "‖ waits for approval"]) }));
    return { sized, ...layout(sized, shape.edges) };
  }, [placedKey]);
  const nodes = placed.sized.map((n) => ({
    id: n.id,
    type: "step",
    position: { x: placed.placed[n.id].x, y: placed.placed[n.id].y },
    // Sizes and handles given up front: edges render without waiting for React Flow to measure the boxes
    // (measurement raced with the first render and could leave a graph with no edges).
    width: placed.placed[n.id].width,
    height: placed.placed[n.id].height,
    handles: [
      { type: "target", position: Position.Top, x: placed.placed[n.id].width / 2, y: 0, width: 1, height: 1 },
      { type: "source", position: Position.Bottom, x: placed.placed[n.id].width / 2, y: placed.placed[n.id].height, width: 1, height: 1 },
    ],
    style: { width: placed.placed[n.id].width, height: placed.placed[n.id].height },
    draggable: false,
    connectable: false,
    data: { ...n, entry: runNodes ? runNodes[n.id] : null, breakpoint: breakpoints && breakpoints.has(n.id), selected: selected === n.id },
  }));
  const edges = shape.edges.map((e) => ({
    id: e.id,
    source: e.source,
    target: e.target,
    type: "routed",
    markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
    data: { ...e, route: placed.routes[e.id] },
  }));
  return (
    <ReactFlow key={placedKey} nodes={nodes} edges={edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes} fitView fitViewOptions={{ padding: 0.15, maxZoom: 1 }}
      minZoom={0.05} maxZoom={2.5} nodesDraggable={false} nodesConnectable={false} elementsSelectable
      onNodeClick={(event, node) => onSelect(node.id)} onPaneClick={() => onSelect(null)} proOptions={{ hideAttribution: true }}>
      <Background gap={24} />
      <Controls showInteractive={false} />
      <AutoFit signature={placedKey} />
    </ReactFlow>
  );
}

export function Legend() {
  return (
    <div className="legend" aria-label="legend">
      {Object.entries(STATUS).map(([key, s]) => (
        <span key={key} className={`legend-item st-${key}`}><span className="swatch" />{s.icon} {s.text}</span>
      ))}
      <span className="legend-item"><svg width="34" height="8"><line x1="0" y1="4" x2="34" y2="4" className="legend-line conditional" /></svg> conditional edge</span>
      <span className="legend-item"><span className="bp">●</span> breakpoint</span>
      <span className="legend-item st-none spliced-sample"><span className="swatch" /> spliced at run time</span>
    </div>
  );
}
