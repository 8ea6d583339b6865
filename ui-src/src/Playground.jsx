// Call one tool from a form built from its schema; see its ToolResult and the events the call made.
import { useEffect, useState } from "react";
import { api } from "./api.js";
import { SchemaForm, readForm, useForm } from "./SchemaForm.jsx";

export function Flags({ tool }) {
  return (
    <span className="flags">
      {tool.read_only ? <span className="flag read-only">read-only</span> : null}
      {tool.mutates ? <span className="flag mutates">mutates</span> : null}
      {tool.dangerous ? <span className="flag dangerous">dangerous</span> : null}
    </span>
  );
}

export function Playground() {
  const [tools, setTools] = useState([]);
  const [query, setQuery] = useState("");
  const [chosen, setChosen] = useState(null);
  const [confirmed, setConfirmed] = useState(false);
  const [outcome, setOutcome] = useState(null);
  const [error, setError] = useState(null);
  const form = useForm();
  useEffect(() => { api("/api/tools").then(setTools); }, []);
  const tool = tools.find((t) => t.id === chosen) || null;
  const shown = tools.filter((t) => `${t.id} ${t.description} ${t.tags.join(" ")}`.toLowerCase().includes(query.toLowerCase()));
  const pick = (id) => { setChosen(id); setConfirmed(false); setOutcome(null); setError(null); form.setRaw({}); form.setProblems({}); };
  const call = async () => {
    setError(null);
    setOutcome(null);
    const { values, problems } = readForm(tool.schema, form.raw);
    form.setProblems(problems);
    if (Object.keys(problems).length) return;
    try {
      setOutcome(await api("/api/tools/call", { tool: tool.id, arguments: values, confirm: confirmed }));
    } catch (e) {
      setError(e.body.needs_confirmation ? `${e.message}.` : e.message);
    }
  };
  return (
    <div className="playground">
      <aside className="sidebar">
        <label htmlFor="tool-search">Tools</label>
        <input id="tool-search" type="search" placeholder="search tools" value={query} onChange={(e) => setQuery(e.target.value)} />
        <ul className="catalogue">
          {shown.map((t) => (
            <li key={t.id}><button className={`tool-item${t.id === chosen ? " chosen" : ""}`} data-tool={t.id} onClick={() => pick(t.id)}>
              <strong>{t.name}</strong> <Flags tool={t} /><div className="muted small">{(t.description || "").split("\n")[0]}</div>
            </button></li>
          ))}
        </ul>
      </aside>
      <main className="play-main">
        {!tool ? <p className="muted">Pick a tool to call it.</p> : (
          <section aria-label="call form">
            <h2>{tool.id} <Flags tool={tool} /></h2>
            <p>{tool.description}</p>
            <SchemaForm schema={tool.schema} raw={form.raw} setRaw={form.setRaw} problems={form.problems} idPrefix="arg" />
            {tool.dangerous ? (
              <label className="check confirm"><input type="checkbox" checked={confirmed} onChange={(e) => setConfirmed(e.target.checked)} /> I understand {tool.name} is flagged dangerous: run it anyway</label>
            ) : null}
            <div className="buttons"><button className="primary" onClick={call}>Call {tool.name}</button></div>
            {error ? <div className="error" role="alert">{error}</div> : null}
            {outcome ? (
              <div className="outcome">
                <h3>ToolResult: <span className={`badge outcome-${outcome.result.outcome}`} data-outcome={outcome.result.outcome}>{outcome.result.outcome}</span></h3>
                <pre className="json" aria-label="tool result">{JSON.stringify(outcome.result, null, 2)}</pre>
                <h3>Events ({outcome.events.length})</h3>
                <ol className="events" aria-label="events">
                  {outcome.events.map((e, i) => <li key={i}><code>{e.type}</code></li>)}
                </ol>
              </div>
            ) : null}
          </section>
        )}
      </main>
    </div>
  );
}
