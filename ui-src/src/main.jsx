// The page: three tabs (Run & watch, Builder, Playground) over one live event stream, with its connection shown.
import { createRoot } from "react-dom/client";
import { useEffect, useMemo, useState } from "react";
import "@xyflow/react/dist/style.css";
import "./styles.css";
import { RunView } from "./RunView.jsx";
import { Builder } from "./Builder.jsx";
import { Playground } from "./Playground.jsx";

// One EventSource for the page; views subscribe to its items. The browser reconnects by itself after a loss;
// each (re)connection starts with "hello", on which views re-read the state they show.
function useFeed() {
  const [connected, setConnected] = useState(null);
  const [dropped, setDropped] = useState(0);
  const feed = useMemo(() => {
    const listeners = new Set();
    return { listeners, subscribe: (fn) => { listeners.add(fn); return () => listeners.delete(fn); } };
  }, []);
  useEffect(() => {
    const source = new EventSource("/api/events");
    const emit = (item) => feed.listeners.forEach((fn) => fn(item));
    source.addEventListener("hello", () => { setConnected(true); emit({ type: "hello" }); });
    source.addEventListener("run", (message) => emit(JSON.parse(message.data)));
    source.addEventListener("dropped", (message) => { setDropped((n) => n + JSON.parse(message.data).count); emit({ type: "hello" }); });
    source.onerror = () => setConnected(false);
    return () => source.close();
  }, [feed]);
  return { feed, connected, dropped };
}

function App() {
  const initial = decodeURIComponent((window.location.pathname.match(/^\/workflows\/([^/]+)$/) || [])[1] || "") || null;
  const [tab, setTab] = useState("run");
  const [chosen, setChosen] = useState(initial);
  const [generation, setGeneration] = useState(0);
  const { feed, connected, dropped } = useFeed();
  return (
    <div className="app">
      <header>
        <strong className="brand">armorer-ray</strong>
        <nav role="tablist">
          {[["run", "Run & watch"], ["build", "Builder"], ["play", "Playground"]].map(([key, text]) => (
            <button key={key} role="tab" aria-selected={tab === key} className={tab === key ? "tab active" : "tab"} onClick={() => setTab(key)}>{text}</button>
          ))}
        </nav>
        <span className={`conn ${connected === false ? "lost" : connected ? "ok" : ""}`} role="status" id="connection">
          {connected === false ? "⚠ connection lost — reconnecting…" : connected ? "● live" : "connecting…"}
        </span>
        {dropped ? <span className="muted small">{dropped} events dropped (state re-read)</span> : null}
      </header>
      {connected === false ? <div className="banner" role="alert">Connection to the server lost: what you see may be out of date. Reconnecting…</div> : null}
      <div hidden={tab !== "run"} className="tabpane"><RunView key={`${chosen}-${generation}`} feed={feed} connected={connected} initial={chosen} /></div>
      <div hidden={tab !== "build"} className="tabpane"><Builder onAdded={(name) => { setChosen(name); setGeneration((g) => g + 1); setTab("run"); }} /></div>
      <div hidden={tab !== "play"} className="tabpane"><Playground /></div>
    </div>
  );
}

createRoot(document.getElementById("root")).render(<App />);
