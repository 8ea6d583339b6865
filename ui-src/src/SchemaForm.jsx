// A form built from a JSON Schema object: one field per property, by type; anything else as JSON text.
import { useState } from "react";

function kind(spec) {
  if (!spec) return "json";
  if (Array.isArray(spec.enum)) return "enum";
  const type = Array.isArray(spec.type) ? spec.type.find((t) => t !== "null") : spec.type;
  if (type === "string" || type === "integer" || type === "number" || type === "boolean") return type;
  if (spec.anyOf) {
    const inner = spec.anyOf.find((s) => s.type && s.type !== "null");
    if (inner && ["string", "integer", "number", "boolean"].includes(inner.type)) return inner.type;
  }
  return "json";
}

export function readForm(schema, raw) {
  // The form's text values as JSON arguments; problems by field name.
  const values = {};
  const problems = {};
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  for (const [name, spec] of Object.entries(props)) {
    const text = raw[name];
    const k = kind(spec);
    if (k === "boolean") {
      if (text !== undefined) values[name] = Boolean(text);
      continue;
    }
    if (text === undefined || text === "") {
      if (required.has(name)) problems[name] = "required";
      continue;
    }
    if (k === "integer" || k === "number") {
      const n = Number(text);
      if (Number.isNaN(n) || (k === "integer" && !Number.isInteger(n))) problems[name] = `must be ${k === "integer" ? "an integer" : "a number"}`;
      else values[name] = n;
    } else if (k === "json") {
      try {
        values[name] = JSON.parse(text);
      } catch (e) {
        problems[name] = "must be JSON";
      }
    } else {
      values[name] = text;
    }
  }
  return { values, problems };
}

export function SchemaForm({ schema, raw, setRaw, problems, idPrefix }) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const names = Object.keys(props);
  if (!names.length) return <p className="muted">No inputs.</p>;
  return (
    <div className="form">
      {names.map((name) => {
        const spec = props[name] || {};
        const k = kind(spec);
        const id = `${idPrefix}-${name}`;
        const set = (value) => setRaw({ ...raw, [name]: value });
        let field;
        if (k === "boolean") field = <input id={id} type="checkbox" checked={Boolean(raw[name])} onChange={(e) => set(e.target.checked)} />;
        else if (k === "enum") field = (
          <select id={id} value={raw[name] ?? ""} onChange={(e) => set(e.target.value)}>
            <option value="">—</option>
            {spec.enum.map((v) => <option key={String(v)} value={String(v)}>{String(v)}</option>)}
          </select>
        );
        else if (k === "json") field = <textarea id={id} rows={2} placeholder={spec.type ? `${spec.type} as JSON` : "JSON"} value={raw[name] ?? ""} onChange={(e) => set(e.target.value)} />;
        else field = <input id={id} type={k === "string" ? "text" : "number"} value={raw[name] ?? ""} onChange={(e) => set(e.target.value)} />;
        return (
          <div className="field" key={name}>
            <label htmlFor={id}>{name}{required.has(name) ? " *" : ""}{spec.type ? <span className="muted"> ({Array.isArray(spec.type) ? spec.type.join("|") : spec.type})</span> : null}</label>
            {field}
            {spec.description ? <div className="muted small">{spec.description}</div> : null}
            {problems && problems[name] ? <div className="problem">{name}: {problems[name]}</div> : null}
          </div>
        );
      })}
    </div>
  );
}

export function useForm() {
  const [raw, setRaw] = useState({});
  const [problems, setProblems] = useState({});
  return { raw, setRaw, problems, setProblems };
}
